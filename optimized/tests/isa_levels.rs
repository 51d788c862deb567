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
        let gemm = kernels
            .iter()
            .find(|&&(kernel, _)| kernel == "gemm_products")
            .map(|&(_, at)| at.name());
        assert_eq!(gemm, Some(hsnn_optimized::kernels::product_kernels()));
        for &(kernel, at) in &kernels {
            // gemm picks its own kernels and knows no cap.
            if kernel != "gemm_products" && kernel != "packed_products" {
                assert_eq!(at, level, "{kernel}");
            }
        }
        let packed = kernels
            .iter()
            .find(|&&(kernel, _)| kernel == "packed_products")
            .map(|&(_, at)| at);
        assert!(
            level == IsaLevel::Avx512 || packed != Some(IsaLevel::Avx512),
            "the packed AVX-512 kernel ran at {level}"
        );
        let failures: Vec<String> = run_checks(&OptimizedBackend, F32_EXPLAINED, &checks)
            .into_iter()
            .filter(|outcome| outcome.failure.is_some() && !outcome.is_not_applicable())
            .map(|outcome| format!("{}: {}", outcome.check, outcome.failure.unwrap_or_default()))
            .collect();
        assert!(failures.is_empty(), "at {level}: {failures:#?}");
    }
    set_cap(None).expect("no cap");
}
