//! The conformance suite instantiated for the optimized backend: forward checks at the
//! explained level (C2, `F32_EXPLAINED`), training checks at the bounded level (C3).

hsnn_conformance::conformance_suite!(
    hsnn_optimized::OptimizedBackend,
    hsnn_conformance::levels::F32_EXPLAINED
);

hsnn_conformance::trainer_suite!(
    hsnn_optimized::OptimizedBackend,
    hsnn_conformance::levels::F32_GRADIENTS
);
