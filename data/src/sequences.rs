//! Labelled sequences from a numpy `.npz` file (SPEC.md clause D7): the data source for any
//! task besides psMNIST (keyword features, sensor streams), read with `ndarray-npy`.
//!
//! The file holds four arrays, named as `keras.datasets` names them: `x_train` and `x_test`,
//! the sequences `[N, T, F]` (or `[N, T]`, one feature per step), and `y_train` and `y_test`,
//! one integer label per sequence. Validation is cut from the end of `x_train`, as D3 cuts it
//! from MNIST's training file. Everything is checked before any sequence is used, and a bad
//! file is refused naming the file, the array and what is wrong: a missing array, a dtype that
//! is not a number, a shape of another rank or disagreeing with the other arrays, a value that
//! is not finite (with its sample, step and feature), a label outside `0..classes`.

use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};

use ndarray::ArrayD;
use ndarray_npy::npy::header::Header;
use ndarray_npy::ReadNpyExt;
use sha2::{Digest, Sha256};
use zip_for_npz::ZipArchive;

use crate::labelled::LabelledSequences;

/// The most bytes one array of a sequence file may unpack to (8 GiB): an archive is refused
/// before a larger entry is read, so a small compressed file cannot fill the memory.
pub const MAX_ARRAY_BYTES: u64 = 8 << 30;

/// What is wrong with a sequence file (D7). Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum SequenceFileError {
    /// The file could not be read.
    #[error("cannot read the sequence file {file}: {message}")]
    Unreadable {
        /// The file.
        file: PathBuf,
        /// What the system or the npz reader said.
        message: String,
    },
    /// A required array is absent.
    #[error("the sequence file {file} has no array `{array}` (it has: {present})")]
    MissingArray {
        /// The file.
        file: PathBuf,
        /// The array looked for.
        array: String,
        /// The arrays it has, comma-separated.
        present: String,
    },
    /// An array is not what hsnn can use.
    #[error("array `{array}` of the sequence file {file}: {reason}")]
    BadArray {
        /// The file.
        file: PathBuf,
        /// The array.
        array: String,
        /// What is wrong, with the value or index concerned.
        reason: String,
    },
}

/// `reader` to its end, or `None` when it holds more than `limit` bytes (of which at most
/// `limit + 1` are read: a deflated entry is never unpacked past the limit).
fn read_at_most(reader: impl Read, limit: u64) -> std::io::Result<Option<Vec<u8>>> {
    let mut bytes = Vec::new();
    reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= limit).then_some(bytes))
}

/// An `.npy` array of element type `T`, each value widened losslessly to `W` (f64 for reals,
/// i64 for integers).
fn widened<T, W>(bytes: &[u8]) -> Result<ArrayD<W>, ndarray_npy::ReadNpyError>
where
    T: ndarray_npy::ReadableElement + Copy + Into<W>,
{
    Ok(ArrayD::<T>::read_npy(bytes)?.mapv(Into::into))
}

/// The dtypes hsnn reads, without their byte order: float32 and float64, signed integers of
/// 8 to 64 bits, unsigned of 8 to 32 (a uint64 may not fit the i64 labels are read as).
const READ_DTYPES: [&str; 9] = ["f4", "f8", "i8", "i4", "i2", "i1", "u1", "u2", "u4"];

/// A sequence array before its labels are read: `steps * features` values per sequence.
struct Unlabelled {
    steps: usize,
    features: usize,
    values: Vec<f64>,
}

/// Where a sequence file's splits came from, as a model records it (D7, E2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequenceFileProvenance {
    /// The file as given.
    pub file: PathBuf,
    /// Its SHA-256, lower-case hexadecimal.
    pub sha256: String,
    /// The split rule, in words.
    pub split_rule: String,
}

/// The three splits of a sequence file and where they came from.
#[derive(Debug, Clone, PartialEq)]
pub struct SequenceFile {
    /// The training split (`x_train` without its last `validation_size` sequences).
    pub train: LabelledSequences,
    /// The validation split (the last `validation_size` sequences of `x_train`).
    pub validation: LabelledSequences,
    /// The test split (`x_test`).
    pub test: LabelledSequences,
    /// Where they came from.
    pub provenance: SequenceFileProvenance,
}

/// How to read a sequence file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SequenceFileOptions {
    /// Sequences cut from the end of `x_train` for validation (D3's rule); `None` cuts a
    /// tenth of them, rounded down, and at least one ([`default_validation_size`]).
    pub validation_size: Option<usize>,
    /// Labels must lie in `0..classes` (the network's outputs).
    pub classes: usize,
    /// Keep only the first `limit` sequences of each split; `None` keeps all.
    pub limit: Option<usize>,
}

/// The validation split a sequence file gets when none is asked for (D7): a tenth of its
/// `x_train` sequences, rounded down, and at least one.
pub fn default_validation_size(training_sequences: usize) -> usize {
    (training_sequences / 10).max(1)
}

/// Reads and checks the sequence file `path` (D7).
pub fn read_sequence_file(
    path: &Path,
    options: &SequenceFileOptions,
) -> Result<SequenceFile, SequenceFileError> {
    let bytes = std::fs::read(path).map_err(|error| SequenceFileError::Unreadable {
        file: path.to_path_buf(),
        message: error.to_string(),
    })?;
    parse_sequence_file(&bytes, path, options)
}

/// Checks the bytes of a sequence file, named `path` in errors and in the provenance (D7).
pub fn parse_sequence_file(
    bytes: &[u8],
    path: &Path,
    options: &SequenceFileOptions,
) -> Result<SequenceFile, SequenceFileError> {
    let unreadable = |message: String| SequenceFileError::Unreadable {
        file: path.to_path_buf(),
        message,
    };
    let sha256 = Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect::<String>();
    let mut archive = ZipArchive::new(Cursor::new(bytes))
        .map_err(|error| unreadable(format!("not an .npz archive ({error})")))?;
    let names: Vec<String> = archive
        .file_names()
        .map(|name| name.strip_suffix(".npy").unwrap_or(name).to_string())
        .collect();
    let mut reader = ArrayReader {
        file: path,
        archive: &mut archive,
        names: &names,
    };
    let x_train = reader.sequences("x_train")?;
    let x_test = reader.sequences("x_test")?;
    let bad = |array: &str, reason: String| SequenceFileError::BadArray {
        file: path.to_path_buf(),
        array: array.to_string(),
        reason,
    };
    if (x_test.steps, x_test.features) != (x_train.steps, x_train.features) {
        return Err(bad(
            "x_test",
            format!(
                "its sequences are {} steps of {} features, x_train's {} of {}",
                x_test.steps, x_test.features, x_train.steps, x_train.features
            ),
        ));
    }
    let train = reader.labelled(x_train, "y_train", options.classes)?;
    let test = reader.labelled(x_test, "y_test", options.classes)?;
    let validation_size = options
        .validation_size
        .unwrap_or_else(|| default_validation_size(train.len()));
    if validation_size >= train.len() {
        return Err(bad(
            "x_train",
            format!(
                "holds {} sequences, which leaves none for training after a validation \
                 split of {}",
                train.len(),
                validation_size
            ),
        ));
    }
    let validation_start = train.len() - validation_size;
    let (train, validation) = train.split_off(validation_start);
    let limit = |split: LabelledSequences| match options.limit {
        Some(limit) => split.truncated(limit),
        None => split,
    };
    Ok(SequenceFile {
        train: limit(train),
        validation: limit(validation),
        test: limit(test),
        provenance: SequenceFileProvenance {
            file: path.to_path_buf(),
            sha256,
            split_rule: format!(
                "train: x_train without its last {size}; validation: the last {size} of \
                 x_train; test: x_test",
                size = validation_size
            ),
        },
    })
}

/// Reads the arrays of one archive, naming the file in every error.
struct ArrayReader<'a, 'b> {
    file: &'a Path,
    archive: &'a mut ZipArchive<Cursor<&'b [u8]>>,
    names: &'a [String],
}

/// An array's values as read, before any check.
enum Values {
    Reals(ArrayD<f64>),
    Integers(ArrayD<i64>),
}

impl ArrayReader<'_, '_> {
    fn bad(&self, array: &str, reason: String) -> SequenceFileError {
        SequenceFileError::BadArray {
            file: self.file.to_path_buf(),
            array: array.to_string(),
            reason,
        }
    }

    /// Array `name`, in the element type its dtype names. The entry is unpacked (at most
    /// [`MAX_ARRAY_BYTES`]) and its header's shape checked against the bytes it holds before
    /// the values are read, so no header can make the reader allocate more than the file has.
    fn read(&mut self, name: &str) -> Result<Values, SequenceFileError> {
        let Some(index) = self.names.iter().position(|present| present == name) else {
            return Err(SequenceFileError::MissingArray {
                file: self.file.to_path_buf(),
                array: name.to_string(),
                present: self.names.join(", "),
            });
        };
        let unpacked = match self.archive.by_index(index) {
            Ok(entry) => read_at_most(entry, MAX_ARRAY_BYTES)
                .map_err(|error| format!("cannot be unpacked ({error})")),
            Err(error) => Err(error.to_string()),
        };
        let Some(bytes) = unpacked.map_err(|reason| self.bad(name, reason))? else {
            return Err(self.bad(
                name,
                format!("unpacks to more than {MAX_ARRAY_BYTES} bytes, hsnn's limit per array"),
            ));
        };
        let mut cursor = Cursor::new(bytes.as_slice());
        let header = Header::from_reader(&mut cursor)
            .map_err(|error| self.bad(name, format!("is not a .npy array ({error})")))?;
        let data = bytes.len() - cursor.position() as usize;
        let dtype = header.type_descriptor.to_string();
        let dtype = dtype.trim_matches(|c| c == '\'' || c == '"');
        let kind = dtype.trim_start_matches(['<', '>', '|', '=']);
        // Before the size check: a dtype hsnn does not read (strings, objects) is named as
        // such, not as a damaged array.
        let unsupported = || {
            self.bad(
                name,
                format!(
                    "has dtype {dtype}, which hsnn does not read (float32, float64, or \
                     integers of up to 64 bits signed or 32 bits unsigned)"
                ),
            )
        };
        if !READ_DTYPES.contains(&kind) {
            return Err(unsupported());
        }
        // The element size is the dtype's trailing digits ('<f4', '|u1', '>i8', ...).
        let item_size: usize = dtype
            .trim_start_matches(['<', '>', '|', '='])
            .get(1..)
            .and_then(|digits| digits.parse().ok())
            .unwrap_or(0);
        let values = header
            .shape
            .iter()
            .try_fold(1usize, |product, &extent| product.checked_mul(extent));
        if values.and_then(|count| count.checked_mul(item_size)) != Some(data) && item_size > 0 {
            return Err(self.bad(
                name,
                format!(
                    "declares shape {:?} of {dtype}, which its {data} bytes of data do not hold",
                    header.shape
                ),
            ));
        }
        let bytes = bytes.as_slice();
        let failed = |error: ndarray_npy::ReadNpyError| self.bad(name, error.to_string());
        Ok(match kind {
            "f4" => Values::Reals(widened::<f32, f64>(bytes).map_err(failed)?),
            "f8" => Values::Reals(widened::<f64, f64>(bytes).map_err(failed)?),
            "i8" => Values::Integers(widened::<i64, i64>(bytes).map_err(failed)?),
            "i4" => Values::Integers(widened::<i32, i64>(bytes).map_err(failed)?),
            "i2" => Values::Integers(widened::<i16, i64>(bytes).map_err(failed)?),
            "i1" => Values::Integers(widened::<i8, i64>(bytes).map_err(failed)?),
            "u1" => Values::Integers(widened::<u8, i64>(bytes).map_err(failed)?),
            "u2" => Values::Integers(widened::<u16, i64>(bytes).map_err(failed)?),
            "u4" => Values::Integers(widened::<u32, i64>(bytes).map_err(failed)?),
            // READ_DTYPES holds exactly the arms above.
            _ => return Err(unsupported()),
        })
    }

    /// The sequences of array `name`: `[N, T, F]` or `[N, T]`, every value finite.
    fn sequences(&mut self, name: &str) -> Result<Unlabelled, SequenceFileError> {
        let array = match self.read(name)? {
            Values::Reals(array) => array,
            Values::Integers(array) => array.mapv(|value| value as f64),
        };
        let shape = array.shape().to_vec();
        let (count, steps, features) = match shape[..] {
            [count, steps] => (count, steps, 1),
            [count, steps, features] => (count, steps, features),
            _ => {
                return Err(self.bad(
                    name,
                    format!("has shape {shape:?}; sequences are [N, T, F] or [N, T] (one feature)"),
                ))
            }
        };
        if count == 0 {
            return Err(self.bad(name, format!("has shape {shape:?}: no sequences")));
        }
        if steps == 0 || features == 0 {
            return Err(self.bad(name, format!("has shape {shape:?}, with empty sequences")));
        }
        // Sample-major, step-major within a sample, whatever the file's memory order.
        let values: Vec<f64> = array.iter().copied().collect();
        if let Some(index) = values.iter().position(|value| !value.is_finite()) {
            let per_sample = steps * features;
            return Err(self.bad(
                name,
                format!(
                    "value {} at sample {}, step {}, feature {} is not finite",
                    values[index],
                    index / per_sample,
                    index % per_sample / features,
                    index % features
                ),
            ));
        }
        debug_assert_eq!(values.len(), count * steps * features);
        Ok(Unlabelled {
            steps,
            features,
            values,
        })
    }

    /// `sequences` with the labels of array `name`: integers, one per sequence, each in
    /// `0..classes` (and at most 65,535: a split keeps its labels in 16 bits).
    fn labelled(
        &mut self,
        sequences: Unlabelled,
        name: &str,
        classes: usize,
    ) -> Result<LabelledSequences, SequenceFileError> {
        let count = sequences.values.len() / (sequences.steps * sequences.features);
        let labels = match self.read(name)? {
            Values::Integers(labels) => labels,
            Values::Reals(_) => {
                return Err(self.bad(
                    name,
                    "holds floating-point numbers; labels are integers".to_string(),
                ))
            }
        };
        if labels.shape() != [count] {
            return Err(self.bad(
                name,
                format!(
                    "has shape {:?}; it needs one label per sequence, [{count}]",
                    labels.shape()
                ),
            ));
        }
        let mut checked = Vec::with_capacity(count);
        for (index, &label) in labels.iter().enumerate() {
            match u16::try_from(label) {
                Ok(label) if usize::from(label) < classes => checked.push(label),
                _ => {
                    return Err(self.bad(
                        name,
                        format!(
                            "label {label} of sequence {index} is outside 0..{classes} (the \
                             network's outputs)"
                        ),
                    ))
                }
            }
        }
        let Unlabelled {
            steps,
            features,
            values,
        } = sequences;
        // The shape was checked as the array was read, so this cannot fail; the error is
        // passed on rather than trusted away.
        LabelledSequences::from_values(steps, features, values, checked)
            .map_err(|error| self.bad(name, error.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array1, Array2, Array3};
    use ndarray_npy::NpzWriter;

    /// An .npz with the given arrays, written by the same library numpy's format is read with
    /// (numpy writes the same format: the Python tests write theirs with numpy itself).
    fn npz(
        folder: &Path,
        name: &str,
        write: impl FnOnce(&mut NpzWriter<std::fs::File>),
    ) -> PathBuf {
        let path = folder.join(name);
        let mut writer = NpzWriter::new(std::fs::File::create(&path).expect("create"));
        write(&mut writer);
        writer.finish().expect("finish");
        path
    }

    /// An archive at `path` holding only `x_train.npy` with the bytes `npy`, stored: for
    /// entries the npz writer would not make.
    fn x_train_only(path: &Path, npy: &[u8]) -> PathBuf {
        use std::io::Write;
        let mut archive = zip_for_npz::ZipWriter::new(std::fs::File::create(path).expect("file"));
        let stored = zip_for_npz::write::SimpleFileOptions::default()
            .compression_method(zip_for_npz::CompressionMethod::Stored);
        archive.start_file("x_train.npy", stored).expect("entry");
        archive.write_all(npy).expect("write");
        archive.finish().expect("finish");
        path.to_path_buf()
    }

    fn scratch(name: &str) -> PathBuf {
        let folder =
            std::env::temp_dir().join(format!("hsnn-sequences-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&folder).expect("scratch folder");
        folder
    }

    fn options() -> SequenceFileOptions {
        SequenceFileOptions {
            validation_size: Some(2),
            classes: 3,
            limit: None,
        }
    }

    /// x[i, t, f] = 100 i + 10 t + f: every value says where it belongs.
    fn sequences(count: usize, steps: usize, features: usize) -> Array3<f32> {
        Array3::from_shape_fn((count, steps, features), |(i, t, f)| {
            (100 * i + 10 * t + f) as f32
        })
    }

    fn good(folder: &Path) -> PathBuf {
        npz(folder, "good.npz", |writer| {
            writer.add_array("x_train", &sequences(5, 4, 2)).expect("x");
            writer
                .add_array("y_train", &Array1::from(vec![0i64, 1, 2, 0, 1]))
                .expect("y");
            writer.add_array("x_test", &sequences(3, 4, 2)).expect("x");
            writer
                .add_array("y_test", &Array1::from(vec![2u8, 2, 0]))
                .expect("y");
        })
    }

    /// D7: the splits hold the file's values where they belong, validation is the end of
    /// x_train, the provenance names the file's SHA-256 (recomputed here) and the rule.
    #[test]
    fn d7_a_sequence_file_gives_its_three_splits() {
        let folder = scratch("good");
        let path = good(&folder);
        let file = read_sequence_file(&path, &options()).expect("a good file");
        assert_eq!(
            (file.train.len(), file.validation.len(), file.test.len()),
            (3, 2, 3)
        );
        assert_eq!((file.train.steps(), file.train.features()), (4, 2));
        assert_eq!(file.train.labels(), &[0, 1, 2]);
        assert_eq!(file.validation.labels(), &[0, 1]);
        assert_eq!(file.test.labels(), &[2, 2, 0]);
        // Sequence 1 of validation is x_train's sequence 4; its step 3, feature 1 is 431.
        let sequence = file.validation.sequence(1).expect("sequence");
        assert_eq!(sequence.len(), 8);
        assert_eq!(sequence[3 * 2 + 1], 431.0);
        assert_eq!(file.test.sequence(2).expect("sequence")[0], 200.0);
        assert!(file.test.sequence(3).is_none());
        let digest = Sha256::digest(std::fs::read(&path).expect("bytes"));
        assert_eq!(file.provenance.sha256.len(), 64);
        assert_eq!(
            file.provenance.sha256,
            digest
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
        assert!(file.provenance.split_rule.contains("last 2 of x_train"));
        let limited = read_sequence_file(
            &path,
            &SequenceFileOptions {
                limit: Some(1),
                ..options()
            },
        )
        .expect("limited");
        assert_eq!(
            (
                limited.train.len(),
                limited.validation.len(),
                limited.test.len()
            ),
            (1, 1, 1)
        );
        assert_eq!(limited.validation.labels(), &[0]);
        std::fs::remove_dir_all(folder).ok();
    }

    /// D7: two-dimensional sequences are one feature per step; float64 and integer sequences
    /// read as well.
    #[test]
    fn d7_sequences_of_one_feature_and_other_dtypes_read() {
        let folder = scratch("flat");
        let path = npz(&folder, "flat.npz", |writer| {
            let x = Array2::from_shape_fn((4, 3), |(i, t)| (10 * i + t) as f64);
            writer.add_array("x_train", &x).expect("x");
            writer
                .add_array("y_train", &Array1::from(vec![0i32, 1, 1, 0]))
                .expect("y");
            let x_test = Array2::from_shape_fn((1, 3), |(_, t)| t as u8);
            writer.add_array("x_test", &x_test).expect("x");
            writer
                .add_array("y_test", &Array1::from(vec![1i64]))
                .expect("y");
        });
        let file = read_sequence_file(
            &path,
            &SequenceFileOptions {
                validation_size: Some(1),
                ..options()
            },
        )
        .expect("a good file");
        assert_eq!((file.train.steps(), file.train.features()), (3, 1));
        assert_eq!(file.validation.sequence(0), Some(vec![30.0, 31.0, 32.0]));
        assert_eq!(file.test.sequence(0), Some(vec![0.0, 1.0, 2.0]));
        std::fs::remove_dir_all(folder).ok();
    }

    /// D7: an archive whose entries are deflated, as `np.savez_compressed` writes it, reads
    /// the same as a stored one.
    #[test]
    fn d7_a_compressed_archive_reads_like_a_stored_one() {
        use ndarray_npy::WriteNpyExt;
        use std::io::Write;
        let folder = scratch("compressed");
        let stored = read_sequence_file(&good(&folder), &options()).expect("stored");
        let path = folder.join("compressed.npz");
        let mut archive = zip_for_npz::ZipWriter::new(std::fs::File::create(&path).expect("file"));
        let deflated = zip_for_npz::write::SimpleFileOptions::default()
            .compression_method(zip_for_npz::CompressionMethod::Deflated);
        let mut entry = |name: &str, npy: Vec<u8>| {
            archive
                .start_file(format!("{name}.npy"), deflated)
                .expect("entry");
            archive.write_all(&npy).expect("write");
        };
        let npy = |write: &dyn Fn(&mut Vec<u8>)| {
            let mut bytes = Vec::new();
            write(&mut bytes);
            bytes
        };
        entry(
            "x_train",
            npy(&|out| sequences(5, 4, 2).write_npy(out).expect("npy")),
        );
        entry(
            "y_train",
            npy(&|out| {
                Array1::from(vec![0i64, 1, 2, 0, 1])
                    .write_npy(out)
                    .expect("npy")
            }),
        );
        entry(
            "x_test",
            npy(&|out| sequences(3, 4, 2).write_npy(out).expect("npy")),
        );
        entry(
            "y_test",
            npy(&|out| Array1::from(vec![2u8, 2, 0]).write_npy(out).expect("npy")),
        );
        archive.finish().expect("finish");
        let compressed = read_sequence_file(&path, &options()).expect("compressed");
        assert_eq!(
            (&compressed.train, &compressed.validation, &compressed.test),
            (&stored.train, &stored.validation, &stored.test)
        );
        assert_ne!(compressed.provenance.sha256, stored.provenance.sha256);
        std::fs::remove_dir_all(folder).ok();
    }

    /// E1 and D7: a header that declares more values than its entry holds (here 2 x 10^12,
    /// 8 TB of float32) is refused before anything is allocated for them.
    #[test]
    fn d7_a_header_declaring_more_than_its_data_is_refused_unallocated() {
        use ndarray_npy::WriteNpyExt;
        let folder = scratch("declared");
        for (shape, declared) in [
            ("(5, 4, 2)", "(9, 4, 2)"),
            ("(5, 4, 2)", "(999999, 999999, 2)"),
        ] {
            let mut npy = Vec::new();
            sequences(5, 4, 2).write_npy(&mut npy).expect("npy");
            // Rewrite the shape in the header's text, taking the extra characters from the
            // padding spaces before its newline, so the header keeps its length.
            let find = |needle: &[u8]| {
                npy.windows(needle.len())
                    .position(|window| window == needle)
                    .expect("in the header")
            };
            let (start, newline) = (find(shape.as_bytes()), find(b"\n"));
            let grown = declared.len() - shape.len();
            assert!(npy[newline - grown..newline]
                .iter()
                .all(|&byte| byte == b' '));
            let mut patched = npy[..start].to_vec();
            patched.extend_from_slice(declared.as_bytes());
            patched.extend_from_slice(&npy[start + shape.len()..newline - grown]);
            patched.extend_from_slice(&npy[newline..]);
            assert_eq!(patched.len(), npy.len());
            let path = x_train_only(&folder.join("declared.npz"), &patched);
            let error = read_sequence_file(&path, &options())
                .expect_err(declared)
                .to_string();
            assert!(
                error.contains("`x_train`") && error.contains("do not hold"),
                "{error}"
            );
        }
        std::fs::remove_dir_all(folder).ok();
    }

    /// D7: validation defaults to a tenth of `x_train`, rounded down, and at least one.
    #[test]
    fn d7_the_default_validation_is_a_tenth_and_at_least_one() {
        assert_eq!(default_validation_size(5), 1);
        assert_eq!(default_validation_size(25), 2);
        assert_eq!(default_validation_size(100), 10);
    }

    /// D7: an entry is read to its end up to the limit, and refused past it having read one
    /// byte more than the limit at most.
    #[test]
    fn d7_an_entry_is_unpacked_up_to_the_limit_and_no_further() {
        let ten: Vec<u8> = (0..10).collect();
        assert_eq!(read_at_most(&ten[..], 10).expect("read"), Some(ten.clone()));
        assert_eq!(read_at_most(&ten[..], 11).expect("read"), Some(ten.clone()));
        assert_eq!(read_at_most(&ten[..], 9).expect("read"), None);
        let mut endless = std::io::repeat(7);
        assert_eq!(read_at_most(&mut endless, 1 << 20).expect("read"), None);
    }

    /// D7: labels of every integer dtype numpy writes (but unsigned 64-bit) read as the same
    /// labels, and values of every numeric dtype as the same values.
    #[test]
    fn d7_every_integer_dtype_reads() {
        let folder = scratch("dtypes");
        fn labelled<T: ndarray_npy::WritableElement>(
            folder: &Path,
            name: &str,
            x: Array2<T>,
            y: Array1<T>,
        ) -> SequenceFile {
            let path = npz(folder, name, |writer| {
                writer.add_array("x_train", &x).expect("x");
                writer.add_array("y_train", &y).expect("y");
                writer.add_array("x_test", &x).expect("x");
                writer.add_array("y_test", &y).expect("y");
            });
            read_sequence_file(
                &path,
                &SequenceFileOptions {
                    validation_size: Some(1),
                    ..options()
                },
            )
            .expect(name)
        }
        let expected_x = vec![2.0, 0.0, 1.0];
        macro_rules! check {
            ($type:ty) => {
                let x = Array2::from_shape_vec((3, 3), vec![0, 1, 2, 1, 2, 0, 2, 0, 1])
                    .expect("shape")
                    .mapv(|value: u8| value as $type);
                let y = Array1::from(vec![0, 1, 2]).mapv(|value: u8| value as $type);
                let file = labelled(&folder, concat!(stringify!($type), ".npz"), x, y);
                assert_eq!(file.train.labels(), &[0, 1], stringify!($type));
                assert_eq!(file.test.labels(), &[0, 1, 2], stringify!($type));
                let splits = crate::Splits::from(file.clone());
                assert_eq!(
                    (&splits.train, &splits.validation, &splits.test),
                    (&file.train, &file.validation, &file.test)
                );
                assert_eq!(
                    file.validation.sequence(0),
                    Some(expected_x.clone()),
                    stringify!($type)
                );
            };
        }
        check!(i8);
        check!(i16);
        check!(i32);
        check!(i64);
        check!(u8);
        check!(u16);
        check!(u32);
        std::fs::remove_dir_all(folder).ok();
    }

    /// D7: an array of a dtype hsnn does not read (numpy's object arrays, pickled) is refused
    /// naming the dtype, and sequences with no steps are refused as empty.
    #[test]
    fn d7_object_arrays_and_empty_sequences_are_refused() {
        let folder = scratch("object");
        // Arrays of numpy's object dtype (pickled) and of strings ('<U3': 4 bytes a
        // character): headers hsnn parses, dtypes it does not read, named as such.
        for (descr, data) in [("|O", &b"\x80\x04pickled"[..]), ("<U3", &[0u8; 24][..])] {
            let header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': (2,), }}");
            let mut npy = b"\x93NUMPY\x01\x00".to_vec();
            let padded = format!("{header:<117}\n");
            npy.extend_from_slice(&u16::try_from(padded.len()).expect("short").to_le_bytes());
            npy.extend_from_slice(padded.as_bytes());
            npy.extend_from_slice(data);
            let path = x_train_only(&folder.join("object.npz"), &npy);
            let error = read_sequence_file(&path, &options())
                .expect_err(descr)
                .to_string();
            assert!(
                error.contains("`x_train`")
                    && error.contains(descr)
                    && error.contains("which hsnn does not read"),
                "{error}"
            );
        }
        let empty = npz(&folder, "empty.npz", |writer| {
            let x = Array3::<f32>::zeros((3, 0, 2));
            writer.add_array("x_train", &x).expect("x");
        });
        let error = read_sequence_file(&empty, &options())
            .expect_err("no steps")
            .to_string();
        assert!(error.contains("empty sequences"), "{error}");
        // No test sequences at all: refused before training, not after it.
        let no_tests = npz(&folder, "no-tests.npz", |writer| {
            writer.add_array("x_train", &sequences(5, 4, 2)).expect("x");
            writer
                .add_array("y_train", &Array1::from(vec![0i64, 1, 2, 0, 1]))
                .expect("y");
            writer
                .add_array("x_test", &Array3::<f32>::zeros((0, 4, 2)))
                .expect("x");
            writer
                .add_array("y_test", &Array1::<i64>::zeros(0))
                .expect("y");
        });
        let error = read_sequence_file(&no_tests, &options())
            .expect_err("no test sequences")
            .to_string();
        assert!(
            error.contains("`x_test`") && error.contains("no sequences"),
            "{error}"
        );
        std::fs::remove_dir_all(folder).ok();
    }

    /// D7: every kind of bad file is refused naming the file, the array and the fault.
    #[test]
    fn d7_bad_sequence_files_are_refused_naming_file_array_and_fault() {
        let folder = scratch("bad");
        let refused = |name: &str, write: &dyn Fn(&mut NpzWriter<std::fs::File>)| {
            let path = npz(&folder, name, |writer| write(writer));
            let error = read_sequence_file(&path, &options())
                .expect_err(name)
                .to_string();
            assert!(error.contains(name), "{error}");
            error
        };
        let x = sequences(5, 4, 2);
        let labels = Array1::from(vec![0i64, 1, 2, 0, 1]);
        let error = refused("missing.npz", &|writer| {
            writer.add_array("x_train", &x).expect("x");
            writer.add_array("y_train", &labels).expect("y");
            writer.add_array("x_test", &x).expect("x");
        });
        assert!(
            error.contains("no array `y_test`") && error.contains("x_train"),
            "{error}"
        );
        let mut infinite = x.clone();
        infinite[[3, 2, 1]] = f32::INFINITY;
        let error = refused("infinite.npz", &|writer| {
            writer.add_array("x_train", &infinite).expect("x");
            writer.add_array("y_train", &labels).expect("y");
            writer.add_array("x_test", &x).expect("x");
            writer.add_array("y_test", &labels).expect("y");
        });
        assert!(
            error.contains("`x_train`") && error.contains("sample 3, step 2, feature 1"),
            "{error}"
        );
        let mut nan = x.clone();
        nan[[0, 0, 0]] = f32::NAN;
        let error = refused("nan.npz", &|writer| {
            writer.add_array("x_train", &x).expect("x");
            writer.add_array("y_train", &labels).expect("y");
            writer.add_array("x_test", &nan).expect("x");
            writer.add_array("y_test", &labels).expect("y");
        });
        assert!(
            error.contains("`x_test`") && error.contains("NaN"),
            "{error}"
        );
        let error = refused("range.npz", &|writer| {
            writer.add_array("x_train", &x).expect("x");
            writer
                .add_array("y_train", &Array1::from(vec![0i64, 1, 3, 0, 1]))
                .expect("y");
            writer.add_array("x_test", &x).expect("x");
            writer.add_array("y_test", &labels).expect("y");
        });
        assert!(
            error.contains("label 3 of sequence 2 is outside 0..3"),
            "{error}"
        );
        let error = refused("negative.npz", &|writer| {
            writer.add_array("x_train", &x).expect("x");
            writer.add_array("y_train", &labels).expect("y");
            writer.add_array("x_test", &x).expect("x");
            writer
                .add_array("y_test", &Array1::from(vec![0i64, -1, 0, 0, 0]))
                .expect("y");
        });
        assert!(
            error.contains("`y_test`") && error.contains("label -1"),
            "{error}"
        );
        let error = refused("float-labels.npz", &|writer| {
            writer.add_array("x_train", &x).expect("x");
            writer
                .add_array("y_train", &Array1::from(vec![0.0f32; 5]))
                .expect("y");
            writer.add_array("x_test", &x).expect("x");
            writer.add_array("y_test", &labels).expect("y");
        });
        assert!(error.contains("labels are integers"), "{error}");
        let error = refused("count.npz", &|writer| {
            writer.add_array("x_train", &x).expect("x");
            writer
                .add_array("y_train", &Array1::from(vec![0i64; 4]))
                .expect("y");
            writer.add_array("x_test", &x).expect("x");
            writer.add_array("y_test", &labels).expect("y");
        });
        assert!(error.contains("one label per sequence, [5]"), "{error}");
        let error = refused("rank.npz", &|writer| {
            writer
                .add_array("x_train", &Array1::from(vec![0.0f32; 5]))
                .expect("x");
            writer.add_array("y_train", &labels).expect("y");
            writer.add_array("x_test", &x).expect("x");
            writer.add_array("y_test", &labels).expect("y");
        });
        assert!(error.contains("[N, T, F] or [N, T]"), "{error}");
        let error = refused("disagree.npz", &|writer| {
            writer.add_array("x_train", &x).expect("x");
            writer.add_array("y_train", &labels).expect("y");
            writer.add_array("x_test", &sequences(5, 4, 3)).expect("x");
            writer.add_array("y_test", &labels).expect("y");
        });
        assert!(
            error.contains("4 steps of 3 features, x_train's 4 of 2"),
            "{error}"
        );
        let error = refused("dtype.npz", &|writer| {
            writer
                .add_array("x_train", &Array1::from(vec![true; 5]))
                .expect("x");
            writer.add_array("y_train", &labels).expect("y");
            writer.add_array("x_test", &x).expect("x");
            writer.add_array("y_test", &labels).expect("y");
        });
        assert!(
            error.contains("has dtype |b1, which hsnn does not read"),
            "{error}"
        );
        let error = refused("no-training.npz", &|writer| {
            writer.add_array("x_train", &sequences(2, 4, 2)).expect("x");
            writer
                .add_array("y_train", &Array1::from(vec![0i64, 1]))
                .expect("y");
            writer.add_array("x_test", &x).expect("x");
            writer.add_array("y_test", &labels).expect("y");
        });
        assert!(error.contains("leaves none for training"), "{error}");
        // Not an archive at all, and no file.
        let text = folder.join("text.npz");
        std::fs::write(&text, "not a zip").expect("write");
        let error = read_sequence_file(&text, &options())
            .expect_err("text")
            .to_string();
        assert!(
            error.contains("text.npz") && error.contains("not an .npz archive"),
            "{error}"
        );
        let error = read_sequence_file(&folder.join("absent.npz"), &options())
            .expect_err("absent")
            .to_string();
        assert!(error.contains("absent.npz"), "{error}");
        std::fs::remove_dir_all(folder).ok();
    }
}
