//! The embedded default subset of MNIST (spec clause D5).
//!
//! The binary carries a small real-MNIST subset so that every command works out of the box,
//! from any directory, without a download: the FIRST 3,000 training images and labels and
//! the FIRST 1,000 test images and labels of the original files, as gzipped IDX files in
//! `data/embedded/` (made by `data/make_embedded.sh`, MD5s in `data/embedded/README.md`,
//! licence in `data/LICENSE-MNIST.md`: CC BY-SA 3.0, LeCun, Cortes, Burges).
//!
//! [`load_embedded`] reads them through the same steps as [`crate::psmnist::load_psmnist`]
//! (D1..D4); by default the split is 2,500 train (the first 2,500 of the 3,000) + 500
//! validation (the last 500) + 1,000 test. Results on this subset are smoke tests, not the
//! paper's numbers; those need the full set (`data/fetch.sh`).

use crate::error::DataError;
use crate::psmnist::{build_split, LoadOptions, MnistSources, NamedBytes, Split};

/// Samples in the embedded training file: the first 3,000 of MNIST's training file (D5).
pub const EMBEDDED_TRAIN_FILE_SAMPLES: usize = 3_000;
/// Samples in the embedded test file: the first 1,000 of MNIST's test file (D5).
pub const EMBEDDED_TEST_SAMPLES: usize = 1_000;
/// Default validation size for the embedded subset: the last 500 of its 3,000 training
/// samples, leaving 2,500 for training (D3, D5).
pub const EMBEDDED_DEFAULT_VALIDATION_SIZE: usize = 500;

/// Gzipped IDX bytes of the embedded training images (D5).
static TRAIN_IMAGES_GZ: &[u8] = include_bytes!("../embedded/train-images-idx3-ubyte.gz");
/// Gzipped IDX bytes of the embedded training labels (D5).
static TRAIN_LABELS_GZ: &[u8] = include_bytes!("../embedded/train-labels-idx1-ubyte.gz");
/// Gzipped IDX bytes of the embedded test images (D5).
static TEST_IMAGES_GZ: &[u8] = include_bytes!("../embedded/t10k-images-idx3-ubyte.gz");
/// Gzipped IDX bytes of the embedded test labels (D5).
static TEST_LABELS_GZ: &[u8] = include_bytes!("../embedded/t10k-labels-idx1-ubyte.gz");

/// The four embedded files (gzipped IDX), named `embedded:<file>.gz` in error messages (D5).
pub fn sources() -> MnistSources<'static> {
    MnistSources {
        train_images: NamedBytes {
            name: "embedded:train-images-idx3-ubyte.gz",
            bytes: TRAIN_IMAGES_GZ,
        },
        train_labels: NamedBytes {
            name: "embedded:train-labels-idx1-ubyte.gz",
            bytes: TRAIN_LABELS_GZ,
        },
        test_images: NamedBytes {
            name: "embedded:t10k-images-idx3-ubyte.gz",
            bytes: TEST_IMAGES_GZ,
        },
        test_labels: NamedBytes {
            name: "embedded:t10k-labels-idx1-ubyte.gz",
            bytes: TEST_LABELS_GZ,
        },
    }
}

/// Loads the embedded subset as (p)sMNIST (D5 through D1..D4). With default options: 2,500
/// train + 500 validation + 1,000 test, permuted with numpy `RandomState(0)`. Errors only
/// when `options.validation_size` exceeds 3,000.
pub fn load_embedded(options: &LoadOptions) -> Result<Split, DataError> {
    build_split(&sources(), options, EMBEDDED_DEFAULT_VALIDATION_SIZE)
}
