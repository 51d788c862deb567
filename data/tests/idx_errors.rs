//! D1: the IDX reader accepts well-formed MNIST files (plain or gzipped) and rejects each kind
//! of malformed file with its own `DataError` variant and a message naming the file.
#![allow(clippy::unwrap_used)]

mod common;

use common::{gzip, idx_bytes, image_file, label_file, TempDir};
use hsnn_data::idx::{
    parse_images, parse_labels, read_images, read_labels, LabelledImages, IMAGES_MAGIC,
    LABELS_MAGIC,
};
use hsnn_data::DataError;

#[test]
fn d1_valid_files_parse() {
    let images = parse_images(&image_file(3), "img").unwrap();
    assert_eq!(images.count(), 3);
    assert_eq!(images.pixels().len(), 3 * 784);
    assert_eq!(images.image(1).unwrap()[..3], [1, 2, 3]);
    assert_eq!(
        parse_labels(&label_file(&[0, 9, 5]), "lab").unwrap(),
        [0, 9, 5]
    );
    // Zero items is a valid (empty) file.
    assert_eq!(parse_images(&image_file(0), "img").unwrap().count(), 0);
    assert!(parse_labels(&label_file(&[]), "lab").unwrap().is_empty());
}

#[test]
fn d1_gzipped_files_parse_transparently() {
    let plain = parse_images(&image_file(2), "img").unwrap();
    assert_eq!(
        parse_images(&gzip(&image_file(2)), "img.gz").unwrap(),
        plain
    );
    assert_eq!(
        parse_labels(&gzip(&label_file(&[4, 2])), "lab.gz").unwrap(),
        [4, 2]
    );
}

#[test]
fn d1_corrupt_gzip_is_a_gzip_error() {
    let mut bytes = gzip(&image_file(1));
    let middle = bytes.len() / 2;
    bytes.truncate(middle);
    let error = parse_images(&bytes, "broken.gz").unwrap_err();
    assert!(matches!(error, DataError::Gzip { ref file, .. } if file == "broken.gz"));
    assert!(error.to_string().contains("broken.gz"));
}

#[test]
fn d1_bad_magic_is_rejected() {
    let bytes = idx_bytes(0x1234_5678, &[1, 28, 28], &[0; 784]);
    let error = parse_images(&bytes, "weird-file").unwrap_err();
    assert!(matches!(
        error,
        DataError::BadMagic {
            expected: IMAGES_MAGIC,
            found: 0x1234_5678,
            kind: "images",
            ..
        }
    ));
    let message = error.to_string();
    assert!(message.contains("weird-file"), "{message}");
    assert!(
        message.contains("0x00000803") && message.contains("0x12345678"),
        "{message}"
    );

    // Right dimension count but a signed-int data type (0x0C) is still a bad magic.
    let bytes = idx_bytes(0x0000_0C01, &[1], &[0; 4]);
    assert!(matches!(
        parse_labels(&bytes, "labels").unwrap_err(),
        DataError::BadMagic {
            expected: LABELS_MAGIC,
            found: 0x0000_0C01,
            kind: "labels",
            ..
        }
    ));
}

#[test]
fn d1_wrong_number_of_dimensions_is_rejected() {
    // A label file given where images are expected (the usual mix-up).
    let error = parse_images(&label_file(&[1, 2]), "swapped").unwrap_err();
    assert!(matches!(
        error,
        DataError::WrongDimensionCount {
            expected: 3,
            found: 1,
            kind: "images",
            ..
        }
    ));
    assert!(error.to_string().contains("swapped"));
    let error = parse_labels(&image_file(1), "swapped").unwrap_err();
    assert!(matches!(
        error,
        DataError::WrongDimensionCount {
            expected: 1,
            found: 3,
            kind: "labels",
            ..
        }
    ));
}

#[test]
fn d1_images_that_are_not_28x28_are_rejected() {
    let bytes = idx_bytes(IMAGES_MAGIC, &[1, 28, 27], &[0; 28 * 27]);
    let error = parse_images(&bytes, "small").unwrap_err();
    assert!(matches!(
        error,
        DataError::UnexpectedImageSize {
            found_rows: 28,
            found_cols: 27,
            ..
        }
    ));
    let message = error.to_string();
    assert!(
        message.contains("28x28") && message.contains("28x27"),
        "{message}"
    );
}

#[test]
fn d1_truncated_files_are_rejected() {
    // Shorter than the magic number.
    assert!(matches!(
        parse_images(&[0, 0, 8], "tiny").unwrap_err(),
        DataError::Truncated {
            expected_bytes: 16,
            found_bytes: 3,
            ..
        }
    ));
    // An empty file.
    assert!(matches!(
        parse_labels(&[], "empty").unwrap_err(),
        DataError::Truncated {
            expected_bytes: 8,
            found_bytes: 0,
            ..
        }
    ));
    // Header cut short after the magic.
    assert!(matches!(
        parse_images(&image_file(1)[..10], "cut").unwrap_err(),
        DataError::Truncated {
            expected_bytes: 16,
            found_bytes: 10,
            ..
        }
    ));
    // Payload shorter than the header says: 2 images declared, 1.5 present.
    let mut bytes = image_file(2);
    bytes.truncate(16 + 784 + 392);
    let error = parse_images(&bytes, "half").unwrap_err();
    assert!(matches!(
        error,
        DataError::Truncated {
            expected_bytes: 1584,
            found_bytes: 1192,
            ..
        }
    ));
    let message = error.to_string();
    assert!(message.contains("half") && message.contains("1584") && message.contains("1192"));
    // Labels: 5 declared, 4 present.
    let bytes = idx_bytes(LABELS_MAGIC, &[5], &[1, 2, 3, 4]);
    assert!(matches!(
        parse_labels(&bytes, "labels").unwrap_err(),
        DataError::Truncated {
            expected_bytes: 13,
            found_bytes: 12,
            ..
        }
    ));
}

#[test]
fn d1_trailing_bytes_are_rejected() {
    let mut bytes = image_file(1);
    bytes.push(0);
    let error = parse_images(&bytes, "long").unwrap_err();
    assert!(matches!(
        error,
        DataError::TrailingBytes {
            expected_bytes: 800,
            found_bytes: 801,
            ..
        }
    ));
    assert!(error.to_string().contains("1 unexpected trailing byte"));
    let mut bytes = label_file(&[1, 2]);
    bytes.extend_from_slice(b"junk");
    assert!(matches!(
        parse_labels(&bytes, "labels").unwrap_err(),
        DataError::TrailingBytes {
            expected_bytes: 10,
            found_bytes: 14,
            ..
        }
    ));
}

#[test]
fn d1_labels_above_nine_are_rejected() {
    let error = parse_labels(&label_file(&[3, 9, 10, 200]), "bad-labels").unwrap_err();
    assert!(matches!(
        error,
        DataError::InvalidLabel {
            index: 2,
            label: 10,
            ..
        }
    ));
    let message = error.to_string();
    assert!(
        message.contains("bad-labels") && message.contains("10"),
        "{message}"
    );
}

#[test]
fn d1_image_and_label_counts_must_match() {
    let images = parse_images(&image_file(3), "imgs").unwrap();
    let labels = parse_labels(&label_file(&[1, 2]), "labs").unwrap();
    let error = LabelledImages::new(images, labels, "imgs", "labs").unwrap_err();
    assert!(matches!(
        error,
        DataError::CountMismatch {
            images: 3,
            labels: 2,
            ..
        }
    ));
    let message = error.to_string();
    assert!(
        message.contains("imgs") && message.contains("labs"),
        "{message}"
    );
}

#[test]
fn d1_reading_a_missing_path_names_it() {
    let dir = TempDir::new("idx-missing");
    let path = dir.path().join("nope-images");
    let error = read_images(&path).unwrap_err();
    assert!(matches!(error, DataError::Io { .. }));
    assert!(error.to_string().contains("nope-images"));
    assert!(matches!(
        read_labels(&path).unwrap_err(),
        DataError::Io { .. }
    ));
}

#[test]
fn d1_reading_files_from_disk_works_plain_and_gzipped() {
    let dir = TempDir::new("idx-read");
    let plain = dir.path().join("images");
    let gzipped = dir.path().join("labels.gz");
    std::fs::write(&plain, image_file(2)).unwrap();
    std::fs::write(&gzipped, gzip(&label_file(&[7, 1]))).unwrap();
    assert_eq!(read_images(&plain).unwrap().count(), 2);
    assert_eq!(read_labels(&gzipped).unwrap(), [7, 1]);
}

/// E3: a gzip stream that unpacks past `MAX_UNPACKED_BYTES` (256 MiB) is refused at the bound,
/// not unpacked into memory: here 257 MiB of zeros, about 260 KB gzipped.
#[test]
fn e3_gzip_bomb_is_refused_at_the_bound() {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..257 {
        encoder.write_all(&zeros).unwrap();
    }
    let bomb = encoder.finish().unwrap();
    assert!(bomb.len() < 2 << 20, "{} bytes", bomb.len());
    let error = hsnn_data::idx::parse_images(&bomb, "bomb.gz").unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("bomb.gz") && message.contains("268435456"),
        "{message}"
    );
}
