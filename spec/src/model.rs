//! Weights and model files: one description (config + weights, JSON via serde) that every
//! backend reads (SPEC.md clauses N4, E1, E2).

use serde::{Deserialize, Serialize};

use crate::config::NetworkConfig;
use crate::error::{HsnnError, Result};
use crate::tensor::Tensor2;

/// The `format` tag of a model file.
pub const MODEL_FORMAT: &str = "hsnn-model";
/// The model file format version this build writes for a model with training provenance
/// (SPEC.md clause E2). A model without provenance is written as version 1, which it exactly
/// fits, so readers of version 1 (ports, the golden vectors) keep reading it.
pub const MODEL_FORMAT_VERSION: u32 = 2;
/// The model file format version of an imported model, one that records the file it was read
/// from (SPEC.md clauses E2, K1).
pub const MODEL_FORMAT_VERSION_IMPORTED: u32 = 3;
/// The model file format version of a model trained on a sequence file, whose provenance
/// records the file (SPEC.md clauses E2, D7).
pub const MODEL_FORMAT_VERSION_SEQUENCE_FILE: u32 = 4;
/// The model file format versions this build reads (SPEC.md clause E2).
pub const MODEL_FORMAT_VERSIONS_READ: [u32; 4] = [1, 2, 3, 4];

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

/// Where the data a model was trained on came from (SPEC.md clause E2, version 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataSource {
    /// The MNIST subset embedded in hsnn-data (clause D5).
    Embedded,
    /// The four MNIST IDX files (clause D1).
    MnistFiles,
    /// A sequence file (clause D7; model file version 4, which records the file).
    SequenceFile,
}

/// The sequence file a model was trained on (SPEC.md clauses D7, E2 version 4): enough to
/// know the same file again, and how its splits were cut.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SequenceFileRecord {
    /// The file as it was given.
    pub path: String,
    /// Its SHA-256, lower-case hexadecimal.
    pub sha256: String,
    /// The split rule, in words.
    pub split_rule: String,
}

/// Which samples make which split of psMNIST, and where the pixel permutation comes from
/// (SPEC.md clauses D3, D4, D6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataRecipe {
    /// keras-lmu's psMNIST docs example: the training file in file order,
    /// `RandomState(seed).permutation(784)` (D3, D4).
    #[default]
    KerasLmuExample,
    /// The LMU paper's notebook through NRU's iterator: one `RandomState(seed)` stream shuffles
    /// the training file, then draws the pixel permutation (D6).
    Nru,
}

impl DataRecipe {
    /// True for the default, [`DataRecipe::KerasLmuExample`] (files omit it).
    pub fn is_default(&self) -> bool {
        *self == DataRecipe::default()
    }

    /// The name used in files and reports.
    pub fn name(&self) -> &'static str {
        match self {
            DataRecipe::KerasLmuExample => "keras_lmu_example",
            DataRecipe::Nru => "nru",
        }
    }
}

/// The data settings a model was trained with: what `eval` needs to rebuild the same splits
/// (SPEC.md clause E2, version 2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataProvenance {
    /// Embedded subset, MNIST files or a sequence file.
    pub source: DataSource,
    /// Seed of the pixel permutation (clause D4), or of the NRU recipe's stream (D6).
    pub permutation_seed: u32,
    /// The split recipe (D3, D6); omitted for the default, so files written before it
    /// existed keep their checksums.
    #[serde(default, skip_serializing_if = "DataRecipe::is_default")]
    pub recipe: DataRecipe,
    /// The validation size as configured (`null`: the source's default).
    pub validation_size: Option<usize>,
    /// The per-split limit as configured (`null`: none).
    pub limit: Option<usize>,
    /// Sequences in the training split as loaded.
    pub train_samples: usize,
    /// Sequences in the validation split as loaded.
    pub validation_samples: usize,
    /// Sequences in the test split as loaded.
    pub test_samples: usize,
    /// The sequence file, exactly when `source` is `sequence_file` (version 4; absent
    /// otherwise, so older files keep their checksums).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<SequenceFileRecord>,
}

/// How a model file was made (SPEC.md clause E2, version 2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    /// The program and command that wrote it, e.g. `hsnn-train 0.1.0 (hsnn reproduce)`.
    pub generator: String,
    /// The experiment's name.
    pub experiment: String,
    /// The training stage that produced it.
    pub stage: String,
    /// The epoch of that stage whose weights these are.
    pub epoch: usize,
    /// The backend that trained it (`reference`, `optimized`).
    pub backend: String,
    /// The data it was trained on.
    pub data: DataProvenance,
}

/// Where an imported model's weights came from (SPEC.md clauses E2 version 3, K1): the file,
/// its layout, and how closely the fixed matrices it stores agree with hsnn's own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportProvenance {
    /// The program and command that wrote it, e.g. `hsnn-train 0.1.0 (hsnn import keras)`.
    pub generator: String,
    /// The source file's name as it was given (a live Keras object: the file it was saved to).
    pub source_file: String,
    /// SHA-256 (lowercase hex) of the source file's bytes.
    pub source_sha256: String,
    /// The layout that was read (clause K1), e.g. `keras2_lmu_paper_hdf5`.
    pub layout: String,
    /// The Keras version the file records, when it records one.
    pub keras_version: Option<String>,
    /// The layers whose weights were read, in network order (recurrent layer, readout).
    pub layers: Vec<String>,
    /// For a file that stores the memory's fixed matrices (the paper's `AT`, `BT`): the
    /// largest absolute difference from hsnn's L2/L3 matrices rounded to binary32, and the
    /// tolerance it was checked against (clause K2); `None` where the file stores none.
    pub fixed_matrix_check: Option<FixedMatrixCheck>,
}

/// How a file's stored memory matrices compare with hsnn's (SPEC.md clause K2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixedMatrixCheck {
    /// Largest `|file - f32(hsnn)|` over the entries of `Abar - I` (the file's `AT`, transposed).
    pub a_bar_max_difference: f64,
    /// Largest `|file - f32(hsnn)|` over the entries of `Bbar`.
    pub b_bar_max_difference: f64,
    /// The bound both were checked against.
    pub tolerance: f64,
}

/// A model file: format tag and version, configuration and weights, and from version 2 its
/// provenance and a checksum of its contents (SPEC.md clause E2); version 3 records an
/// imported model's source instead (clause K1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Model {
    /// Always [`MODEL_FORMAT`].
    pub format: String,
    /// 1 without provenance, [`MODEL_FORMAT_VERSION`] with it, as written by this build.
    pub format_version: u32,
    /// The network.
    pub config: NetworkConfig,
    /// Its weights.
    pub weights: Weights,
    /// How it was made (version 2; absent in version 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
    /// Where an imported model came from (version 3; absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import: Option<ImportProvenance>,
    /// SHA-256 of the model's compact JSON without this field (version 2, written with the
    /// provenance): a file whose configuration, weights or provenance changed afterwards is
    /// refused on reading.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_sha256: Option<String>,
}

impl Model {
    /// A validated model of the current format version.
    pub fn new(config: NetworkConfig, weights: Weights) -> Result<Self> {
        let model = Model {
            format: MODEL_FORMAT.into(),
            format_version: 1,
            config,
            weights,
            provenance: None,
            import: None,
            content_sha256: None,
        };
        model.validate()?;
        Ok(model)
    }

    /// The same model with `provenance` attached: written as version 2, with the checksum of
    /// its contents computed when it is serialized.
    pub fn with_provenance(mut self, provenance: Provenance) -> Self {
        self.format_version = if provenance.data.file.is_some() {
            MODEL_FORMAT_VERSION_SEQUENCE_FILE
        } else {
            MODEL_FORMAT_VERSION
        };
        self.provenance = Some(provenance);
        self.import = None;
        self
    }

    /// The same model recording the file it was imported from (clause K1): written as
    /// version 3, sealed with the checksum of its contents like version 2.
    pub fn with_import(mut self, import: ImportProvenance) -> Self {
        self.import = Some(import);
        self.provenance = None;
        self.format_version = MODEL_FORMAT_VERSION_IMPORTED;
        self
    }

    /// SHA-256 (lowercase hex) of the model's compact JSON without `content_sha256`, the text
    /// clause E2's checksum is taken over.
    pub fn content_checksum(&self) -> String {
        let mut unsealed = self.clone();
        unsealed.content_sha256 = None;
        sha256_hex(
            serde_json::to_string(&unsealed)
                .unwrap_or_default()
                .as_bytes(),
        )
    }

    /// Checks the format tag and version, the configuration and the weight shapes.
    pub fn validate(&self) -> Result<()> {
        check_format_among(
            "model file",
            &self.format,
            self.format_version,
            MODEL_FORMAT,
            &MODEL_FORMAT_VERSIONS_READ,
        )?;
        if self.format_version == 1 && (self.provenance.is_some() || self.content_sha256.is_some())
        {
            return Err(HsnnError::Parse {
                what: "model file".into(),
                reason: "format_version 1 has no provenance or content_sha256 (they came with version 2)".into(),
            });
        }
        if let Some(provenance) = &self.provenance {
            let data = &provenance.data;
            if (data.source == DataSource::SequenceFile) != data.file.is_some() {
                return Err(HsnnError::Parse {
                    what: "model file".into(),
                    reason: "provenance.data names a file exactly when its source is \
                             sequence_file"
                        .into(),
                });
            }
            if data.file.is_some()
                && (data.permutation_seed != 0 || data.recipe != DataRecipe::default())
            {
                return Err(HsnnError::Parse {
                    what: "model file".into(),
                    reason: "a model trained on a sequence file has no permutation seed or \
                             recipe (provenance.data: permutation_seed 0, no recipe)"
                        .into(),
                });
            }
            if let Some(file) = &data.file {
                let hex = |c: char| c.is_ascii_digit() || ('a'..='f').contains(&c);
                if file.sha256.len() != 64 || !file.sha256.chars().all(hex) {
                    return Err(HsnnError::Parse {
                        what: "model file".into(),
                        reason: format!(
                            "provenance.data.file.sha256 {:?} is not 64 lower-case hexadecimal \
                             digits",
                            file.sha256
                        ),
                    });
                }
            }
            let records_file = data.file.is_some();
            if records_file != (self.format_version == MODEL_FORMAT_VERSION_SEQUENCE_FILE) {
                return Err(HsnnError::Parse {
                    what: "model file".into(),
                    reason: if records_file {
                        format!(
                            "format_version {} cannot record a sequence file \
                             (provenance.data.file); version {} does",
                            self.format_version, MODEL_FORMAT_VERSION_SEQUENCE_FILE
                        )
                    } else {
                        format!(
                            "format_version {} is a model trained on a sequence file, \
                             recorded in provenance.data.file, which is missing",
                            MODEL_FORMAT_VERSION_SEQUENCE_FILE
                        )
                    },
                });
            }
        } else if self.format_version == MODEL_FORMAT_VERSION_SEQUENCE_FILE {
            return Err(HsnnError::Parse {
                what: "model file".into(),
                reason: "format_version 4 is a model trained on a sequence file: it has a \
                         training provenance naming the file"
                    .into(),
            });
        }
        if self.format_version < MODEL_FORMAT_VERSION_IMPORTED && self.import.is_some() {
            return Err(HsnnError::Parse {
                what: "model file".into(),
                reason: format!(
                    "format_version {} has no import record (it came with version 3)",
                    self.format_version
                ),
            });
        }
        if self.format_version == MODEL_FORMAT_VERSION_IMPORTED
            && (self.import.is_none() || self.provenance.is_some())
        {
            return Err(HsnnError::Parse {
                what: "model file".into(),
                reason: "format_version 3 is an imported model: it has an import record and no \
                         training provenance"
                    .into(),
            });
        }
        self.config.validate()?;
        self.weights.validate(&self.config)
    }

    /// Checks the stored checksum, when there is one, against the contents: a mismatch means
    /// the file was changed after hsnn wrote it.
    fn verify_checksum(&self, origin: &str) -> Result<()> {
        match &self.content_sha256 {
            Some(stored) if *stored != self.content_checksum() => Err(HsnnError::Parse {
                what: format!("model file {origin}"),
                reason: format!(
                    "the contents do not match their content_sha256 {stored} (changed after hsnn \
                     wrote the file?); to use an edited model on purpose, delete the \
                     content_sha256 field"
                ),
            }),
            _ => Ok(()),
        }
    }

    /// Reads and validates a model from JSON text. `origin` names the source in error
    /// messages (a path, or `<stdin>`). The format tag and version are checked before the rest
    /// is parsed, so a file of another version says so instead of failing on a missing field.
    pub fn from_json(text: &str, origin: &str) -> Result<Self> {
        let model: Model = parse_versioned_among(
            text,
            &format!("model file {origin}"),
            MODEL_FORMAT,
            &MODEL_FORMAT_VERSIONS_READ,
        )?;
        model.validate()?;
        model.verify_checksum(origin)?;
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

    /// The model as pretty JSON; a model with provenance gets the checksum of its current
    /// contents.
    pub fn to_json(&self) -> String {
        let sealed = (self.provenance.is_some() || self.import.is_some()).then(|| {
            let mut sealed = self.clone();
            sealed.content_sha256 = Some(self.content_checksum());
            sealed
        });
        // Serializing plain structs of numbers and strings cannot fail; non-finite floats are
        // rejected by `validate` before a model exists.
        serde_json::to_string_pretty(sealed.as_ref().unwrap_or(self))
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

/// SHA-256 of `bytes` as lowercase hex (the checksums of clause E2).
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
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
    parse_versioned_among(text, what, expected_format, &[expected_version])
}

/// [`parse_versioned`] for a reader of several versions (`versions`, oldest first; a
/// mismatch names the newest).
pub fn parse_versioned_among<T: serde::de::DeserializeOwned>(
    text: &str,
    what: &str,
    expected_format: &str,
    versions: &[u32],
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
    check_format_among(what, format, version, expected_format, versions)?;
    serde_json::from_value(value).map_err(|error| HsnnError::Parse {
        what: what.into(),
        reason: error.to_string(),
    })
}

/// [`check_format`] for a reader of several versions (oldest first): a mismatch names the
/// newest as the one this build reads.
pub fn check_format_among(
    what: &str,
    found_format: &str,
    found_version: u32,
    expected_format: &str,
    versions: &[u32],
) -> Result<()> {
    let expected_version = if versions.contains(&found_version) {
        found_version
    } else {
        versions.last().copied().unwrap_or(0)
    };
    check_format(
        what,
        found_format,
        found_version,
        expected_format,
        expected_version,
    )
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

    /// E2: SHA-256 as published (FIPS 180-2 example "abc").
    #[test]
    fn e2_sha256_matches_the_published_example() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    fn small_model() -> Model {
        let mut config = NetworkConfig::psmnist();
        config.lmu.hidden_size = 3;
        config.lmu.order = 2;
        let mut weights = Weights::zeros(&config);
        weights.kernel_hidden.data[4] = 0.125;
        Model::new(config, weights).expect("model")
    }

    fn provenance() -> Provenance {
        Provenance {
            generator: "test".into(),
            experiment: "x".into(),
            stage: "s".into(),
            epoch: 2,
            backend: "reference".into(),
            data: DataProvenance {
                source: DataSource::Embedded,
                permutation_seed: 7,
                recipe: DataRecipe::Nru,
                validation_size: Some(24),
                limit: Some(30),
                train_samples: 30,
                validation_samples: 24,
                test_samples: 30,
                file: None,
            },
        }
    }

    /// E2 version 4, D7: a model trained on a sequence file is written as version 4 with the
    /// file's record and reads back; the record and the version go together, and the source
    /// names the file exactly when there is one.
    #[test]
    fn e2_a_model_trained_on_a_sequence_file_is_version_4() {
        let mut trained = provenance();
        trained.data.source = DataSource::SequenceFile;
        trained.data.recipe = DataRecipe::KerasLmuExample;
        trained.data.permutation_seed = 0;
        trained.data.file = Some(SequenceFileRecord {
            path: "sines.npz".into(),
            sha256: "ab".repeat(32),
            split_rule: "the last 24 of x_train".into(),
        });
        let text = small_model().with_provenance(trained.clone()).to_json();
        assert!(text.contains("\"format_version\": 4"), "{text}");
        assert!(text.contains("\"source\": \"sequence_file\""), "{text}");
        let read = Model::from_json(&text, "v4").expect("reads back");
        assert_eq!(read.provenance, Some(trained.clone()));
        // psMNIST's models stay version 2.
        assert!(small_model()
            .with_provenance(provenance())
            .to_json()
            .contains("\"format_version\": 2"));
        // The checksum is dropped in each edited text so that the structure is what refuses.
        let unsealed = |text: &str| {
            let mut value: serde_json::Value = serde_json::from_str(text).expect("json");
            value
                .as_object_mut()
                .expect("object")
                .remove("content_sha256");
            serde_json::to_string_pretty(&value).expect("json")
        };
        let as_version_2 =
            unsealed(&text).replacen("\"format_version\": 4", "\"format_version\": 2", 1);
        let error = Model::from_json(&as_version_2, "v2").expect_err("version 2 has no file");
        assert!(error.to_string().contains("version 4 does"), "{error}");
        let mut without_file = trained.clone();
        without_file.data.file = None;
        let mut model = small_model().with_provenance(provenance());
        model.provenance = Some(without_file);
        model.format_version = MODEL_FORMAT_VERSION_SEQUENCE_FILE;
        let error = model
            .validate()
            .expect_err("a sequence-file source without the file");
        assert!(error.to_string().contains("exactly when"), "{error}");
        let mut psmnist_at_4 = small_model().with_provenance(provenance());
        psmnist_at_4.format_version = MODEL_FORMAT_VERSION_SEQUENCE_FILE;
        let error = psmnist_at_4
            .validate()
            .expect_err("version 4 without a file");
        assert!(error.to_string().contains("which is missing"), "{error}");
        let mut seeded = trained.clone();
        seeded.data.permutation_seed = 7;
        let error = small_model()
            .with_provenance(seeded)
            .validate()
            .expect_err("a sequence file has no permutation");
        assert!(error.to_string().contains("no permutation seed"), "{error}");
        let mut short = trained.clone();
        if let Some(file) = &mut short.data.file {
            file.sha256 = "abc".into();
        }
        let error = small_model()
            .with_provenance(short)
            .validate()
            .expect_err("a SHA-256 of 3 digits");
        assert!(error.to_string().contains("64 lower-case"), "{error}");
        let mut bare_4 = small_model();
        bare_4.format_version = MODEL_FORMAT_VERSION_SEQUENCE_FILE;
        let error = bare_4.validate().expect_err("version 4 without provenance");
        assert!(error.to_string().contains("naming the file"), "{error}");
    }

    /// E2: a model without provenance is written as version 1 (readers of version 1 keep
    /// reading it); with provenance as version 2 with the checksum of its weights, which
    /// reads back to the same model; a version-1 file carrying provenance is refused.
    #[test]
    fn e2_provenance_makes_version_2_and_round_trips() {
        let plain = small_model();
        assert!(plain.to_json().contains("\"format_version\": 1"));
        assert!(!plain.to_json().contains("provenance"));
        let traced = plain.clone().with_provenance(provenance());
        let text = traced.to_json();
        assert!(text.contains("\"format_version\": 2"), "{text}");
        let read = Model::from_json(&text, "traced").expect("reads back");
        assert_eq!(read.provenance, Some(provenance()));
        assert_eq!(read.weights, plain.weights);
        let mut unsealed = read.clone();
        unsealed.content_sha256 = None;
        let compact = serde_json::to_string(&unsealed).expect("json");
        assert_eq!(read.content_sha256, Some(sha256_hex(compact.as_bytes())));

        let downgraded = text.replacen("\"format_version\": 2", "\"format_version\": 1", 1);
        let error = Model::from_json(&downgraded, "v1").expect_err("version 1 has no provenance");
        assert!(error.to_string().contains("version 2"), "{error}");
        // Version 3 is an imported model (K1): training provenance is not its record.
        let imported = text.replacen("\"format_version\": 2", "\"format_version\": 3", 1);
        let error = Model::from_json(&imported, "v3").expect_err("version 3 has no provenance");
        assert!(error.to_string().contains("imported model"), "{error}");
        let future = text.replacen("\"format_version\": 2", "\"format_version\": 5", 1);
        let error = Model::from_json(&future, "v5").expect_err("version 5");
        assert!(matches!(
            error,
            HsnnError::FormatVersion {
                found_version: 5,
                ..
            }
        ));
    }

    /// E2: a weight, or the configuration's dt, edited after hsnn wrote the file is refused,
    /// naming the checksum; deleting the checksum is the stated way to use an edited model on
    /// purpose.
    #[test]
    fn e2_edited_contents_are_refused_by_their_checksum() {
        let text = small_model().with_provenance(provenance()).to_json();
        assert!(text.contains("0.125"));
        let edited = text.replacen("0.125", "0.25", 1);
        let error = Model::from_json(&edited, "edited.json").expect_err("edited");
        let message = error.to_string();
        assert!(
            message.contains("content_sha256") && message.contains("edited.json"),
            "{message}"
        );
        let value: serde_json::Value = serde_json::from_str(&edited).expect("json");
        let mut object = value.as_object().expect("object").clone();
        object.remove("content_sha256");
        let unchecked = serde_json::Value::Object(object).to_string();
        let dt_edited = text.replacen("\"dt\": 1.0", "\"dt\": 2.0", 1);
        assert_ne!(dt_edited, text);
        let error = Model::from_json(&dt_edited, "dt.json").expect_err("config edited");
        assert!(error.to_string().contains("content_sha256"), "{error}");
        let read = Model::from_json(&unchecked, "unchecked").expect("no checksum, accepted");
        assert_eq!(read.weights.kernel_hidden.data[4], 0.25);
    }

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
