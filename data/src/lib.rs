//! # hsnn-data: the (permuted) sequential MNIST data pipeline of hsnn
//!
//! From the MNIST IDX files to batches of sequences, following the data clauses of the spec
//! (docs/PAPER.md section 6):
//!
//! - **D1 IDX format** ([`idx`]): the four original MNIST files, images `[count, 28, 28]` u8
//!   (magic 0x00000803) and labels `[count]` u8 0..=9 (magic 0x00000801), big-endian header,
//!   optionally gzipped. Malformed files are rejected with a [`DataError`] that names the file.
//! - **D2 normalisation** ([`psmnist::normalise_pixel`]): input = pixel / 255 in f64.
//! - **D3 split** ([`psmnist`]): train = the first 50,000 samples of the training file,
//!   validation = its last 10,000, test = the 10,000 of the test file. The validation size is
//!   a parameter.
//! - **D4 permutation** ([`permutation`], [`psmnist::PixelOrder`]): one fixed permutation of
//!   the 784 pixel positions, numpy `RandomState(0).permutation(784)` reproduced bit for bit;
//!   `permuted[t] = original[perm[t]]`.
//! - **D5 embedded default subset** ([`embedded`]): the first 3,000 training and first 1,000
//!   test samples of MNIST, built into the binary, split 2,500 / 500 / 1,000.
//! - **D7 sequence files** ([`sequences`]): any task's labelled sequences `[N, T, F]` from a
//!   numpy `.npz` (`x_train`, `y_train`, `x_test`, `y_test`), checked and with provenance.
//!
//! ```
//! use hsnn_data::{load_embedded, LoadOptions};
//!
//! let split = load_embedded(&LoadOptions::default())?;
//! assert_eq!(split.train.len(), 2_500);
//! let batch = split.train.batch(&[0, 1, 2])?;
//! assert_eq!(batch.shape(), [3, 784, 1]);
//! assert_eq!(batch.inputs.len(), 3 * 784);
//! # Ok::<(), hsnn_data::DataError>(())
//! ```
//!
//! The full data set is fetched and MD5-verified by `data/fetch.sh` into `data/full/`, then
//! loaded with [`load_psmnist`].

pub mod embedded;
pub mod error;
pub mod idx;
pub mod labelled;
pub mod permutation;
pub mod psmnist;
pub mod sequences;

pub use embedded::load_embedded;
pub use error::DataError;
pub use labelled::{Batch, LabelledSequences, Splits};
pub use psmnist::{
    load_psmnist, load_psmnist_from_bytes, normalise_pixel, LoadOptions, PixelOrder, Split,
    SplitRecipe, SEQUENCE_LENGTH,
};
pub use sequences::{
    read_sequence_file, SequenceFile, SequenceFileError, SequenceFileOptions,
    SequenceFileProvenance,
};
