//! IDX reader (spec clause D1).
//!
//! The IDX format (LeCun's MNIST distribution format) is a big-endian header followed by raw
//! data:
//!
//! | bytes | content |
//! |---|---|
//! | 0..4 | magic: `00 00`, data type (`08` = unsigned byte), number of dimensions |
//! | 4 * k + 4 .. 4 * k + 8 | dimension `k` as a big-endian `u32` |
//! | rest | the product of the dimensions, one `u8` each, row-major |
//!
//! MNIST uses two kinds: images, magic [`IMAGES_MAGIC`] `0x00000803` with dimensions
//! `[count, 28, 28]`, and labels, magic [`LABELS_MAGIC`] `0x00000801` with dimension `[count]`
//! and values 0..=9. This module accepts exactly those and rejects everything else with a
//! distinct [`DataError`] variant: bad magic, another number of dimensions, images that are not
//! 28 x 28, a file shorter than its header says (truncated), a file longer than its header says
//! (trailing bytes), labels above 9, and an image file and label file of different lengths.
//!
//! Gzip is transparent: bytes that start with the gzip magic `1f 8b` are decompressed first
//! (an IDX file always starts with `00`, so the two cannot be confused).

use std::borrow::Cow;
use std::io::Read;
use std::path::Path;

use crate::error::DataError;

/// Magic number of an IDX file of unsigned bytes with 3 dimensions: MNIST images (D1).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of unsigned bytes with 1 dimension: MNIST labels (D1).
pub const LABELS_MAGIC: u32 = 0x0000_0801;
/// Rows of an MNIST image (D1).
pub const IMAGE_ROWS: u32 = 28;
/// Columns of an MNIST image (D1).
pub const IMAGE_COLS: u32 = 28;
/// Pixels of one MNIST image, 28 x 28 = 784: the length of one (p)sMNIST sequence.
pub const PIXELS_PER_IMAGE: usize = (IMAGE_ROWS * IMAGE_COLS) as usize;
/// Number of MNIST classes, the digits 0..=9.
pub const NUM_CLASSES: usize = 10;
/// The two bytes every gzip stream starts with.
pub const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Header size of an image file: magic plus three dimensions.
const IMAGES_HEADER_BYTES: usize = 16;
/// Header size of a label file: magic plus one dimension.
const LABELS_HEADER_BYTES: usize = 8;

/// The images of one IDX image file (D1): `count` images of 28 x 28 unsigned-byte pixels,
/// stored image after image, each row-major (pixel `(r, c)` of image `i` is
/// `pixels[i * 784 + r * 28 + c]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxImages {
    count: usize,
    pixels: Vec<u8>,
}

impl IdxImages {
    /// Number of images.
    pub fn count(&self) -> usize {
        self.count
    }

    /// All pixels, `count * 784` bytes, image-major and row-major within an image.
    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }

    /// The 784 pixels of image `index` (row-major), or `None` when out of range.
    pub fn image(&self, index: usize) -> Option<&[u8]> {
        let start = index.checked_mul(PIXELS_PER_IMAGE)?;
        self.pixels.get(start..start.checked_add(PIXELS_PER_IMAGE)?)
    }
}

/// An image file and its label file, checked to hold the same number of items (D1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelledImages {
    images: IdxImages,
    labels: Vec<u8>,
}

impl LabelledImages {
    /// Pairs images with labels; errors with [`DataError::CountMismatch`] when their counts
    /// differ. The file names are used only in that message.
    pub fn new(
        images: IdxImages,
        labels: Vec<u8>,
        images_file: &str,
        labels_file: &str,
    ) -> Result<Self, DataError> {
        if images.count() != labels.len() {
            return Err(DataError::CountMismatch {
                images_file: images_file.to_owned(),
                images: images.count(),
                labels_file: labels_file.to_owned(),
                labels: labels.len(),
            });
        }
        Ok(LabelledImages { images, labels })
    }

    /// Number of (image, label) pairs.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The images.
    pub fn images(&self) -> &IdxImages {
        &self.images
    }

    /// The labels, each 0..=9.
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }
}

/// The most bytes a gzipped IDX file may unpack to (D1): 256 MiB, five times the largest MNIST
/// file (the 47 MB training images), so a small file cannot make hsnn allocate gigabytes.
pub const MAX_UNPACKED_BYTES: u64 = 256 << 20;

/// Returns the bytes decompressed when they start with the gzip magic `1f 8b`, or borrowed
/// unchanged otherwise (D1). `file` names the source in error messages. A stream that unpacks
/// to more than [`MAX_UNPACKED_BYTES`] is refused before more is allocated.
pub fn decompress_if_gzip<'a>(bytes: &'a [u8], file: &str) -> Result<Cow<'a, [u8]>, DataError> {
    if !bytes.starts_with(&GZIP_MAGIC) {
        return Ok(Cow::Borrowed(bytes));
    }
    // MultiGzDecoder so that a file made by concatenating gzip members (as `cat a.gz b.gz`
    // does) reads as the concatenation, like `gzip -d` would.
    let decoder = flate2::read::MultiGzDecoder::new(bytes);
    let mut decompressed = Vec::new();
    decoder
        .take(MAX_UNPACKED_BYTES + 1)
        .read_to_end(&mut decompressed)
        .map_err(|source| DataError::Gzip {
            file: file.to_owned(),
            source,
        })?;
    if decompressed.len() as u64 > MAX_UNPACKED_BYTES {
        return Err(DataError::Gzip {
            file: file.to_owned(),
            source: std::io::Error::other(format!(
                "unpacks to more than {MAX_UNPACKED_BYTES} bytes, the most an MNIST IDX file \
                 may have"
            )),
        });
    }
    Ok(Cow::Owned(decompressed))
}

/// Parses an IDX image file (D1) from its bytes, gzipped or not. `file` names the source in
/// error messages.
pub fn parse_images(bytes: &[u8], file: &str) -> Result<IdxImages, DataError> {
    let bytes = decompress_if_gzip(bytes, file)?;
    let header = Header::read(&bytes, file, "images", IMAGES_MAGIC, IMAGES_HEADER_BYTES)?;
    let [count, rows, cols] = [header.dim(0), header.dim(1), header.dim(2)];
    // Check the image size before computing the payload size: with rows = cols = 28 the
    // product count * 784 + 16 < 2^42 cannot overflow a u64.
    if rows != IMAGE_ROWS || cols != IMAGE_COLS {
        return Err(DataError::UnexpectedImageSize {
            file: file.to_owned(),
            expected_rows: IMAGE_ROWS,
            expected_cols: IMAGE_COLS,
            found_rows: rows,
            found_cols: cols,
        });
    }
    let payload_bytes = u64::from(count) * PIXELS_PER_IMAGE as u64;
    let pixels = take_exact_payload(&bytes, IMAGES_HEADER_BYTES, payload_bytes, file)?;
    Ok(IdxImages {
        // The payload was found in memory, so count <= payload length fits in usize.
        count: count as usize,
        pixels: pixels.to_vec(),
    })
}

/// Parses an IDX label file (D1) from its bytes, gzipped or not; every label must be 0..=9.
/// `file` names the source in error messages.
pub fn parse_labels(bytes: &[u8], file: &str) -> Result<Vec<u8>, DataError> {
    let bytes = decompress_if_gzip(bytes, file)?;
    let header = Header::read(&bytes, file, "labels", LABELS_MAGIC, LABELS_HEADER_BYTES)?;
    let labels = take_exact_payload(&bytes, LABELS_HEADER_BYTES, u64::from(header.dim(0)), file)?;
    if let Some(index) = labels
        .iter()
        .position(|&label| usize::from(label) >= NUM_CLASSES)
    {
        return Err(DataError::InvalidLabel {
            file: file.to_owned(),
            index,
            label: labels[index],
        });
    }
    Ok(labels.to_vec())
}

/// Reads and parses an IDX image file (D1), gzipped or not.
pub fn read_images(path: &Path) -> Result<IdxImages, DataError> {
    parse_images(&read_file(path)?, &path.display().to_string())
}

/// Reads and parses an IDX label file (D1), gzipped or not.
pub fn read_labels(path: &Path) -> Result<Vec<u8>, DataError> {
    parse_labels(&read_file(path)?, &path.display().to_string())
}

/// Reads a whole file, naming it in the error.
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, DataError> {
    std::fs::read(path).map_err(|source| DataError::Io {
        path: path.to_owned(),
        source,
    })
}

/// The validated header of an IDX file: magic checked, dimensions read.
struct Header<'a> {
    dims: &'a [u8],
}

impl<'a> Header<'a> {
    /// Checks the magic number (type byte and dimension count) and that the whole header is
    /// present. `header_bytes` is 4 + 4 * (dimensions of `expected_magic`).
    fn read(
        bytes: &'a [u8],
        file: &str,
        kind: &'static str,
        expected_magic: u32,
        header_bytes: usize,
    ) -> Result<Self, DataError> {
        let truncated = || DataError::Truncated {
            file: file.to_owned(),
            expected_bytes: header_bytes as u64,
            found_bytes: bytes.len() as u64,
        };
        let magic = be_u32(bytes, 0).ok_or_else(truncated)?;
        // The first three bytes say "IDX of unsigned bytes"; the fourth is the number of
        // dimensions, reported separately because it is the usual sign of a swapped file.
        if magic & 0xffff_ff00 != expected_magic & 0xffff_ff00 {
            return Err(DataError::BadMagic {
                file: file.to_owned(),
                kind,
                expected: expected_magic,
                found: magic,
            });
        }
        if magic != expected_magic {
            return Err(DataError::WrongDimensionCount {
                file: file.to_owned(),
                kind,
                expected: expected_magic.to_be_bytes()[3],
                found: magic.to_be_bytes()[3],
                magic,
            });
        }
        let dims = bytes.get(4..header_bytes).ok_or_else(truncated)?;
        Ok(Header { dims })
    }

    /// Dimension `k` (0-based). Only called with `k` below the dimension count checked by
    /// [`Header::read`].
    fn dim(&self, k: usize) -> u32 {
        be_u32(self.dims, 4 * k).unwrap_or(0)
    }
}

/// The big-endian u32 at `offset`, or `None` when fewer than 4 bytes remain.
fn be_u32(bytes: &[u8], offset: usize) -> Option<u32> {
    let word: [u8; 4] = bytes.get(offset..offset.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_be_bytes(word))
}

/// The `payload_bytes` bytes after the header, erroring when the file is shorter (truncated)
/// or longer (trailing bytes) than header plus payload.
fn take_exact_payload<'b>(
    bytes: &'b [u8],
    header_bytes: usize,
    payload_bytes: u64,
    file: &str,
) -> Result<&'b [u8], DataError> {
    let expected_bytes = header_bytes as u64 + payload_bytes;
    let found_bytes = bytes.len() as u64;
    if found_bytes < expected_bytes {
        return Err(DataError::Truncated {
            file: file.to_owned(),
            expected_bytes,
            found_bytes,
        });
    }
    if found_bytes > expected_bytes {
        return Err(DataError::TrailingBytes {
            file: file.to_owned(),
            expected_bytes,
            found_bytes,
        });
    }
    Ok(&bytes[header_bytes..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn be_u32_reads_big_endian_and_refuses_short_input() {
        assert_eq!(be_u32(&[0, 0, 8, 3], 0), Some(IMAGES_MAGIC));
        assert_eq!(be_u32(&[1, 2, 3, 4, 5], 1), Some(0x0203_0405));
        assert_eq!(be_u32(&[1, 2, 3], 0), None);
        assert_eq!(be_u32(&[1, 2, 3, 4], usize::MAX), None);
    }

    #[test]
    fn plain_bytes_are_borrowed_not_copied() {
        let bytes = [0u8, 0, 8, 1, 0, 0, 0, 0];
        assert!(matches!(
            decompress_if_gzip(&bytes, "x"),
            Ok(Cow::Borrowed(_))
        ));
    }

    #[test]
    fn image_accessor_returns_none_out_of_range() {
        let images = IdxImages {
            count: 1,
            pixels: vec![7; PIXELS_PER_IMAGE],
        };
        assert_eq!(images.image(0).map(<[u8]>::len), Some(PIXELS_PER_IMAGE));
        assert_eq!(images.image(1), None);
        assert_eq!(images.image(usize::MAX), None);
    }
}
