//! The psMNIST data set: normalise, split, permute, batch (spec clauses D2, D3, D4).
//!
//! - D2 normalisation: a pixel `p` (0..=255) becomes `p as f64 / 255.0` ([`normalise_pixel`]),
//!   so inputs lie in [0, 1].
//! - D3 split: with the [`SplitRecipe::KerasLmuExample`] recipe (the default) the training
//!   file's first `N - V` samples are the training split and its last `V` samples the
//!   validation split (`V` = 10,000 by default, so 50,000 + 10,000 for the full MNIST); the
//!   test file is the test split, in file order. With [`SplitRecipe::Nru`] (D6) the training
//!   file is first shuffled by a numpy permutation, and the pixel permutation is the next draw
//!   of the same stream. A trainer shuffles its batches itself either way.
//! - D4 permutation: every image is read as a sequence of 784 scalar inputs, with the pixels in
//!   the order of one fixed permutation `perm` (numpy `RandomState(seed).permutation(784)`,
//!   seed 0 by default, see [`crate::permutation`]). Convention:
//!   **`permuted[t] = original[perm[t]]`**, where `original` is the image in row-major order
//!   (index `28 * row + col`). [`PixelOrder::Sequential`] uses the identity (sequential MNIST).
//!
//! Storage decision: a psMNIST [`LabelledSequences`] keeps the *permuted raw bytes* (u8) and normalises
//! when a batch is made. `f64::from(p) / 255.0` is one exactly rounded division, so the batch values
//! are bit-identical to a pre-normalised f64 store, at an eighth of its memory (47 MB instead
//! of 376 MB for the full training file). An f32 store would be smaller than f64 but could not
//! give the D2 values exactly: `f64::from(p as f32 / 255.0) != p as f64 / 255.0` for most `p`.

use std::path::{Path, PathBuf};

use crate::error::DataError;
use crate::idx::{self, LabelledImages, PIXELS_PER_IMAGE};
use crate::labelled::LabelledSequences;
use crate::permutation;

/// Length of one (p)sMNIST sequence: the 784 pixels of an image, one per time step.
pub const SEQUENCE_LENGTH: usize = PIXELS_PER_IMAGE;
/// Input features per time step: one pixel.
pub const FEATURES_PER_STEP: usize = 1;
/// Validation samples cut from the end of the full training file by default (D3).
pub const DEFAULT_VALIDATION_SIZE: usize = 10_000;
/// Seed of the default psMNIST permutation, numpy `RandomState(0)` (D4).
pub const DEFAULT_PERMUTATION_SEED: u32 = 0;

/// Standard name of the MNIST training image file (D1); `.gz` may be appended.
pub const TRAIN_IMAGES_FILE: &str = "train-images-idx3-ubyte";
/// Standard name of the MNIST training label file (D1); `.gz` may be appended.
pub const TRAIN_LABELS_FILE: &str = "train-labels-idx1-ubyte";
/// Standard name of the MNIST test image file (D1); `.gz` may be appended.
pub const TEST_IMAGES_FILE: &str = "t10k-images-idx3-ubyte";
/// Standard name of the MNIST test label file (D1); `.gz` may be appended.
pub const TEST_LABELS_FILE: &str = "t10k-labels-idx1-ubyte";

/// D2: the network input for pixel value `pixel`, `pixel / 255` in f64, in [0, 1].
pub fn normalise_pixel(pixel: u8) -> f64 {
    f64::from(pixel) / 255.0
}

/// The order in which an image's pixels are fed as a sequence (D4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelOrder {
    /// Row-major order, no permutation: sequential MNIST.
    Sequential,
    /// Permuted MNIST with `numpy.random.RandomState(seed).permutation(784)`.
    Permuted {
        /// The numpy `RandomState` seed; 0 is the field's standard psMNIST permutation.
        seed: u32,
    },
}

impl Default for PixelOrder {
    /// psMNIST with the standard seed [`DEFAULT_PERMUTATION_SEED`] (0).
    fn default() -> Self {
        PixelOrder::Permuted {
            seed: DEFAULT_PERMUTATION_SEED,
        }
    }
}

impl PixelOrder {
    /// The 784 source indices: time step `t` reads original pixel `permutation()[t]`.
    /// The identity for [`PixelOrder::Sequential`].
    pub fn permutation(&self) -> Vec<usize> {
        match *self {
            PixelOrder::Sequential => (0..SEQUENCE_LENGTH).collect(),
            PixelOrder::Permuted { seed } => permutation::permutation(seed, SEQUENCE_LENGTH),
        }
    }
}

/// Which samples go into which split, and where the pixel permutation comes from (D3, D6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SplitRecipe {
    /// keras-lmu's psMNIST docs example (D3, D4): the training file in file order, train = its
    /// first `N - V` samples, validation = its last `V`; the pixel permutation is
    /// `RandomState(seed).permutation(784)`.
    #[default]
    KerasLmuExample,
    /// The LMU paper's notebook through NRU's iterator (D6): one `RandomState(seed)` stream
    /// draws `permutation(N)`, which shuffles the training file, then `permutation(784)`, the
    /// pixel order; train = the first `N - V` shuffled samples, validation = the last `V`
    /// (`N = 60,000`, `V = 10,000`, seed 50 in the paper's setup). Needs a
    /// [`PixelOrder::Permuted`] order, whose seed seeds the stream.
    Nru,
}

impl SplitRecipe {
    /// The name used in experiment files and reports: `keras_lmu_example` or `nru`.
    pub fn name(&self) -> &'static str {
        match self {
            SplitRecipe::KerasLmuExample => "keras_lmu_example",
            SplitRecipe::Nru => "nru",
        }
    }
}

/// How to build the splits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LoadOptions {
    /// Validation samples cut from the end of the training file (D3). `None` means the
    /// source's default: [`DEFAULT_VALIDATION_SIZE`] (10,000) for MNIST files on disk,
    /// [`crate::embedded::EMBEDDED_DEFAULT_VALIDATION_SIZE`] (500) for the embedded subset.
    /// Errors with [`DataError::ValidationTooLarge`] when above the training file's size.
    pub validation_size: Option<usize>,
    /// Pixel order (D4); psMNIST with seed 0 by default.
    pub pixel_order: PixelOrder,
    /// Keep only the first `limit` samples of each split (after splitting), for quick runs.
    /// `None` keeps everything.
    pub limit: Option<usize>,
    /// Which samples make which split, and where the permutation comes from (D3, D6).
    pub recipe: SplitRecipe,
}

/// Copies the samples `indices` of `source`, in that order, reordering every image's pixels
/// by `perm` (`permuted[t] = original[perm[t]]`), into a split that normalises them as it
/// batches (D2). Every index and every `perm` entry is in bounds by construction (callers take
/// indices below the file's length; perm is a permutation of 0..784).
fn dataset_from_indices(
    source: &LabelledImages,
    indices: &[usize],
    perm: &[usize],
) -> LabelledSequences {
    let mut pixels = Vec::with_capacity(indices.len() * SEQUENCE_LENGTH);
    let all_pixels = source.images().pixels();
    let all_labels = source.labels();
    let mut labels = Vec::with_capacity(indices.len());
    for &index in indices {
        let image = &all_pixels[index * SEQUENCE_LENGTH..(index + 1) * SEQUENCE_LENGTH];
        pixels.extend(perm.iter().map(|&source_pixel| image[source_pixel]));
        labels.push(u16::from(all_labels[index]));
    }
    LabelledSequences::from_pixels(pixels, labels)
}

/// The three splits of D3, all in the same pixel order.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    /// The first `N - V` samples of the training file.
    pub train: LabelledSequences,
    /// The last `V` samples of the training file.
    pub validation: LabelledSequences,
    /// The test file.
    pub test: LabelledSequences,
    /// The pixel order the sequences are in.
    pub pixel_order: PixelOrder,
    /// The source index of every time step, kept for reports: `pixel_order.permutation()`
    /// for [`SplitRecipe::KerasLmuExample`], the stream's second draw for [`SplitRecipe::Nru`].
    pub permutation: Vec<usize>,
    /// The recipe the splits were made by.
    pub recipe: SplitRecipe,
    /// For each training-file sample of the train split then the validation split, its index
    /// in the training file (before any limit): `0..N` in order for
    /// [`SplitRecipe::KerasLmuExample`], the stream's first draw for [`SplitRecipe::Nru`].
    pub training_file_order: Vec<usize>,
}

/// The bytes of one IDX file (plain or gzipped) and the name to use for it in error messages.
#[derive(Debug, Clone, Copy)]
pub struct NamedBytes<'a> {
    /// A path or other name a user recognises.
    pub name: &'a str,
    /// The file's content.
    pub bytes: &'a [u8],
}

/// The four MNIST files in memory.
#[derive(Debug, Clone, Copy)]
pub struct MnistSources<'a> {
    /// Training images (IDX, magic 0x00000803).
    pub train_images: NamedBytes<'a>,
    /// Training labels (IDX, magic 0x00000801).
    pub train_labels: NamedBytes<'a>,
    /// Test images.
    pub test_images: NamedBytes<'a>,
    /// Test labels.
    pub test_labels: NamedBytes<'a>,
}

/// Loads (p)sMNIST from a directory holding the four standard files (D1..D4), each either
/// plain (`train-images-idx3-ubyte`, ...) or gzipped (`train-images-idx3-ubyte.gz`, ...); the
/// plain file wins when both exist. The validation size defaults to
/// [`DEFAULT_VALIDATION_SIZE`] (50,000 + 10,000 + 10,000 for the full MNIST).
pub fn load_psmnist(dir: &Path, options: &LoadOptions) -> Result<Split, DataError> {
    let standard_names = [
        TRAIN_IMAGES_FILE,
        TRAIN_LABELS_FILE,
        TEST_IMAGES_FILE,
        TEST_LABELS_FILE,
    ];
    let mut names = Vec::with_capacity(standard_names.len());
    let mut contents = Vec::with_capacity(standard_names.len());
    // Resolve all four names before reading any: a missing file is reported before a
    // 47 MB read is wasted.
    let paths = standard_names
        .iter()
        .map(|name| find_mnist_file(dir, name))
        .collect::<Result<Vec<_>, _>>()?;
    for path in &paths {
        contents.push(idx::read_file(path)?);
        names.push(path.display().to_string());
    }
    let named = |k: usize| NamedBytes {
        name: &names[k],
        bytes: &contents[k],
    };
    let sources = MnistSources {
        train_images: named(0),
        train_labels: named(1),
        test_images: named(2),
        test_labels: named(3),
    };
    build_split(&sources, options, DEFAULT_VALIDATION_SIZE)
}

/// Loads (p)sMNIST from the four files in memory (D1..D4), with the validation size
/// defaulting to [`DEFAULT_VALIDATION_SIZE`]. [`load_psmnist`] and
/// [`crate::embedded::load_embedded`] both go through the same steps.
pub fn load_psmnist_from_bytes(
    sources: &MnistSources<'_>,
    options: &LoadOptions,
) -> Result<Split, DataError> {
    build_split(sources, options, DEFAULT_VALIDATION_SIZE)
}

/// Parses, pairs, splits (D3), limits and permutes (D4) the four files.
pub(crate) fn build_split(
    sources: &MnistSources<'_>,
    options: &LoadOptions,
    default_validation_size: usize,
) -> Result<Split, DataError> {
    let train_file = parse_pair(&sources.train_images, &sources.train_labels)?;
    let test_file = parse_pair(&sources.test_images, &sources.test_labels)?;

    let validation_size = options.validation_size.unwrap_or(default_validation_size);
    if validation_size > train_file.len() {
        return Err(DataError::ValidationTooLarge {
            file: sources.train_images.name.to_owned(),
            requested: validation_size,
            available: train_file.len(),
        });
    }
    let train_size = train_file.len() - validation_size;
    let limited = |indices: &[usize]| -> Vec<usize> {
        match options.limit {
            Some(limit) if limit < indices.len() => indices[..limit].to_vec(),
            _ => indices.to_vec(),
        }
    };

    let (training_file_order, permutation) = match options.recipe {
        SplitRecipe::KerasLmuExample => (
            (0..train_file.len()).collect::<Vec<_>>(),
            options.pixel_order.permutation(),
        ),
        SplitRecipe::Nru => {
            let PixelOrder::Permuted { seed } = options.pixel_order else {
                return Err(DataError::RecipeNeedsPermutation {
                    recipe: options.recipe.name(),
                });
            };
            // D6: both draws come from one stream, the sample order first.
            let mut stream = permutation::Mt19937::new(seed);
            let order = permutation::permutation_from(&mut stream, train_file.len());
            let pixels = permutation::permutation_from(&mut stream, SEQUENCE_LENGTH);
            (order, pixels)
        }
    };
    let (train_order, validation_order) = training_file_order.split_at(train_size);
    let test_order: Vec<usize> = (0..test_file.len()).collect();
    Ok(Split {
        train: dataset_from_indices(&train_file, &limited(train_order), &permutation),
        validation: dataset_from_indices(&train_file, &limited(validation_order), &permutation),
        test: dataset_from_indices(&test_file, &limited(&test_order), &permutation),
        pixel_order: options.pixel_order,
        permutation,
        recipe: options.recipe,
        training_file_order,
    })
}

/// Parses an image file and its label file and checks their counts agree.
fn parse_pair(
    images: &NamedBytes<'_>,
    labels: &NamedBytes<'_>,
) -> Result<LabelledImages, DataError> {
    LabelledImages::new(
        idx::parse_images(images.bytes, images.name)?,
        idx::parse_labels(labels.bytes, labels.name)?,
        images.name,
        labels.name,
    )
}

/// `dir/name` if it is a file, else `dir/name.gz` if it is a file, else
/// [`DataError::MissingFile`] naming both.
fn find_mnist_file(dir: &Path, name: &str) -> Result<PathBuf, DataError> {
    let plain = dir.join(name);
    if plain.is_file() {
        return Ok(plain);
    }
    let gzipped = dir.join(format!("{name}.gz"));
    if gzipped.is_file() {
        return Ok(gzipped);
    }
    Err(DataError::MissingFile { plain, gzipped })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_is_pixel_over_255_in_f64() {
        assert_eq!(normalise_pixel(0), 0.0);
        assert_eq!(normalise_pixel(255), 1.0);
        for pixel in 0..=255u8 {
            assert_eq!(normalise_pixel(pixel), pixel as f64 / 255.0);
        }
    }

    #[test]
    fn sequential_order_is_identity_and_default_is_seed_zero() {
        assert_eq!(
            PixelOrder::Sequential.permutation(),
            (0..784).collect::<Vec<_>>()
        );
        assert_eq!(PixelOrder::default(), PixelOrder::Permuted { seed: 0 });
        assert_eq!(PixelOrder::default().permutation()[..3], [693, 85, 647]);
    }
}
