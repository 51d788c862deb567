//! The conformance suite instantiated for the reference backend, at the exact level (C1).

hsnn_conformance::conformance_suite!(
    hsnn_reference::ReferenceBackend,
    hsnn_conformance::levels::Level::Exact
);

hsnn_conformance::trainer_suite!(
    hsnn_reference::ReferenceBackend,
    hsnn_conformance::levels::Level::Exact
);
