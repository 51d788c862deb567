//! Model files as hsnn reads them (SPEC.md clause E2): plain or gzipped model files, fixed
//! model files beside them, with a cap on what a compressed file may unpack to. Every command
//! that takes `--model`, `start_model` and the report read models through here.

use std::io::Read;

use hsnn_spec::Model;

use crate::error::{TrainError, TrainResult};

/// Reads a model file, gzipped (`.json.gz`, as the shipped models are) or not (clause E2).
pub fn read_model_file(path: &std::path::Path) -> TrainResult<Model> {
    let text = read_model_text(path)?;
    Ok(Model::from_json(&text, &path.display().to_string())?)
}

/// The text of a model file (SPEC.md E2), plain or gzipped (recognised by its magic bytes, not
/// its name), unpacked to at most [`MAX_UNPACKED_MODEL_BYTES`].
pub fn read_model_text(path: &std::path::Path) -> TrainResult<String> {
    let bytes = std::fs::read(path).map_err(|source| hsnn_spec::HsnnError::Io {
        action: "cannot read model file".into(),
        path: path.display().to_string(),
        source,
    })?;
    model_text_from_bytes(bytes, &path.display().to_string())
}

/// What a model path holds: a model file (SPEC.md E2) or a fixed model file (H9).
#[derive(Debug, Clone)]
pub enum ModelFile {
    /// A model file, validated.
    Model(Box<Model>),
    /// A fixed model file, validated, made for one placement and dt.
    Fixed(Box<hsnn_spec::fixed::FixedModel>),
}

/// Reads a model file or a fixed model file, plain or gzipped, telling them apart by their
/// `format` (clauses E2, H9).
pub fn read_any_model(path: &std::path::Path) -> TrainResult<ModelFile> {
    let text = read_model_text(path)?;
    let origin = path.display().to_string();
    let is_fixed = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|value| {
            value
                .get("format")
                .and_then(|format| format.as_str())
                .map(str::to_string)
        })
        .is_some_and(|format| format == hsnn_spec::fixed::FIXED_MODEL_FORMAT);
    Ok(if is_fixed {
        ModelFile::Fixed(Box::new(hsnn_spec::fixed::FixedModel::from_json(
            &text, &origin,
        )?))
    } else {
        ModelFile::Model(Box::new(Model::from_json(&text, &origin)?))
    })
}

/// A model with a fixed model's configuration and provenance and zero weights: what the
/// evaluation and the reports read of a fixed model, whose integers the chip runs instead
/// (clause H9).
pub fn stand_in(fixed: &hsnn_spec::fixed::FixedModel) -> TrainResult<Model> {
    let mut stand_in = Model::new(
        fixed.config.clone(),
        hsnn_spec::Weights::zeros(&fixed.config),
    )?;
    stand_in.provenance = fixed.provenance.clone();
    Ok(stand_in)
}

/// The most bytes a gzipped model file may unpack to (SPEC.md E2, E3): 1 GiB, hundreds of times the paper
/// model's 3 MB, so a small file cannot make hsnn allocate without bound.
pub const MAX_UNPACKED_MODEL_BYTES: u64 = 1 << 30;

/// The text of a model file's bytes, gunzipped when they start with the gzip magic (at most
/// [`MAX_UNPACKED_MODEL_BYTES`]); `origin` names the file in messages.
pub fn model_text_from_bytes(bytes: Vec<u8>, origin: &str) -> TrainResult<String> {
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return String::from_utf8(bytes)
            .map_err(|_| TrainError::Usage(format!("{origin} is neither gzip nor UTF-8 text")));
    }
    let mut unpacked = Vec::new();
    flate2::read::GzDecoder::new(&bytes[..])
        .take(MAX_UNPACKED_MODEL_BYTES + 1)
        .read_to_end(&mut unpacked)
        .map_err(|error| TrainError::Usage(format!("{origin} does not unpack: {error}")))?;
    if unpacked.len() as u64 > MAX_UNPACKED_MODEL_BYTES {
        return Err(TrainError::Usage(format!(
            "{origin} unpacks to more than {MAX_UNPACKED_MODEL_BYTES} bytes, more than any model \
             file hsnn reads"
        )));
    }
    String::from_utf8(unpacked).map_err(|_| {
        TrainError::Usage(format!(
            "{origin} unpacks to something that is not UTF-8 text"
        ))
    })
}
