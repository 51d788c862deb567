//! D2..D5: normalisation, split, permutation, batching, the directory loader and the embedded
//! subset.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::{gzip, image_file, label_file, TempDir};
use hsnn_data::embedded::{self, EMBEDDED_DEFAULT_VALIDATION_SIZE};
use hsnn_data::idx::{self, parse_images, parse_labels};
use hsnn_data::permutation::permutation;
use hsnn_data::psmnist::{MnistSources, NamedBytes};
use hsnn_data::{
    load_embedded, load_psmnist, load_psmnist_from_bytes, normalise_pixel, DataError, LoadOptions,
    PixelOrder,
};

// Label counts (digits 0..=9) of the embedded splits, computed independently of this crate
// with Python from the original uncompressed MNIST files fetched by data/fetch.sh:
//   labels = open("train-labels-idx1-ubyte", "rb").read()[8:]   # skip the 8-byte header
//   collections.Counter(labels[:2500]), Counter(labels[2500:3000])
//   Counter(open("t10k-labels-idx1-ubyte", "rb").read()[8:][:1000])
const EMBEDDED_TRAIN_LABEL_COUNTS: [usize; 10] = [234, 277, 247, 240, 280, 227, 254, 275, 222, 244];
const EMBEDDED_VALIDATION_LABEL_COUNTS: [usize; 10] = [51, 62, 52, 55, 45, 47, 52, 54, 39, 43];
const EMBEDDED_TEST_LABEL_COUNTS: [usize; 10] = [85, 126, 116, 107, 110, 87, 87, 99, 89, 94];
// The same computation on the full files: labels[:50000], labels[50000:], all test labels.
const FULL_TRAIN_LABEL_COUNTS: [usize; 10] =
    [4932, 5678, 4968, 5101, 4859, 4506, 4951, 5175, 4842, 4988];
const FULL_VALIDATION_LABEL_COUNTS: [usize; 10] =
    [991, 1064, 990, 1030, 983, 915, 967, 1090, 1009, 961];
const FULL_TEST_LABEL_COUNTS: [usize; 10] = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009];
// Python: sum(open("train-images-idx3-ubyte", "rb").read()[16:16 + 784]) (the first image, a 5).
const FIRST_TRAIN_IMAGE_PIXEL_SUM: u32 = 27_525;

/// The original (unpermuted) embedded training images and labels, parsed directly.
fn embedded_training_file() -> (idx::IdxImages, Vec<u8>) {
    let sources = embedded::sources();
    (
        parse_images(sources.train_images.bytes, "train images").unwrap(),
        parse_labels(sources.train_labels.bytes, "train labels").unwrap(),
    )
}

#[test]
fn d5_embedded_default_split_sizes() {
    let split = load_embedded(&LoadOptions::default()).unwrap();
    assert_eq!(split.train.len(), 2_500);
    assert_eq!(split.validation.len(), 500);
    assert_eq!(split.test.len(), 1_000);
    assert_eq!(EMBEDDED_DEFAULT_VALIDATION_SIZE, 500);
    assert_eq!(split.pixel_order, PixelOrder::Permuted { seed: 0 });
    assert_eq!(split.permutation, permutation(0, 784));
}

#[test]
fn d5_embedded_label_counts_match_independent_python_counts() {
    let split = load_embedded(&LoadOptions::default()).unwrap();
    assert_eq!(split.train.label_counts(), EMBEDDED_TRAIN_LABEL_COUNTS);
    assert_eq!(
        split.validation.label_counts(),
        EMBEDDED_VALIDATION_LABEL_COUNTS
    );
    assert_eq!(split.test.label_counts(), EMBEDDED_TEST_LABEL_COUNTS);
    // The well-known first training labels of MNIST.
    assert_eq!(split.train.labels()[..10], [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
}

#[test]
fn d2_pixels_are_normalised_to_the_unit_interval() {
    let split = load_embedded(&LoadOptions::default()).unwrap();
    let batch = split
        .test
        .batch(&(0..split.test.len()).collect::<Vec<_>>())
        .unwrap();
    let (min, max) = batch
        .inputs
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    assert_eq!((min, max), (0.0, 1.0));
    // Every value is exactly some p / 255.
    assert!(batch
        .inputs
        .iter()
        .all(|&v| normalise_pixel((v * 255.0).round() as u8) == v));
    // Normalisation and permutation keep the pixel sum of the first image.
    let sum: f64 = split
        .train
        .sequence(0)
        .unwrap()
        .iter()
        .map(|v| v * 255.0)
        .sum();
    assert_eq!(sum.round() as u32, FIRST_TRAIN_IMAGE_PIXEL_SUM);
}

#[test]
fn d4_permuted_sample_zero_is_the_original_indexed_by_the_permutation() {
    let split = load_embedded(&LoadOptions::default()).unwrap();
    let (images, _) = embedded_training_file();
    let original = images.image(0).unwrap();
    let perm = permutation(0, 784);
    let permuted = split.train.pixels(0).unwrap();
    for t in 0..784 {
        assert_eq!(permuted[t], original[perm[t]], "step {t}");
    }
    let sequence = split.train.sequence(0).unwrap();
    assert_eq!(sequence[0], normalise_pixel(original[693]));
    // The permutation actually moves pixels: a permuted image differs from the original.
    assert_ne!(permuted, original);
}

#[test]
fn d4_sequential_order_keeps_the_row_major_image_and_other_seeds_differ() {
    let sequential = load_embedded(&LoadOptions {
        pixel_order: PixelOrder::Sequential,
        limit: Some(3),
        ..LoadOptions::default()
    })
    .unwrap();
    let (images, _) = embedded_training_file();
    assert_eq!(
        sequential.train.pixels(2).unwrap(),
        images.image(2).unwrap()
    );
    let seed_one = load_embedded(&LoadOptions {
        pixel_order: PixelOrder::Permuted { seed: 1 },
        limit: Some(3),
        ..LoadOptions::default()
    })
    .unwrap();
    let perm = permutation(1, 784);
    let original = images.image(2).unwrap();
    let expected: Vec<u8> = perm.iter().map(|&source| original[source]).collect();
    assert_eq!(seed_one.train.pixels(2).unwrap(), expected);
}

#[test]
fn d3_validation_is_the_end_of_the_training_file() {
    let split = load_embedded(&LoadOptions {
        pixel_order: PixelOrder::Sequential,
        ..LoadOptions::default()
    })
    .unwrap();
    let (images, labels) = embedded_training_file();
    assert_eq!(
        split.validation.pixels(0).unwrap(),
        images.image(2_500).unwrap()
    );
    assert_eq!(
        split.validation.pixels(499).unwrap(),
        images.image(2_999).unwrap()
    );
    let expected: Vec<u16> = labels[2_500..].iter().copied().map(u16::from).collect();
    assert_eq!(split.validation.labels(), &expected[..]);
    assert_eq!(
        split.train.pixels(2_499).unwrap(),
        images.image(2_499).unwrap()
    );
}

#[test]
fn d3_validation_size_is_a_parameter_and_too_large_is_an_error() {
    let options = |validation_size| LoadOptions {
        validation_size: Some(validation_size),
        ..LoadOptions::default()
    };
    let split = load_embedded(&options(1_000)).unwrap();
    assert_eq!((split.train.len(), split.validation.len()), (2_000, 1_000));
    let split = load_embedded(&options(3_000)).unwrap();
    assert_eq!((split.train.len(), split.validation.len()), (0, 3_000));
    let error = load_embedded(&options(3_001)).unwrap_err();
    assert!(matches!(
        error,
        DataError::ValidationTooLarge {
            requested: 3_001,
            available: 3_000,
            ..
        }
    ));
    assert!(error
        .to_string()
        .contains("embedded:train-images-idx3-ubyte.gz"));
}

#[test]
fn limit_keeps_the_first_samples_of_each_split() {
    let full = load_embedded(&LoadOptions::default()).unwrap();
    let limited = load_embedded(&LoadOptions {
        limit: Some(10),
        ..LoadOptions::default()
    })
    .unwrap();
    assert_eq!(
        (
            limited.train.len(),
            limited.validation.len(),
            limited.test.len()
        ),
        (10, 10, 10)
    );
    assert_eq!(limited.validation.pixels(9), full.validation.pixels(9));
    assert_eq!(limited.test.labels(), &full.test.labels()[..10]);
    let generous = load_embedded(&LoadOptions {
        limit: Some(600),
        ..LoadOptions::default()
    })
    .unwrap();
    assert_eq!(
        (
            generous.train.len(),
            generous.validation.len(),
            generous.test.len()
        ),
        (600, 500, 600)
    );
}

#[test]
fn batches_are_contiguous_row_major_with_labels_and_indices() {
    let split = load_embedded(&LoadOptions {
        limit: Some(20),
        ..LoadOptions::default()
    })
    .unwrap();
    let batch = split.train.batch(&[7, 0, 7]).unwrap();
    assert_eq!(batch.size(), 3);
    assert_eq!(batch.shape(), [3, 784, 1]);
    assert_eq!(batch.inputs.len(), 3 * 784);
    assert_eq!(batch.indices, [7, 0, 7]);
    assert_eq!(
        batch.labels,
        [
            split.train.labels()[7],
            split.train.labels()[0],
            split.train.labels()[7]
        ]
    );
    assert_eq!(&batch.inputs[..784], &split.train.sequence(7).unwrap()[..]);
    assert_eq!(
        &batch.inputs[784..2 * 784],
        &split.train.sequence(0).unwrap()[..]
    );
    let mut reused = batch.clone();
    split.train.fill_batch(&[1], &mut reused).unwrap();
    assert_eq!(reused, split.train.batch(&[1]).unwrap());
    assert!(split.train.batch(&[]).unwrap().inputs.is_empty());
    assert!(matches!(
        split.train.batch(&[0, 20]).unwrap_err(),
        DataError::SampleIndexOutOfRange { index: 20, len: 20 }
    ));
    assert_eq!(split.train.sequence(20), None);
    assert_eq!(split.train.label(20), None);
}

/// Writes the embedded files into `dir`, gzipped as shipped or decompressed.
fn write_embedded_files(dir: &Path, decompress: bool) {
    let sources = embedded::sources();
    for (name, named) in [
        ("train-images-idx3-ubyte", sources.train_images),
        ("train-labels-idx1-ubyte", sources.train_labels),
        ("t10k-images-idx3-ubyte", sources.test_images),
        ("t10k-labels-idx1-ubyte", sources.test_labels),
    ] {
        if decompress {
            let plain = idx::decompress_if_gzip(named.bytes, name).unwrap();
            std::fs::write(dir.join(name), &*plain).unwrap();
        } else {
            std::fs::write(dir.join(format!("{name}.gz")), named.bytes).unwrap();
        }
    }
}

#[test]
fn directory_loader_reads_plain_and_gzipped_files_like_the_embedded_loader() {
    let options = LoadOptions {
        validation_size: Some(500),
        ..LoadOptions::default()
    };
    let embedded = load_embedded(&options).unwrap();
    for decompress in [false, true] {
        let dir = TempDir::new(if decompress { "dir-plain" } else { "dir-gz" });
        write_embedded_files(dir.path(), decompress);
        assert_eq!(load_psmnist(dir.path(), &options).unwrap(), embedded);
        // Without an explicit size the directory loader cuts 10,000, more than 3,000 here.
        assert!(matches!(
            load_psmnist(dir.path(), &LoadOptions::default()).unwrap_err(),
            DataError::ValidationTooLarge {
                requested: 10_000,
                available: 3_000,
                ..
            }
        ));
    }
}

#[test]
fn missing_file_error_names_the_paths_looked_for() {
    let dir = TempDir::new("dir-missing");
    write_embedded_files(dir.path(), false);
    std::fs::remove_file(dir.path().join("t10k-labels-idx1-ubyte.gz")).unwrap();
    let error = load_psmnist(dir.path(), &LoadOptions::default()).unwrap_err();
    let DataError::MissingFile {
        ref plain,
        ref gzipped,
    } = error
    else {
        panic!("expected MissingFile, got {error:?}");
    };
    assert_eq!(plain, &dir.path().join("t10k-labels-idx1-ubyte"));
    assert_eq!(gzipped, &dir.path().join("t10k-labels-idx1-ubyte.gz"));
    let message = error.to_string();
    assert!(message.contains(&plain.display().to_string()), "{message}");
    assert!(message.contains("fetch.sh"), "{message}");
}

#[test]
fn loader_reports_count_mismatch_and_bad_files_by_name() {
    let train_images = image_file(4);
    let train_labels = label_file(&[1, 2, 3]);
    let test_images = gzip(&image_file(2));
    let test_labels = label_file(&[0, 1]);
    let sources = MnistSources {
        train_images: NamedBytes {
            name: "train-img",
            bytes: &train_images,
        },
        train_labels: NamedBytes {
            name: "train-lab",
            bytes: &train_labels,
        },
        test_images: NamedBytes {
            name: "test-img",
            bytes: &test_images,
        },
        test_labels: NamedBytes {
            name: "test-lab",
            bytes: &test_labels,
        },
    };
    let options = LoadOptions {
        validation_size: Some(1),
        ..LoadOptions::default()
    };
    let error = load_psmnist_from_bytes(&sources, &options).unwrap_err();
    assert!(matches!(
        error,
        DataError::CountMismatch { images: 4, labels: 3, ref images_file, ref labels_file }
            if images_file == "train-img" && labels_file == "train-lab"
    ));

    let train_labels = label_file(&[1, 2, 3, 4]);
    let sources = MnistSources {
        train_labels: NamedBytes {
            name: "train-lab",
            bytes: &train_labels,
        },
        ..sources
    };
    let split = load_psmnist_from_bytes(&sources, &options).unwrap();
    assert_eq!(
        (split.train.len(), split.validation.len(), split.test.len()),
        (3, 1, 2)
    );
    assert_eq!(split.validation.labels(), [4]);
}

/// The full MNIST, when data/fetch.sh has been run: 50,000 / 10,000 / 10,000 (D3).
/// Ignored by default because data/full/ is not in the repository and loading takes a second:
/// `cargo test -p hsnn-data -- --ignored`.
#[test]
#[ignore = "needs data/fetch.sh to have downloaded data/full/"]
fn d3_full_mnist_split_sizes_and_label_counts() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("full");
    let split = load_psmnist(&dir, &LoadOptions::default()).unwrap();
    assert_eq!(
        (split.train.len(), split.validation.len(), split.test.len()),
        (50_000, 10_000, 10_000)
    );
    assert_eq!(split.train.label_counts(), FULL_TRAIN_LABEL_COUNTS);
    assert_eq!(
        split.validation.label_counts(),
        FULL_VALIDATION_LABEL_COUNTS
    );
    assert_eq!(split.test.label_counts(), FULL_TEST_LABEL_COUNTS);
    // The embedded subset is the head of the full files.
    let embedded = load_embedded(&LoadOptions::default()).unwrap();
    assert_eq!(split.train.pixels(1_234), embedded.train.pixels(1_234));
    assert_eq!(split.test.pixels(999), embedded.test.pixels(999));
}
