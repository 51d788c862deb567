//! One split of labelled sequences, whatever their source (SPEC.md D3, D7), and the batches a
//! backend takes from it.
//!
//! psMNIST's splits keep their raw pixels and normalise them as a batch is made (D2: one
//! exactly rounded division, so the values are those of an f64 store at an eighth of its
//! memory); a sequence file's keep its values as read (D7). Everything past the store (its
//! shape, labels, batches) is the same for both, so training, evaluation and the bindings take
//! any source.

use crate::error::DataError;
use crate::psmnist::{normalise_pixel, SEQUENCE_LENGTH};

/// One split of a data set: `len()` sequences of `steps()` steps of `features()` values, and
/// a label per sequence (SPEC.md D3, D7).
#[derive(Debug, Clone, PartialEq)]
pub struct LabelledSequences {
    steps: usize,
    features: usize,
    inputs: Inputs,
    labels: Vec<u16>,
}

/// Where a split's values live.
#[derive(Debug, Clone, PartialEq)]
enum Inputs {
    /// Raw pixels, sample-major, normalised by D2 when read.
    Pixels(Vec<u8>),
    /// Values as given, sample-major then step then feature.
    Values(Vec<f64>),
}

impl Default for LabelledSequences {
    /// An empty psMNIST split.
    fn default() -> Self {
        LabelledSequences {
            steps: SEQUENCE_LENGTH,
            features: 1,
            inputs: Inputs::Pixels(Vec::new()),
            labels: Vec::new(),
        }
    }
}

impl LabelledSequences {
    /// psMNIST sequences from raw pixels (D2, D4): `pixels` holds `labels.len()` images of
    /// 784 pixels, each already in its sequence order.
    pub(crate) fn from_pixels(pixels: Vec<u8>, labels: Vec<u16>) -> Self {
        debug_assert_eq!(pixels.len(), labels.len() * SEQUENCE_LENGTH);
        LabelledSequences {
            steps: SEQUENCE_LENGTH,
            features: 1,
            inputs: Inputs::Pixels(pixels),
            labels,
        }
    }

    /// Sequences from their values (D7): `values` holds `labels.len()` sequences of `steps`
    /// steps of `features` values, sample-major then step then feature.
    ///
    /// # Errors
    /// [`DataError::SequenceShape`] when `steps` or `features` is 0, or `values` does not
    /// hold exactly `labels.len() * steps * features` values.
    pub fn from_values(
        steps: usize,
        features: usize,
        values: Vec<f64>,
        labels: Vec<u16>,
    ) -> Result<Self, DataError> {
        let expected = labels
            .len()
            .checked_mul(steps)
            .and_then(|cells| cells.checked_mul(features));
        if steps == 0 || features == 0 || expected != Some(values.len()) {
            return Err(DataError::SequenceShape {
                values: values.len(),
                sequences: labels.len(),
                steps,
                features,
            });
        }
        Ok(LabelledSequences {
            steps,
            features,
            inputs: Inputs::Values(values),
            labels,
        })
    }

    /// Number of sequences.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when the split holds no sequences.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Steps per sequence (784 for psMNIST).
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// Values per step (1 for psMNIST).
    pub fn features(&self) -> usize {
        self.features
    }

    /// All labels, in sequence order.
    pub fn labels(&self) -> &[u16] {
        &self.labels
    }

    /// Label of sequence `index`, or `None` when out of range.
    pub fn label(&self, index: usize) -> Option<u16> {
        self.labels.get(index).copied()
    }

    /// The raw (un-normalised, already permuted) pixels of psMNIST sequence `index`; `None`
    /// when out of range or when the split holds values rather than pixels.
    pub fn pixels(&self, index: usize) -> Option<&[u8]> {
        let Inputs::Pixels(pixels) = &self.inputs else {
            return None;
        };
        let length = self.sequence_length();
        let start = index.checked_mul(length)?;
        pixels.get(start..start.checked_add(length)?)
    }

    /// Sequence `index` as its `steps() * features()` inputs, step-major (pixels normalised
    /// by D2), or `None` when out of range.
    pub fn sequence(&self, index: usize) -> Option<Vec<f64>> {
        if index >= self.len() {
            return None;
        }
        let range = self.range_of(index);
        Some(match &self.inputs {
            Inputs::Pixels(pixels) => pixels[range].iter().copied().map(normalise_pixel).collect(),
            Inputs::Values(values) => values[range].to_vec(),
        })
    }

    /// SHA-256 (lower-case hex) of a value split's values as little-endian binary64, for
    /// fingerprints (T8); `None` for psMNIST's pixel splits, which their source pins.
    pub fn values_digest(&self) -> Option<String> {
        use sha2::{Digest, Sha256};
        let Inputs::Values(values) = &self.inputs else {
            return None;
        };
        let mut hasher = Sha256::new();
        for value in values {
            hasher.update(value.to_le_bytes());
        }
        Some(
            hasher
                .finalize()
                .iter()
                .map(|byte| format!("{byte:02x}"))
                .collect(),
        )
    }

    /// How many sequences carry each label, from 0 to the largest label present.
    pub fn label_counts(&self) -> Vec<usize> {
        let classes = self
            .labels
            .iter()
            .max()
            .map_or(0, |&top| usize::from(top) + 1);
        let mut counts = vec![0; classes];
        for &label in &self.labels {
            counts[usize::from(label)] += 1;
        }
        counts
    }

    /// The sequences at `indices` (in that order, repeats allowed) as a new batch of shape
    /// `[indices.len(), steps, features]`; errors with [`DataError::SampleIndexOutOfRange`].
    pub fn batch(&self, indices: &[usize]) -> Result<Batch, DataError> {
        let mut batch = Batch::default();
        self.fill_batch(indices, &mut batch)?;
        Ok(batch)
    }

    /// Like [`LabelledSequences::batch`] but reuses `batch`'s buffers, so a training loop allocates
    /// nothing per step. On error `batch` is left unchanged.
    pub fn fill_batch(&self, indices: &[usize], batch: &mut Batch) -> Result<(), DataError> {
        if let Some(&index) = indices.iter().find(|&&index| index >= self.len()) {
            return Err(DataError::SampleIndexOutOfRange {
                index,
                len: self.len(),
            });
        }
        batch.inputs.clear();
        batch.labels.clear();
        batch.indices.clear();
        batch.steps = self.steps;
        batch.features = self.features;
        batch.inputs.reserve(indices.len() * self.sequence_length());
        for &index in indices {
            let range = self.range_of(index);
            match &self.inputs {
                Inputs::Pixels(pixels) => batch
                    .inputs
                    .extend(pixels[range].iter().copied().map(normalise_pixel)),
                Inputs::Values(values) => batch.inputs.extend_from_slice(&values[range]),
            }
            batch.labels.push(self.labels[index]);
            batch.indices.push(index);
        }
        Ok(())
    }

    /// The first `count` sequences (all of them when there are fewer).
    pub(crate) fn truncated(mut self, count: usize) -> Self {
        let count = count.min(self.len());
        let cells = count * self.sequence_length();
        match &mut self.inputs {
            Inputs::Pixels(pixels) => pixels.truncate(cells),
            Inputs::Values(values) => values.truncate(cells),
        }
        self.labels.truncate(count);
        self
    }

    /// The sequences before `start`, and those from `start` on (`start <= len()`).
    pub(crate) fn split_off(mut self, start: usize) -> (Self, Self) {
        let cells = start * self.sequence_length();
        let tail_inputs = match &mut self.inputs {
            Inputs::Pixels(pixels) => Inputs::Pixels(pixels.split_off(cells)),
            Inputs::Values(values) => Inputs::Values(values.split_off(cells)),
        };
        let tail = LabelledSequences {
            steps: self.steps,
            features: self.features,
            inputs: tail_inputs,
            labels: self.labels.split_off(start),
        };
        (self, tail)
    }

    /// Values per sequence.
    fn sequence_length(&self) -> usize {
        self.steps * self.features
    }

    /// Where sequence `index` (in range) lies in the store.
    fn range_of(&self, index: usize) -> std::ops::Range<usize> {
        let length = self.sequence_length();
        index * length..(index + 1) * length
    }
}

/// The three splits of a data set (SPEC.md D3, D7), whatever its source.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Splits {
    /// The training split.
    pub train: LabelledSequences,
    /// The validation split.
    pub validation: LabelledSequences,
    /// The test split.
    pub test: LabelledSequences,
}

impl Splits {
    /// Values per step, the same in every split (1 for psMNIST).
    pub fn features(&self) -> usize {
        self.train.features()
    }

    /// Steps per sequence, the same in every split (784 for psMNIST).
    pub fn steps(&self) -> usize {
        self.train.steps()
    }

    /// The largest label of any split, `None` when every split is empty.
    pub fn largest_label(&self) -> Option<u16> {
        [&self.train, &self.validation, &self.test]
            .iter()
            .filter_map(|split| split.labels().iter().max().copied())
            .max()
    }
}

impl From<crate::psmnist::Split> for Splits {
    fn from(split: crate::psmnist::Split) -> Self {
        Splits {
            train: split.train,
            validation: split.validation,
            test: split.test,
        }
    }
}

impl From<crate::sequences::SequenceFile> for Splits {
    fn from(file: crate::sequences::SequenceFile) -> Self {
        Splits {
            train: file.train,
            validation: file.validation,
            test: file.test,
        }
    }
}

/// A batch of sequences for a backend: `inputs` is contiguous row-major f64 of shape
/// `[size, steps, features]` (element (b, t, f) at `inputs[(b * steps + t) * features + f]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// `size * steps * features` inputs, sample-major, then step, then feature.
    pub inputs: Vec<f64>,
    /// The label of each sequence.
    pub labels: Vec<u16>,
    /// The index in its [`LabelledSequences`] of each sequence: a stable sample identifier.
    pub indices: Vec<usize>,
    /// Steps per sequence.
    pub steps: usize,
    /// Values per step.
    pub features: usize,
}

impl Default for Batch {
    /// An empty psMNIST batch.
    fn default() -> Self {
        Batch {
            inputs: Vec::new(),
            labels: Vec::new(),
            indices: Vec::new(),
            steps: SEQUENCE_LENGTH,
            features: 1,
        }
    }
}

impl Batch {
    /// Number of sequences in the batch.
    pub fn size(&self) -> usize {
        self.labels.len()
    }

    /// The shape of [`Batch::inputs`]: `[size, steps, features]`.
    pub fn shape(&self) -> [usize; 3] {
        [self.size(), self.steps, self.features]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_batch_leaves_batch_untouched_on_error() {
        let dataset = LabelledSequences::from_pixels(vec![255; SEQUENCE_LENGTH], vec![3]);
        let mut batch = dataset.batch(&[0, 0]).unwrap_or_default();
        assert_eq!(batch.shape(), [2, 784, 1]);
        let before = batch.clone();
        assert!(matches!(
            dataset.fill_batch(&[0, 1], &mut batch),
            Err(DataError::SampleIndexOutOfRange { index: 1, len: 1 })
        ));
        assert_eq!(batch, before);
    }

    /// D7: a batch of value sequences lays them out sample, step, feature, as given.
    #[test]
    fn d7_value_sequences_batch_in_their_own_layout() {
        let values: Vec<f64> = (0..12).map(f64::from).collect();
        let dataset =
            LabelledSequences::from_values(3, 2, values, vec![1, 0]).expect("a 2x3x2 split");
        let batch = dataset.batch(&[1, 0]).expect("in range");
        assert_eq!(batch.shape(), [2, 3, 2]);
        assert_eq!(
            batch.inputs,
            [6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
        );
        assert_eq!(batch.labels, [0, 1]);
        assert_eq!(dataset.pixels(0), None);
        assert_eq!(
            dataset.sequence(1),
            Some(vec![6.0, 7.0, 8.0, 9.0, 10.0, 11.0])
        );
        assert_eq!(dataset.label_counts(), [1, 1]);
        // The digest is of the values: the same values, the same digest; one value changed,
        // another; pixel splits have none.
        let digest = dataset.values_digest().expect("a value split");
        assert_eq!(Some(digest.clone()), dataset.clone().values_digest());
        let mut changed: Vec<f64> = (0..12).map(f64::from).collect();
        changed[11] = 11.5;
        let other = LabelledSequences::from_values(3, 2, changed, vec![1, 0]).expect("split");
        assert_ne!(other.values_digest(), Some(digest));
        assert_eq!(LabelledSequences::default().values_digest(), None);
        let (head, tail) = dataset.clone().split_off(1);
        assert_eq!((head.labels(), tail.labels()), (&[1][..], &[0][..]));
        assert_eq!(tail.sequence(0), dataset.sequence(1));
        assert!(!dataset.is_empty() && LabelledSequences::default().is_empty());
        assert_eq!((dataset.label(0), dataset.label(2)), (Some(1), None));
        let first = dataset.clone().truncated(1);
        assert_eq!(first.len(), 1);
        assert_eq!(first.sequence(0), dataset.sequence(0));
        assert_eq!(first.batch(&[0]).expect("in range").inputs.len(), 6);
        // Exactly the first sequence's values remain, nothing of the second.
        let alone = LabelledSequences::from_values(3, 2, (0..6).map(f64::from).collect(), vec![1])
            .expect("one sequence");
        assert_eq!(first, alone);
    }

    /// D3, D7: the three splits name their shape and their largest label, whichever source
    /// they come from.
    #[test]
    fn d7_splits_name_their_shape_and_largest_label() {
        let split = |labels: Vec<u16>| {
            let values = vec![0.5; labels.len() * 4 * 3];
            LabelledSequences::from_values(4, 3, values, labels).expect("a split")
        };
        let splits = Splits {
            train: split(vec![0, 2]),
            validation: split(vec![1]),
            test: split(vec![5, 0]),
        };
        assert_eq!((splits.steps(), splits.features()), (4, 3));
        assert_eq!(splits.largest_label(), Some(5));
        assert_eq!(Splits::default().largest_label(), None);
        let psmnist = crate::load_embedded(&crate::LoadOptions {
            limit: Some(3),
            ..crate::LoadOptions::default()
        })
        .expect("the embedded subset");
        let expected = psmnist.test.labels().to_vec();
        let from_psmnist = Splits::from(psmnist);
        assert_eq!((from_psmnist.steps(), from_psmnist.features()), (784, 1));
        assert_eq!(from_psmnist.test.labels(), &expected[..]);
        assert_eq!(
            from_psmnist.largest_label(),
            [
                &from_psmnist.train,
                &from_psmnist.validation,
                &from_psmnist.test
            ]
            .iter()
            .flat_map(|split| split.labels().iter().copied())
            .max()
        );
    }

    /// D7: values that do not fill `sequences x steps x features` are refused.
    #[test]
    fn d7_values_of_another_shape_are_refused() {
        for (steps, features, count) in [(3, 2, 11), (0, 2, 0), (3, 0, 0)] {
            let values = vec![0.0; count];
            let labels = if count == 0 { vec![] } else { vec![0, 1] };
            assert!(matches!(
                LabelledSequences::from_values(steps, features, values, labels),
                Err(DataError::SequenceShape { .. })
            ));
        }
    }
}
