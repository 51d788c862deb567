//! Weights and model files: one description (config + weights, JSON via serde) that every
//! backend reads (SPEC.md clauses N4, E1, E2).

use serde::{Deserialize, Serialize};

use crate::config::NetworkConfig;
use crate::error::{HsnnError, Result};
use crate::tensor::Tensor2;

/// The `format` tag of a model file.
pub const MODEL_FORMAT: &str = "hsnn-model";
/// The model file format version this build writes and reads (SPEC.md clause E2).
pub const MODEL_FORMAT_VERSION: u32 = 1;

/// The trainable weights of the hybrid network, row-vector convention (SPEC.md clause N4):
/// every matrix maps a row vector of its rows' space to its columns' space. Optional tensors
/// exist exactly when the matching [`crate::RecurrentConnections`] flag is set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Weights {
    /// `e_x`: input to memory input, `input_size x memory_size`.
    pub encoder_input: Tensor2,
    /// `e_h`: hidden to memory input, `hidden_size x memory_size`.
    pub encoder_hidden: Option<Tensor2>,
    /// `e_m`: memory to memory input, `memory_length x memory_size`.
    pub encoder_memory: Option<Tensor2>,
    /// `W_x`: input to hidden, `input_size x hidden_size`.
    pub kernel_input: Option<Tensor2>,
    /// `W_h`: hidden to hidden, `hidden_size x hidden_size`.
    pub kernel_hidden: Tensor2,
    /// `W_m`: memory to hidden, `memory_length x hidden_size`.
    pub kernel_memory: Tensor2,
    /// `W_o`: last hidden state to logits, `hidden_size x output_size`.
    pub readout_kernel: Tensor2,
    /// `b_o`: readout bias, `1 x output_size`.
    pub readout_bias: Tensor2,
}

impl Weights {
    /// All-zero weights of the shapes `config` implies.
    pub fn zeros(config: &NetworkConfig) -> Self {
        let lmu = &config.lmu;
        let optional =
            |present: bool, rows: usize, cols: usize| present.then(|| Tensor2::zeros(rows, cols));
        Weights {
            encoder_input: Tensor2::zeros(lmu.input_size, lmu.memory_size),
            encoder_hidden: optional(
                lmu.connections.hidden_to_memory,
                lmu.hidden_size,
                lmu.memory_size,
            ),
            encoder_memory: optional(
                lmu.connections.memory_to_memory,
                lmu.memory_length(),
                lmu.memory_size,
            ),
            kernel_input: optional(
                lmu.connections.input_to_hidden,
                lmu.input_size,
                lmu.hidden_size,
            ),
            kernel_hidden: Tensor2::zeros(lmu.hidden_size, lmu.hidden_size),
            kernel_memory: Tensor2::zeros(lmu.memory_length(), lmu.hidden_size),
            readout_kernel: Tensor2::zeros(lmu.hidden_size, config.output_size),
            readout_bias: Tensor2::zeros(1, config.output_size),
        }
    }

    /// The tensors by name, in the order of [`NetworkConfig::weight_shapes`], absent ones
    /// omitted.
    pub fn named(&self) -> Vec<(&'static str, &Tensor2)> {
        let mut named = vec![("encoder_input", &self.encoder_input)];
        if let Some(tensor) = &self.encoder_hidden {
            named.push(("encoder_hidden", tensor));
        }
        if let Some(tensor) = &self.encoder_memory {
            named.push(("encoder_memory", tensor));
        }
        if let Some(tensor) = &self.kernel_input {
            named.push(("kernel_input", tensor));
        }
        named.push(("kernel_hidden", &self.kernel_hidden));
        named.push(("kernel_memory", &self.kernel_memory));
        named.push(("readout_kernel", &self.readout_kernel));
        named.push(("readout_bias", &self.readout_bias));
        named
    }

    /// Mutable access to the tensors by name, same order as [`Self::named`].
    pub fn named_mut(&mut self) -> Vec<(&'static str, &mut Tensor2)> {
        let mut named = vec![("encoder_input", &mut self.encoder_input)];
        if let Some(tensor) = &mut self.encoder_hidden {
            named.push(("encoder_hidden", tensor));
        }
        if let Some(tensor) = &mut self.encoder_memory {
            named.push(("encoder_memory", tensor));
        }
        if let Some(tensor) = &mut self.kernel_input {
            named.push(("kernel_input", tensor));
        }
        named.push(("kernel_hidden", &mut self.kernel_hidden));
        named.push(("kernel_memory", &mut self.kernel_memory));
        named.push(("readout_kernel", &mut self.readout_kernel));
        named.push(("readout_bias", &mut self.readout_bias));
        named
    }

    /// Checks that the tensors present, and their shapes, are those `config` implies, and that
    /// every value is finite (SPEC.md clause E1).
    pub fn validate(&self, config: &NetworkConfig) -> Result<()> {
        let expected = config.weight_shapes();
        let present = self.named();
        for (name, rows, cols) in &expected {
            match present
                .iter()
                .find(|(present_name, _)| present_name == name)
            {
                Some((_, tensor)) => {
                    if tensor.shape() != (*rows, *cols) {
                        return Err(HsnnError::shape(
                            format!("weights.{name}"),
                            (*rows, *cols),
                            tensor.shape(),
                        ));
                    }
                    tensor.validate(&format!("weights.{name}"))?;
                }
                None => {
                    return Err(HsnnError::ShapeMismatch {
                        name: format!("weights.{name}"),
                        expected: format!("{rows} x {cols} (the configuration enables it)"),
                        found: "no tensor".into(),
                    })
                }
            }
        }
        for (name, tensor) in &present {
            if !expected
                .iter()
                .any(|(expected_name, _, _)| expected_name == name)
            {
                return Err(HsnnError::ShapeMismatch {
                    name: format!("weights.{name}"),
                    expected: "no tensor (the configuration disables this connection)".into(),
                    found: format!("{} x {}", tensor.rows, tensor.cols),
                });
            }
        }
        Ok(())
    }
}

/// A model file: format tag and version, configuration and weights (SPEC.md clause E2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Model {
    /// Always [`MODEL_FORMAT`].
    pub format: String,
    /// Always [`MODEL_FORMAT_VERSION`] when written by this build.
    pub format_version: u32,
    /// The network.
    pub config: NetworkConfig,
    /// Its weights.
    pub weights: Weights,
}

impl Model {
    /// A validated model of the current format version.
    pub fn new(config: NetworkConfig, weights: Weights) -> Result<Self> {
        let model = Model {
            format: MODEL_FORMAT.into(),
            format_version: MODEL_FORMAT_VERSION,
            config,
            weights,
        };
        model.validate()?;
        Ok(model)
    }

    /// Checks the format tag and version, the configuration and the weight shapes.
    pub fn validate(&self) -> Result<()> {
        check_format(
            "model file",
            &self.format,
            self.format_version,
            MODEL_FORMAT,
            MODEL_FORMAT_VERSION,
        )?;
        self.config.validate()?;
        self.weights.validate(&self.config)
    }

    /// Reads and validates a model from JSON text. `origin` names the source in error
    /// messages (a path, or `<stdin>`). The format tag and version are checked before the rest
    /// is parsed, so a file of another version says so instead of failing on a missing field.
    pub fn from_json(text: &str, origin: &str) -> Result<Self> {
        let model: Model = parse_versioned(
            text,
            &format!("model file {origin}"),
            MODEL_FORMAT,
            MODEL_FORMAT_VERSION,
        )?;
        model.validate()?;
        Ok(model)
    }

    /// Reads and validates a model file from disk.
    pub fn load(path: &std::path::Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| HsnnError::Io {
            action: "cannot read model file".into(),
            path: path.display().to_string(),
            source,
        })?;
        Self::from_json(&text, &path.display().to_string())
    }

    /// The model as pretty JSON.
    pub fn to_json(&self) -> String {
        // Serializing plain structs of numbers and strings cannot fail; non-finite floats are
        // rejected by `validate` before a model exists.
        serde_json::to_string_pretty(self)
            .unwrap_or_else(|error| format!("{{\"error\":\"{error}\"}}"))
    }

    /// Writes the model atomically: to a temporary file beside `path`, then renamed over it, so
    /// a run killed while writing never leaves a truncated model (SPEC.md clause E2).
    pub fn save(&self, path: &std::path::Path) -> Result<()> {
        write_atomically(path, self.to_json().as_bytes())
    }
}

/// Writes `bytes` to `path` through a temporary sibling file (`<path>.<process id>.tmp`) and a
/// rename, so that readers see either the old file or the complete new one; the temporary file
/// is removed when anything fails, and a folder at `path` is refused before anything is written.
pub fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let io_error = |action: &str, source| HsnnError::Io {
        action: action.into(),
        path: path.display().to_string(),
        source,
    };
    if let Some(parent) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent)
            .map_err(|source| io_error("cannot create folder for", source))?;
    }
    if path.is_dir() {
        return Err(HsnnError::Io {
            action: "cannot write a file over the folder".into(),
            path: path.display().to_string(),
            source: std::io::Error::new(std::io::ErrorKind::IsADirectory, "is a folder"),
        });
    }
    // A per-process temporary name, so two processes writing the same file never share one,
    // removed again on every failure path.
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".{}.tmp", std::process::id()));
    let temporary = std::path::PathBuf::from(temporary);
    let written = std::fs::File::create(&temporary)
        .map_err(|source| io_error("cannot create", source))
        .and_then(|mut file| {
            file.write_all(bytes)
                .and_then(|()| file.sync_all())
                .map_err(|source| io_error("cannot write", source))
        })
        .and_then(|()| {
            std::fs::rename(&temporary, path).map_err(|source| io_error("cannot replace", source))
        });
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written
}

/// Parses a versioned JSON file (clause E2): the `format` tag and `format_version` are checked
/// before the rest, so a file of another kind or version says so instead of failing on its
/// schema. `what` names the file in messages.
pub fn parse_versioned<T: serde::de::DeserializeOwned>(
    text: &str,
    what: &str,
    expected_format: &str,
    expected_version: u32,
) -> Result<T> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|error| HsnnError::Parse {
            what: what.into(),
            reason: format!("not valid JSON ({error})"),
        })?;
    let format = value
        .get("format")
        .and_then(|format| format.as_str())
        .unwrap_or("<missing>");
    let version = value
        .get("format_version")
        .and_then(|version| version.as_u64())
        .and_then(|version| u32::try_from(version).ok())
        .unwrap_or(0);
    check_format(what, format, version, expected_format, expected_version)?;
    serde_json::from_value(value).map_err(|error| HsnnError::Parse {
        what: what.into(),
        reason: error.to_string(),
    })
}

/// Checks a file's format tag and version against what this build reads.
pub fn check_format(
    what: &str,
    found_format: &str,
    found_version: u32,
    expected_format: &str,
    expected_version: u32,
) -> Result<()> {
    if found_format == expected_format && found_version == expected_version {
        Ok(())
    } else {
        Err(HsnnError::FormatVersion {
            what: what.into(),
            found_format: found_format.into(),
            found_version,
            expected_format: expected_format.into(),
            expected_version,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// E2: an atomic write over a folder is refused up front and leaves no temporary file; a
    /// write into a missing folder creates it; nothing named `.tmp` is left behind.
    #[test]
    fn e2_atomic_writes_leave_nothing_behind() {
        let folder = std::env::temp_dir().join(format!("hsnn-atomic-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&folder);
        let target = folder.join("nested").join("file.json");
        write_atomically(&target, b"{}").expect("write into a new folder");
        assert_eq!(std::fs::read(&target).expect("written"), b"{}");
        let error = write_atomically(&folder, b"{}").expect_err("a folder");
        assert!(error.to_string().contains("folder"), "{error}");
        let leftovers: Vec<_> = std::fs::read_dir(&folder)
            .expect("folder")
            .chain(std::fs::read_dir(folder.join("nested")).expect("nested"))
            .flatten()
            .filter(|entry| entry.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        let _ = std::fs::remove_dir_all(&folder);
    }
}
