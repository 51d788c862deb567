//! What each fuzz target of `fuzz/` runs on its bytes (SPEC.md E1: for any bytes, a value or a
//! typed error, never a panic, an abort, an overflow or a hang), so that the libFuzzer targets and
//! the corpus replay of `cargo test` run the same code.
//!
//! Every file format hsnn reads has a function here: it calls the loader a user's file goes
//! through, then what a loaded value goes on to (SPEC.md E1, E2): validation, a forward pass of
//! a loaded model on a tiny batch on both float backends, its conversion to fixed point (H9),
//! and a run of a fixed model on the modeled chip (H8). Checksums (E2) stop almost every
//! mutated file at the door, so the model targets also take the parsed value past its
//! checksum, to reach the validation and the arithmetic behind it.
//!
//! A forward pass runs only for small networks (every size at most [`SMALL`]): a valid large
//! model legitimately takes long (the discretization costs order^3, E1), which is work asked
//! for, not a defect a fuzzer should report as a hang.

use std::sync::Arc;

use hsnn_hardware::HardwareBackend;
use hsnn_optimized::OptimizedBackend;
use hsnn_reference::compiler::ReferenceConversion;
use hsnn_reference::ReferenceBackend;
use hsnn_spec::fixed::{ConversionOptions, FixedModel};
use hsnn_spec::{Backend, ForwardOptions, Model, NetworkConfig, SequenceBatch, TraceLevel};

/// The largest size (inputs, hidden units, memory dimensions, order, outputs) of a network
/// whose forward pass a target runs.
pub const SMALL: usize = 16;

/// Text of the bytes, as the loaders read it (model files may be gzipped).
fn text(data: &[u8]) -> Option<String> {
    hsnn_train::model_file::model_text_from_bytes(data.to_vec(), "fuzz input").ok()
}

fn is_small(config: &NetworkConfig) -> bool {
    let lmu = &config.lmu;
    [
        lmu.input_size,
        lmu.hidden_size,
        lmu.memory_size,
        lmu.order,
        config.output_size,
    ]
    .iter()
    .all(|&size| size <= SMALL)
}

/// One sequence of three steps, inputs of both signs and a zero.
fn tiny_batch(features: usize) -> Option<SequenceBatch> {
    let data = (0..3 * features)
        .map(|index| [0.5, -1.0, 0.0][index % 3])
        .collect();
    SequenceBatch::new(1, 3, features, data).ok()
}

/// A loaded model's next steps: validation, forward on both float backends at trace level
/// full, conversion to fixed point at the default options and a run of the converted model.
fn exercise_model(model: &Model) {
    if model.validate().is_err() || !is_small(&model.config) {
        return;
    }
    let Some(batch) = tiny_batch(model.config.lmu.input_size) else {
        return;
    };
    let full = ForwardOptions {
        trace: TraceLevel::Full,
    };
    let _ = ReferenceBackend.forward(model, &batch, &full);
    let _ = OptimizedBackend.forward(model, &batch, &full);
    if let Ok(fixed) = hsnn_reference::compiler::convert(model, &ConversionOptions::default()) {
        exercise_fixed_model(&fixed);
    }
}

/// A loaded fixed model's next step: a run on the modeled chip (H8).
fn exercise_fixed_model(fixed: &FixedModel) {
    if fixed.validate().is_err() || !is_small(&fixed.config) {
        return;
    }
    let Some(batch) = tiny_batch(fixed.config.lmu.input_size) else {
        return;
    };
    let chip = HardwareBackend::new(
        Arc::new(ReferenceConversion),
        ConversionOptions::default(),
        1,
    );
    let _ = chip.run_fixed(fixed, &batch, hsnn_spec::TraceLevel::Full);
}

/// IDX image files (D1), plain or gzipped.
pub fn idx_images(data: &[u8]) {
    let _ = hsnn_data::idx::parse_images(data, "fuzz input");
}

/// IDX label files (D1), plain or gzipped.
pub fn idx_labels(data: &[u8]) {
    let _ = hsnn_data::idx::parse_labels(data, "fuzz input");
}

/// Sequence files (D7): numpy `.npz` archives, stored or deflated.
pub fn sequence_file(data: &[u8]) {
    let options = hsnn_data::SequenceFileOptions {
        validation_size: Some(1),
        classes: 10,
        limit: None,
    };
    let _ = hsnn_data::sequences::parse_sequence_file(
        data,
        std::path::Path::new("fuzz input"),
        &options,
    );
}

/// Model files (E2), plain or gzipped, as `eval`, `energy` and `convert` read them; then the
/// model past its checksum.
pub fn model_file(data: &[u8]) {
    let Some(text) = text(data) else {
        return;
    };
    if let Ok(model) = Model::from_json(&text, "fuzz input") {
        exercise_model(&model);
    }
    if let Ok(mut model) = serde_json::from_str::<Model>(&text) {
        model.content_sha256 = None;
        exercise_model(&model);
    }
}

/// Fixed model files (H9), as `eval --backend hardware` reads them; then the model past its
/// checksum.
pub fn fixed_model(data: &[u8]) {
    let Some(text) = text(data) else {
        return;
    };
    if let Ok(fixed) = FixedModel::from_json(&text, "fuzz input") {
        exercise_fixed_model(&fixed);
    }
    if let Ok(mut fixed) = serde_json::from_str::<FixedModel>(&text) {
        fixed.content_sha256 = fixed.content_checksum();
        exercise_fixed_model(&fixed);
    }
}

/// Experiment files (T7).
pub fn experiment(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = hsnn_train::experiment::Experiment::from_json(text, "fuzz input");
    }
}

/// Checkpoints (T8); then the checkpoint's model past its checksum.
pub fn checkpoint(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(checkpoint) = hsnn_train::training_loop::Checkpoint::from_json(text, "fuzz input") {
        exercise_model(&checkpoint.model);
    }
}

/// Results files (`hsnn plot --results`), and the report and paper table drawn from them.
pub fn results(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(results) = hsnn_train::report::Results::from_json(text, "fuzz input") {
        let _ = hsnn_train::report::render_table(&results);
        let _ = hsnn_train::report::render_paper_comparison(&results);
    }
}

/// The float golden vectors (C4).
pub fn golden_vectors(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = hsnn_conformance::golden::parse(text);
    }
}

/// The fixed-point golden vectors (H12), and a run of each case's fixed model.
pub fn fixed_vectors(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(vectors) = hsnn_conformance::golden_fixed::parse(text) {
        for case in vectors.cases.iter().take(2) {
            exercise_fixed_model(&case.fixed_model);
        }
    }
}

/// Device files (H11), and a price of empty counters on each device.
pub fn devices(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(file) = hsnn_hardware::energy::DeviceFile::from_json(text, "fuzz input") {
        let counters = hsnn_hardware::counters::HardwareCounters {
            sequences: 1,
            ..Default::default()
        };
        for device in &file.devices {
            for network in [
                hsnn_hardware::energy::Network::Hybrid,
                hsnn_hardware::energy::Network::NonSpikingComparison,
            ] {
                let _ = hsnn_hardware::energy::price(
                    device,
                    &counters,
                    network,
                    &hsnn_hardware::energy::PricingOptions::default(),
                );
            }
        }
    }
}

/// What a fuzz target runs on its bytes.
pub type Target = fn(&[u8]);

/// Every target by name, for the corpus replay.
pub const TARGETS: [(&str, Target); 11] = [
    ("idx_images", idx_images),
    ("idx_labels", idx_labels),
    ("sequence_file", sequence_file),
    ("model_file", model_file),
    ("fixed_model", fixed_model),
    ("experiment", experiment),
    ("checkpoint", checkpoint),
    ("results", results),
    ("golden_vectors", golden_vectors),
    ("fixed_vectors", fixed_vectors),
    ("devices", devices),
];
