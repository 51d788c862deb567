//! SPEC.md H13 at every dispatch level: the fast engine's integers, counters and tallies are
//! the chip's whatever level its kernels run at (portable, AVX2, AVX-512: each one this CPU
//! has), so that an AVX-512 machine proves the AVX2 and portable paths too.

use hsnn_conformance::fixed_point::{options_with, random_model};
use hsnn_hardware::chip::Chip;
use hsnn_hardware::engine::EngineRun;
use hsnn_hardware::fast::kernel_levels;
use hsnn_hardware::{run_batch, run_batch_fast_at};
use hsnn_reference::compiler::convert;
use hsnn_spec::isa::IsaLevel;
use hsnn_spec::{Activation, QuantizerPlacement, TraceLevel};

/// H13: on random small models (the four placements, tanh and relu, every connection flag,
/// weight widths 4 to 16, memory widths 16 and 24), at trace levels full, tally and none,
/// the fast engine at every dispatch level this CPU has gives the chip's run, counters and
/// tallies.
#[test]
fn h13_fast_engine_equals_chip_at_every_dispatch_level() {
    let placements = QuantizerPlacement::ALL;
    let levels = IsaLevel::available();
    let mut compared = 0;
    for case in 0u64..24 {
        let activation = [Activation::Tanh, Activation::Relu][(case % 2) as usize];
        let placement = placements[(case / 2) as usize % placements.len()];
        let dt = [1.0, 2.0, 10.0][(case % 3) as usize];
        let model = random_model(
            case * 7 + 3,
            activation,
            placement,
            (case % 8) as u8,
            dt,
            1.0,
            0.7,
        );
        let batch = hsnn_conformance::network::small_batch(&model, case + 1000, 5, 12);
        let options = options_with(
            [4u32, 8, 12, 16][(case % 4) as usize],
            [16, 24][(case / 4 % 2) as usize],
        );
        let fixed = convert(&model, &options).expect("conversion of a small model");
        assert!(hsnn_hardware::fast::unsupported_reason(&fixed).is_none());
        let chip = Chip::new(fixed).expect("chip");
        for trace in [TraceLevel::Full, TraceLevel::Tally, TraceLevel::None] {
            let (on_chip, counters) =
                run_batch(&chip, &batch, trace == TraceLevel::Full, 1).expect("chip run");
            let expected = EngineRun::of_counts(&chip, on_chip, counters, trace);
            for &isa in &levels {
                let fast = run_batch_fast_at(&chip, &batch, trace, 2, isa).expect("fast run");
                assert_eq!(expected, fast, "case {case}, {trace:?}, at {isa}");
                compared += 1;
            }
        }
    }
    assert_eq!(compared, 24 * 3 * levels.len());
}

/// Each kernel's level never exceeds the cap, and the portable cap runs every kernel
/// portably; on an AVX2 machine the AVX2 cap runs every one of them at AVX2.
#[test]
fn h13_kernels_run_at_or_below_the_cap() {
    for isa in IsaLevel::available() {
        let kernels = kernel_levels(isa);
        assert_eq!(kernels.len(), 3);
        assert!(
            kernels.iter().all(|&(_, level)| level <= isa),
            "{kernels:?}"
        );
        if isa == IsaLevel::Portable {
            assert!(kernels
                .iter()
                .all(|&(_, level)| level == IsaLevel::Portable));
        }
        if isa == IsaLevel::Avx2 {
            assert!(
                kernels.iter().all(|&(_, level)| level == IsaLevel::Avx2),
                "{kernels:?}"
            );
        }
    }
}
