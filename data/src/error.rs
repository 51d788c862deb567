//! The error type of the data pipeline.
//!
//! Every message names the file it is about (a path, or `embedded:<name>` for the subset built
//! into the binary), what was expected and what was found, so that a user can act on it
//! without reading the source.

use std::path::PathBuf;

/// Everything that can go wrong while reading, checking, splitting or batching MNIST data
/// (spec clauses D1..D5).
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// Neither the plain nor the gzipped form of a standard MNIST file exists (D1).
    #[error(
        "MNIST file not found: neither {plain} nor {gzipped} exists \
         (run data/fetch.sh to download the full data set, or use the embedded subset)"
    )]
    MissingFile {
        /// The uncompressed file name that was looked for.
        plain: PathBuf,
        /// The gzipped file name that was looked for.
        gzipped: PathBuf,
    },

    /// A file exists but could not be read.
    #[error("could not read {path}: {source}")]
    Io {
        /// The file being read.
        path: PathBuf,
        /// The operating-system error.
        source: std::io::Error,
    },

    /// The bytes start with the gzip magic 1f 8b but are not a valid gzip stream (D1).
    #[error("{file}: starts like a gzip file (1f 8b) but could not be decompressed: {source}")]
    Gzip {
        /// The file being decompressed.
        file: String,
        /// The decompression error.
        source: std::io::Error,
    },

    /// The magic number is not that of an unsigned-byte IDX file of the expected kind (D1).
    #[error(
        "{file}: not an MNIST {kind} IDX file: expected magic number 0x{expected:08x}, \
         found 0x{found:08x}"
    )]
    BadMagic {
        /// The file being parsed.
        file: String,
        /// `"images"` or `"labels"`.
        kind: &'static str,
        /// The magic number an IDX file of this kind must start with.
        expected: u32,
        /// The first four bytes of the file, big-endian.
        found: u32,
    },

    /// The IDX header declares a number of dimensions other than 3 (images) or 1 (labels) (D1).
    #[error(
        "{file}: expected an IDX {kind} file with {expected} dimension(s), found {found} \
         (magic 0x{magic:08x})"
    )]
    WrongDimensionCount {
        /// The file being parsed.
        file: String,
        /// `"images"` or `"labels"`.
        kind: &'static str,
        /// Dimensions an IDX file of this kind has.
        expected: u8,
        /// Dimensions the header declares (the magic number's last byte).
        found: u8,
        /// The whole magic number, for reference.
        magic: u32,
    },

    /// The image dimensions are not 28 x 28 (D1).
    #[error(
        "{file}: expected {expected_rows}x{expected_cols} images, found {found_rows}x{found_cols}"
    )]
    UnexpectedImageSize {
        /// The file being parsed.
        file: String,
        /// Rows every MNIST image has.
        expected_rows: u32,
        /// Columns every MNIST image has.
        expected_cols: u32,
        /// Rows the header declares.
        found_rows: u32,
        /// Columns the header declares.
        found_cols: u32,
    },

    /// The file holds fewer bytes than its header promises (D1).
    #[error(
        "{file}: file is truncated: expected {expected_bytes} bytes (header plus the data the \
         header declares), found only {found_bytes}"
    )]
    Truncated {
        /// The file being parsed.
        file: String,
        /// Bytes the header (or the minimal header) requires.
        expected_bytes: u64,
        /// Bytes actually present.
        found_bytes: u64,
    },

    /// The file holds more bytes than its header promises (D1).
    #[error(
        "{file}: {} unexpected trailing byte(s): the header declares {expected_bytes} bytes in \
         total, the file has {found_bytes}", found_bytes.saturating_sub(*expected_bytes)
    )]
    TrailingBytes {
        /// The file being parsed.
        file: String,
        /// Bytes the header declares.
        expected_bytes: u64,
        /// Bytes actually present.
        found_bytes: u64,
    },

    /// A label is not a digit 0..=9 (D1).
    #[error("{file}: label number {index} (0-based) is {label}, expected a digit 0..=9")]
    InvalidLabel {
        /// The file being parsed.
        file: String,
        /// Position of the bad label.
        index: usize,
        /// The value found.
        label: u8,
    },

    /// An image file and its label file hold different numbers of items (D1).
    #[error(
        "{images_file} holds {images} images but {labels_file} holds {labels} labels; \
         an image file and its label file must hold the same number of items"
    )]
    CountMismatch {
        /// The image file.
        images_file: String,
        /// Images it holds.
        images: usize,
        /// The label file.
        labels_file: String,
        /// Labels it holds.
        labels: usize,
    },

    /// The requested validation split is larger than the training file (D3).
    #[error(
        "validation size {requested} exceeds the {available} samples in the training file \
         {file} (the validation split is cut from the end of the training file)"
    )]
    ValidationTooLarge {
        /// The training image file.
        file: String,
        /// The requested validation size.
        requested: usize,
        /// Samples in the training file.
        available: usize,
    },

    /// A recipe that draws its pixel permutation from a seeded stream was given the sequential
    /// (unpermuted) order, which has no seed (D6).
    #[error(
        "the {recipe} split recipe draws the pixel permutation from its random stream; it needs \
         a permuted pixel order with a seed, not the sequential order"
    )]
    RecipeNeedsPermutation {
        /// The recipe's name.
        recipe: &'static str,
    },

    /// A batch asked for a sample the data set does not have.
    #[error("sample index {index} is out of range for a data set of {len} samples")]
    SampleIndexOutOfRange {
        /// The requested index.
        index: usize,
        /// Samples in the data set.
        len: usize,
    },
    /// Sequence values that do not fill `sequences x steps x features` (D7).
    #[error(
        "{values} values cannot be {sequences} sequences of {steps} steps of {features} \
         features"
    )]
    SequenceShape {
        /// Values given.
        values: usize,
        /// Sequences (labels) given.
        sequences: usize,
        /// Steps per sequence.
        steps: usize,
        /// Values per step.
        features: usize,
    },
}
