//! From the psMNIST splits of `hsnn-data` to backend batches (SPEC.md clauses D1-D5, N5).

use std::path::Path;

use hsnn_data::{psmnist::PixelOrder, LabelledSequences, LoadOptions, SplitRecipe, Splits};
use hsnn_spec::{
    DataProvenance, DataRecipe, DataSource, Model, NetworkConfig, SequenceBatch, SequenceFileRecord,
};

use crate::error::{TrainError, TrainResult};
use crate::experiment::{DataConfig, Experiment};

/// Where the data came from, for reports.
#[derive(Debug, Clone)]
pub struct LoadedData {
    /// The three splits.
    pub split: Splits,
    /// A one-line description, e.g. `embedded subset (2500/500/1000)`.
    pub description: String,
    /// The settings and sizes, as model files record them (SPEC.md clause E2).
    pub provenance: DataProvenance,
}

/// Loads the splits (SPEC.md D1-D7): from `source`, a folder of the four MNIST IDX files or a
/// sequence file (`.npz`, D7); else from the experiment's `data.file`; else the embedded
/// subset.
pub fn load(source: Option<&Path>, config: &DataConfig) -> TrainResult<LoadedData> {
    // `--data` replaces the experiment's file. A path that exists and is not a folder is a
    // sequence file; one that does not exist is refused here, naming it.
    let named_by_config = source.is_none() && config.file.is_some();
    let source = source.or(config.file.as_deref());
    if let Some(path) = source.filter(|path| !path.exists()) {
        return Err(TrainError::Usage(format!(
            "{}: no such file or folder (data are a folder of the four MNIST files, or a \
             sequence file .npz{})",
            path.display(),
            if named_by_config {
                "; this one is named by the experiment's data.file or by the model's record of \
                 its training data"
            } else {
                ""
            }
        )));
    }
    if let Some(file) = source.filter(|path| source_kind(Some(path)) == DataSource::SequenceFile) {
        return load_sequence_file(file, config);
    }
    let directory = source;
    let options = LoadOptions {
        validation_size: config.validation_size,
        pixel_order: PixelOrder::Permuted {
            seed: config.permutation_seed,
        },
        limit: config.limit,
        recipe: match config.recipe {
            DataRecipe::KerasLmuExample => SplitRecipe::KerasLmuExample,
            DataRecipe::Nru => SplitRecipe::Nru,
        },
    };
    let (split, source, kind) = match directory {
        Some(directory) => (
            hsnn_data::load_psmnist(directory, &options)?,
            format!("MNIST files in {}", directory.display()),
            DataSource::MnistFiles,
        ),
        None => (
            hsnn_data::load_embedded(&options).map_err(|error| match error {
                hsnn_data::DataError::ValidationTooLarge { .. } => TrainError::Usage(format!(
                    "{error}. The embedded subset holds 3,000 training images; for the full \
                     data run `bash data/fetch.sh` and pass --data data/full"
                )),
                other => other.into(),
            })?,
            "embedded MNIST subset".to_string(),
            DataSource::Embedded,
        ),
    };
    let description = format!(
        "{source}, {} recipe, permutation seed {}: {} train / {} validation / {} test",
        config.recipe.name(),
        config.permutation_seed,
        split.train.len(),
        split.validation.len(),
        split.test.len()
    );
    let provenance = DataProvenance {
        source: kind,
        permutation_seed: config.permutation_seed,
        recipe: config.recipe,
        validation_size: config.validation_size,
        limit: config.limit,
        train_samples: split.train.len(),
        validation_samples: split.validation.len(),
        test_samples: split.test.len(),
        file: None,
    };
    Ok(LoadedData {
        split: split.into(),
        description,
        provenance,
    })
}

/// Labels a sequence file may hold before the network is known: every one a split can keep.
/// [`check_network_fits`] then holds them to the network's outputs.
const ANY_LABEL: usize = u16::MAX as usize + 1;

/// A sequence file's splits (SPEC.md D7). psMNIST's settings have no meaning for it, so a
/// permutation seed or recipe other than the defaults is refused rather than ignored.
fn load_sequence_file(file: &Path, config: &DataConfig) -> TrainResult<LoadedData> {
    if config.permutation_seed != 0 || config.recipe != DataRecipe::default() {
        return Err(TrainError::Usage(format!(
            "{} is a sequence file (SPEC.md D7): its sequences are used as they are, so the \
             experiment's data.permutation_seed ({}) and data.recipe ({}) have no meaning for \
             it; leave them out (or at 0 and keras_lmu_example)",
            file.display(),
            config.permutation_seed,
            config.recipe.name()
        )));
    }
    let read = hsnn_data::read_sequence_file(
        file,
        &hsnn_data::SequenceFileOptions {
            validation_size: config.validation_size,
            classes: ANY_LABEL,
            limit: config.limit,
        },
    )
    .map_err(|error| TrainError::Usage(error.to_string()))?;
    // The absolute path, so that eval run from another folder reads the same file.
    let absolute =
        std::path::absolute(&read.provenance.file).unwrap_or_else(|_| read.provenance.file.clone());
    let record = SequenceFileRecord {
        path: absolute.display().to_string(),
        sha256: read.provenance.sha256.clone(),
        split_rule: read.provenance.split_rule.clone(),
    };
    let split = Splits::from(read);
    let description = format!(
        "sequence file {} (SHA-256 {}), {} steps of {} features: {} train / {} validation / \
         {} test",
        record.path,
        short_sha256(&record.sha256),
        split.steps(),
        split.features(),
        split.train.len(),
        split.validation.len(),
        split.test.len()
    );
    let provenance = DataProvenance {
        source: DataSource::SequenceFile,
        permutation_seed: 0,
        recipe: DataRecipe::default(),
        validation_size: config.validation_size,
        limit: config.limit,
        train_samples: split.train.len(),
        validation_samples: split.validation.len(),
        test_samples: split.test.len(),
        file: Some(record),
    };
    Ok(LoadedData {
        split,
        description,
        provenance,
    })
}

/// The first 12 digits of a SHA-256, for messages (all of it when shorter).
fn short_sha256(sha256: &str) -> &str {
    sha256.get(..12).unwrap_or(sha256)
}

/// Checks that `network` can take `data` (SPEC.md D7, E1): one input per feature, and an
/// output for every label of every split.
pub fn check_network_fits(network: &NetworkConfig, data: &LoadedData) -> TrainResult<()> {
    let features = data.split.features();
    if network.lmu.input_size != features {
        return Err(TrainError::Usage(format!(
            "the network takes {} input(s) per step (lmu.input_size) and the data gives {} \
             ({}); make them equal",
            network.lmu.input_size, features, data.description
        )));
    }
    if let Some(largest) = data.split.largest_label() {
        if usize::from(largest) >= network.output_size {
            return Err(TrainError::Usage(format!(
                "the data holds label {largest} and the network has {} outputs (output_size); \
                 labels must be below it ({})",
                network.output_size, data.description
            )));
        }
    }
    Ok(())
}

/// The sequences `indices` of `dataset` as a backend batch with the given sample ids, and
/// their labels.
pub fn batch(
    dataset: &LabelledSequences,
    indices: &[usize],
    sample_ids: Vec<u64>,
) -> TrainResult<(SequenceBatch, Vec<usize>)> {
    let batch = dataset.batch(indices)?;
    let labels = batch
        .labels
        .iter()
        .map(|&label| usize::from(label))
        .collect();
    let [size, steps, features] = batch.shape();
    let sequences = SequenceBatch::with_ids(size, steps, features, batch.inputs, sample_ids)?;
    Ok((sequences, labels))
}

/// The index of the largest logit (the first on ties).
pub fn predicted_class(logits: &[f64]) -> usize {
    let mut best = 0;
    for (index, value) in logits.iter().enumerate() {
        if *value > logits[best] {
            best = index;
        }
    }
    best
}

/// One of the three splits of a data set (SPEC.md clause D3), as `eval` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SplitName {
    /// The training split.
    Train,
    /// The validation split.
    Validation,
    /// The test split.
    Test,
}

impl hsnn_spec::Words for SplitName {
    const ALL: &'static [Self] = &[SplitName::Train, SplitName::Validation, SplitName::Test];
    fn word(self) -> &'static str {
        match self {
            SplitName::Train => "train",
            SplitName::Validation => "validation",
            SplitName::Test => "test",
        }
    }
}

impl LoadedData {
    /// The split named `name` (SPEC.md D3).
    pub fn split_named(&self, name: SplitName) -> &LabelledSequences {
        match name {
            SplitName::Train => &self.split.train,
            SplitName::Validation => &self.split.validation,
            SplitName::Test => &self.split.test,
        }
    }
}

/// What an evaluation asks of its data besides the model (SPEC.md D6, D7, E2): the MNIST folder
/// or sequence file (`None`: the embedded subset), an experiment file whose data settings replace the model's record, whether
/// a contradiction with that record is overridden, and a cap on the sequences per split.
#[derive(Debug, Clone, Copy, Default)]
pub struct EvaluationData<'a> {
    /// Folder of the four MNIST IDX files, or a sequence file (D7); `None` uses the embedded
    /// subset.
    pub directory: Option<&'a Path>,
    /// An experiment file whose data settings to use (`--config`).
    pub config: Option<&'a Path>,
    /// Use `config` even where it contradicts the model's record (`--override-provenance`).
    pub override_provenance: bool,
    /// Only the first sequences of each split (`--limit`); otherwise the training data's limit.
    pub limit: Option<usize>,
}

/// The data `model` is evaluated on, by `hsnn eval`, `hsnn energy` and `hsnn.evaluate` alike
/// (SPEC.md clauses D6, D7, E2): the settings come from [`eval_data_config`], `limit`
/// overrides the training data's, and the model must fit the data ([`check_network_fits`]).
/// Also returns the note saying that the data differ from the training data's, when they do.
pub fn load_for_evaluation(
    model: &Model,
    request: EvaluationData<'_>,
) -> TrainResult<(LoadedData, Option<String>)> {
    let (mut data_config, note) = eval_data_config(
        model,
        request.config,
        request.directory,
        request.override_provenance,
    )?;
    if request.limit.is_some() {
        data_config.limit = request.limit;
    }
    let loaded = load(request.directory, &data_config)?;
    check_network_fits(&model.config, &loaded)?;
    let recorded_file = model
        .provenance
        .as_ref()
        .and_then(|provenance| provenance.data.file.as_ref());
    let note = match (recorded_file, &loaded.provenance.file) {
        (Some(trained), Some(given)) if trained.sha256 != given.sha256 => Some(format!(
            "the model was trained on sequence file {} (SHA-256 {}); evaluating on {} (SHA-256 \
             {}), another file",
            trained.path,
            short_sha256(&trained.sha256),
            given.path,
            short_sha256(&given.sha256)
        )),
        _ => note,
    };
    Ok((loaded, note))
}

/// The kind of data `source` gives to [`load`]: the embedded subset (`None`), MNIST files (a
/// folder) or a sequence file (any other path).
fn source_kind(source: Option<&Path>) -> DataSource {
    match source {
        None => DataSource::Embedded,
        Some(path) if path.is_dir() => DataSource::MnistFiles,
        Some(_) => DataSource::SequenceFile,
    }
}

/// The data of a source kind, in words.
fn described(kind: DataSource) -> &'static str {
    match kind {
        DataSource::Embedded => {
            "the embedded subset (the first 1,000 test images of the MNIST test file)"
        }
        DataSource::MnistFiles => "the MNIST files",
        DataSource::SequenceFile => "a sequence file",
    }
}

/// The data settings a model is evaluated with, by `hsnn eval` and `hsnn.evaluate` (SPEC.md
/// clauses D7, E2): the model file's record of its training data, unless an experiment file
/// `config` is given; one that contradicts that record is refused unless
/// `override_provenance`, since a model evaluated under another permutation scores near chance
/// without any other sign. `source` is the `--data` given (`None`: the experiment's or the
/// recorded sequence file, else the embedded subset); a model trained on a sequence file reads
/// that file again when nothing else is named. The note, when there is one, says that the
/// source differs from the training data's.
pub fn eval_data_config(
    model: &Model,
    config: Option<&std::path::Path>,
    source: Option<&Path>,
    override_provenance: bool,
) -> TrainResult<(DataConfig, Option<String>)> {
    let Some(provenance) = &model.provenance else {
        return Ok((Experiment::load(config)?.data, None));
    };
    let recorded = &provenance.data;
    let recorded_file = recorded
        .file
        .as_ref()
        .map(|file| std::path::PathBuf::from(&file.path));
    let given = match config {
        Some(config) => Some(Experiment::load(Some(config))?.data),
        None => None,
    };
    // What `load` will read: --data, else the experiment's file, else the recorded file.
    // An experiment's own file wins; an experiment that names none (one given to change the
    // limit, say) keeps the recorded file.
    let file = match &given {
        Some(given) => given.file.clone().or(recorded_file),
        None => recorded_file,
    };
    let given_kind = source_kind(source.or(file.as_deref()));
    let same_source = recorded.source == given_kind;
    let note = (!same_source).then(|| {
        let seed = if given_kind == DataSource::SequenceFile {
            String::new()
        } else {
            format!(" with its permutation seed {}", recorded.permutation_seed)
        };
        format!(
            "the model was trained on {}; evaluating on {}{seed}",
            described(recorded.source),
            described(given_kind),
        )
    });
    let (Some(config), Some(given)) = (config, given) else {
        // A sequence file has no permutation or recipe (D7): psMNIST's recorded ones do not
        // apply to it, nor a sequence file's defaults to psMNIST.
        let psmnist_settings = given_kind != DataSource::SequenceFile;
        return Ok((
            DataConfig {
                // A validation size belongs to its source: 10,000 of the full data do not fit the
                // embedded 3,000.
                validation_size: if same_source {
                    recorded.validation_size
                } else {
                    None
                },
                limit: recorded.limit,
                permutation_seed: if psmnist_settings {
                    recorded.permutation_seed
                } else {
                    0
                },
                recipe: if psmnist_settings {
                    recorded.recipe
                } else {
                    DataRecipe::default()
                },
                file,
            },
            note,
        ));
    };
    let mut contradictions = Vec::new();
    if given.permutation_seed != recorded.permutation_seed {
        contradictions.push(format!(
            "permutation_seed {} (the model was trained with {})",
            given.permutation_seed, recorded.permutation_seed
        ));
    }
    if given.recipe != recorded.recipe {
        contradictions.push(format!(
            "recipe {} (the model was trained with {})",
            given.recipe.name(),
            recorded.recipe.name()
        ));
    }
    if same_source && given.validation_size != recorded.validation_size {
        contradictions.push(format!(
            "validation_size {:?} (trained with {:?})",
            given.validation_size, recorded.validation_size
        ));
    }
    if !contradictions.is_empty() && !override_provenance {
        return Err(TrainError::Usage(format!(
            "the experiment file {} contradicts the model file's training data: {}; leave it out to use \
             the model's own settings, or override the provenance (`--override-provenance`)",
            config.display(),
            contradictions.join(", ")
        )));
    }
    Ok((DataConfig { file, ..given }, note))
}

/// Checks a requested thread count against the machine's cores (SPEC.md T8: results do not
/// depend on it, so more threads than cores only add overhead, and a huge count used to start
/// thousands of threads and hang). `option` names the setting in the message (`--threads`,
/// `threads`).
pub fn check_threads(option: &str, requested: u64) -> TrainResult<usize> {
    let cores = std::thread::available_parallelism().map_or(1, |cores| cores.get());
    if requested == 0 || requested > cores as u64 {
        return Err(TrainError::Usage(format!(
            "{option} {requested}: this machine has {cores} cores; results do not depend on \
             the thread count, so use 1 to {cores} (or leave {option} out)"
        )));
    }
    Ok(requested as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hsnn_spec::Words;

    /// E1: the split's words are the ones its file form (serde, as `hsnn eval --json` writes
    /// `split`) writes, and read back.
    #[test]
    fn e1_split_words_are_their_file_words() {
        assert_eq!(SplitName::words(), ["train", "validation", "test"]);
        for &split in SplitName::ALL {
            let file_form = serde_json::to_string(&split).expect("serializes");
            assert_eq!(file_form, format!("\"{}\"", split.word()));
            assert_eq!(
                SplitName::from_word("split", split.word()).expect("a word"),
                split
            );
        }
    }
}
