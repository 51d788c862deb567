//! # hsnn-conformance: one suite, every backend
//!
//! The tests of SPEC.md, written once against the [`hsnn_spec::Backend`] trait (as burn's
//! backend test suite is) and instantiated for each backend with [`conformance_suite!`]. Every
//! check is named after the clause it verifies (`q1_...`, `l2_...`, `n2_...`), and
//! SPEC.md names the checks back.
//!
//! - [`quantizer`]: clauses Q1-Q5
//! - [`lmu`]: clauses L1-L4
//! - [`network`]: clauses N1-N4, Q3
//! - [`errors`]: clauses E1, E2
//! - [`levels`]: the conformance levels of section C (exact, explained, bounded)
//! - [`golden`]: the golden vectors (clause C4): generation from the reference, checking
//! - [`matrix`]: the clause x backend x level matrix written to `docs/CONFORMANCE.md`
//! - [`fixed_point`]: the fixed-point checks of section H, written against a fixed runner
//! - [`shadow`]: the shadow network of H12 and its derived bound (C3 for fixed point)
//! - [`independent`]: a deliberately plain second implementation of the non-spiking LMU, used
//!   as an independent computation

pub mod activation;
pub mod errors;
pub mod fixed_point;
pub mod golden;
pub mod golden_fixed;
pub mod independent;
pub mod levels;
pub mod lmu;
pub mod matrix;
pub mod network;
pub mod quantizer;
pub mod shadow;
pub mod trainer;

static SHRINKING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Turns the shrinking of property checks' failures off (or back on) in this process. The
/// runner of ports (SPEC.md clause C6) turns it off: each shrink step calls the port again,
/// and a check that ends `not implemented` or `not supported` would shrink in vain and print
/// proptest's notice; its report keeps the first failing input instead of a minimal one.
pub fn set_shrinking(on: bool) {
    SHRINKING.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// A proptest runner with `cases` cases and a fixed seed, so that CI is reproducible: a
/// failure seen once is seen again. (Set `failure_persistence` off: no files are written.)
pub fn deterministic_runner(cases: u32) -> proptest::test_runner::TestRunner {
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    let default = Config::default();
    let max_shrink_iters = if SHRINKING.load(std::sync::atomic::Ordering::Relaxed) {
        default.max_shrink_iters
    } else {
        0
    };
    TestRunner::new_with_rng(
        Config {
            cases,
            failure_persistence: None,
            max_shrink_iters,
            ..default
        },
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    )
}

/// Calls `$callback!(@$arm $($arguments)*; <every backend check>)`: the one list of backend
/// checks, from which both the tests ([`conformance_suite!`]) and the conformance matrix
/// ([`matrix::backend_checks`]) are made, so the two cannot drift apart.
#[macro_export]
macro_rules! with_backend_checks {
    ($callback:ident, $arm:ident, $($arguments:tt)*) => {
        $crate::$callback! { @$arm $($arguments)*;
            quantizer::q1_state_stays_in_unit_interval,
            quantizer::q1_output_error_below_one_spike,
            quantizer::q1_cumulative_error_bounded_by_amplitude,
            quantizer::q1_one_bit_spikes_when_dt_times_max_rate_at_most_one,
            quantizer::q2_hand_derived_sequences,
            quantizer::q2_no_fused_multiply_add_in_the_integrator,
            quantizer::q2_tanh_is_faithfully_rounded,
            quantizer::q4_converges_to_rate_as_dt_grows,
            quantizer::q5_relu_never_spikes_negative,
            lmu::l1_continuous_matrices_match_hand_derivation,
            lmu::l2_zero_order_hold_matches_scipy_order_4,
            lmu::l2_zero_order_hold_matches_scipy_psmnist,
            lmu::l2_zero_order_hold_matches_scipy_fixtures,
            lmu::l2_zero_order_hold_is_stable,
            lmu::l3_euler_is_identity_plus_a,
            lmu::l3_euler_substeps_converge_to_zero_order_hold,
            lmu::l4_memory_reconstructs_delayed_input,
            network::n1_tiny_network_matches_hand_derivation,
            network::n1_tiny_spiking_network_matches_hand_derivation,
            network::n2_spiking_off_equals_plain_lmu,
            network::n2_large_dt_approaches_plain_lmu,
            network::n2_quantized_sites_record_consistent_counts,
            network::n3_trace_levels_record_what_they_promise,
            network::n3_the_tally_level_tallies_the_counts,
            network::n4_psmnist_has_102027_trainable_parameters,
            network::q3_initial_state_independent_of_batching,
            errors::e1_quantizer_rejects_bad_dt,
            errors::e1_quantizer_rejects_bad_initial_state,
            errors::e1_lmu_rejects_bad_order_and_theta,
            errors::e1_forward_rejects_mismatched_shapes,
            errors::e1_forward_rejects_invalid_config,
            errors::e2_model_file_version_and_corruption,
            golden::c4_golden_quantizer_cases,
            golden::c4_golden_legendre_cases,
            golden::c4_golden_network_cases
        }
    };
}

/// Calls `$callback!(@$arm $($arguments)*; <every training check>)`, as
/// [`with_backend_checks!`] does for the forward checks.
#[macro_export]
macro_rules! with_trainer_checks {
    ($callback:ident, $arm:ident, $($arguments:tt)*) => {
        $crate::$callback! { @$arm $($arguments)*;
            trainer::t1_uniform_logits_give_log_classes,
            trainer::t1_keras2_probability_loss_clips_and_differentiates,
            trainer::t2_surrogate_gradient_tends_to_rate_gradient,
            trainer::t2_surrogate_gradient_carries_the_amplitude,
            trainer::t2_spiking_gradients_match_differences_of_the_restated_network,
            trainer::t3_gradients_match_finite_differences,
            trainer::t8_batch_gradient_is_the_mean_over_its_sequences
        }
    };
}

/// Instantiates every conformance check as a `#[test]` for one backend.
///
/// ```ignore
/// hsnn_conformance::conformance_suite!(hsnn_reference::ReferenceBackend, hsnn_conformance::levels::Level::Exact);
/// ```
#[macro_export]
macro_rules! conformance_suite {
    ($backend:expr, $level:expr) => {
        $crate::with_backend_checks!(conformance_suite, tests, $backend, $level);
    };
    (@tests $backend:expr, $level:expr; $($module:ident :: $check:ident),* $(,)?) => {
        $(
            #[test]
            fn $check() {
                $crate::$module::$check(&$backend, $level);
            }
        )*
    };
    (@list $backend_type:ty; $($module:ident :: $check:ident),* $(,)?) => {
        vec![$(
            $crate::matrix::Check::<$backend_type> {
                name: stringify!($check),
                run: $crate::$module::$check,
            }
        ),*]
    };
}

/// Instantiates every training check as a `#[test]` for one trainer.
#[macro_export]
macro_rules! trainer_suite {
    ($trainer:expr, $level:expr) => {
        $crate::with_trainer_checks!(conformance_suite, tests, $trainer, $level);
    };
}
