//! SPEC.md C2 at every dispatch level: the optimized backend's forward checks hold at the
//! explained level whatever level its kernels run at (each one this CPU has: portable, AVX2,
//! AVX-512), so that an AVX-512 machine proves the AVX2 and portable paths too. One test in
//! its own binary, because the level is a process-wide cap ([`hsnn_spec::isa::set_cap`]).

use hsnn_conformance::levels::F32_EXPLAINED;
use hsnn_conformance::matrix::{backend_checks, run_checks};
use hsnn_optimized::OptimizedBackend;
use hsnn_spec::isa::{set_cap, IsaLevel};

/// C2: every forward check of the suite at every level this CPU has; each kernel runs at or
/// below the cap, and the quantizer, tanh and elementwise loops run at it.
#[test]
fn c2_forward_checks_hold_at_every_dispatch_level() {
    let checks = backend_checks::<OptimizedBackend>();
    assert!(checks.len() > 20, "{} checks", checks.len());
    for level in IsaLevel::available() {
        set_cap(Some(level)).expect("a level this CPU has");
        assert_eq!(IsaLevel::current(), level);
        let kernels = hsnn_optimized::kernels::kernel_levels();
        let names: Vec<&str> = kernels.iter().map(|&(kernel, _)| kernel).collect();
        assert_eq!(
            names,
            [
                "packed_products",
                "quantizer",
                "tanh",
                "elementwise",
                "gemm_products"
            ],
            "every kernel is reported, once"
        );
        // gemm's level is its kernel family, whatever the cap: the family's name is the
        // level's.
        let level_of = |name: &str| {
            kernels
                .iter()
                .find(|&&(kernel, _)| kernel == name)
                .map(|&(_, at)| at)
        };
        // gemm's level is its kernel family, whatever the cap: the family's name is the
        // level's.
        let gemm = level_of("gemm_products");
        assert_eq!(
            gemm.map(IsaLevel::name),
            Some(hsnn_optimized::kernels::product_kernels())
        );
        for &(kernel, at) in &kernels {
            // gemm picks its own kernels and knows no cap.
            if kernel != "gemm_products" && kernel != "packed_products" {
                assert_eq!(at, level, "{kernel}");
            }
        }
        // Below AVX-512 the packed products are gemm's, at gemm's own level (on an AVX-512
        // machine that is still AVX-512: gemm knows no cap); the packed kernel itself runs
        // only at the AVX-512 level.
        if level < IsaLevel::Avx512 {
            assert_eq!(
                level_of("packed_products"),
                gemm,
                "the packed products at {level} are not gemm's"
            );
        }
        let failures: Vec<String> = run_checks(&OptimizedBackend, F32_EXPLAINED, &checks)
            .into_iter()
            .filter(|outcome| outcome.failure.is_some() && !outcome.is_not_applicable())
            .map(|outcome| format!("{}: {}", outcome.check, outcome.failure.unwrap_or_default()))
            .collect();
        assert!(failures.is_empty(), "at {level}: {failures:#?}");
    }
    set_cap(None).expect("no cap");
}
