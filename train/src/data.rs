//! From the psMNIST splits of `hsnn-data` to backend batches (SPEC.md clauses D1-D5, N5).

use std::path::Path;

use hsnn_data::{psmnist::PixelOrder, Dataset, LoadOptions, Split, SplitRecipe};
use hsnn_spec::{DataProvenance, DataRecipe, DataSource, SequenceBatch};

use crate::error::{TrainError, TrainResult};
use crate::experiment::DataConfig;

/// Where the data came from, for reports.
#[derive(Debug, Clone)]
pub struct LoadedData {
    /// The three splits.
    pub split: Split,
    /// A one-line description, e.g. `embedded subset (2500/500/1000)`.
    pub description: String,
    /// The settings and sizes, as model files record them (SPEC.md clause E2).
    pub provenance: DataProvenance,
}

/// Loads the splits from `directory` (the four MNIST IDX files), or the embedded subset when
/// `directory` is `None`.
pub fn load(directory: Option<&Path>, config: &DataConfig) -> TrainResult<LoadedData> {
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
    let (split, source, source_kind) = match directory {
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
        source: source_kind,
        permutation_seed: config.permutation_seed,
        recipe: config.recipe,
        validation_size: config.validation_size,
        limit: config.limit,
        train_samples: split.train.len(),
        validation_samples: split.validation.len(),
        test_samples: split.test.len(),
    };
    Ok(LoadedData {
        split,
        description,
        provenance,
    })
}

/// The sequences `indices` of `dataset` as a backend batch with the given sample ids, and
/// their labels.
pub fn batch(
    dataset: &Dataset,
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
