//! E1 for every file format hsnn reads: the committed fuzz corpus (`fuzz/corpus/<target>/`,
//! seeds made from real files) and every input a campaign found to crash, hang or exhaust
//! memory (`fuzz/regressions/<target>/`, each with its fix) go through the targets' code on
//! stable Rust, so CI replays them on every run. A panic fails the test and names the file.

use std::path::{Path, PathBuf};

fn fuzz_folder() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn files(folder: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(folder)
        .map(|entries| entries.flatten().map(|entry| entry.path()).collect())
        .unwrap_or_default();
    found.sort();
    found
}

#[test]
fn e1_fuzz_corpus_and_regressions_neither_panic_nor_hang() {
    let mut replayed = 0;
    for (target, run) in hsnn_fuzz_harness::TARGETS {
        let seeds = files(&fuzz_folder().join("corpus").join(target));
        assert!(!seeds.is_empty(), "no seed corpus for fuzz target {target}");
        for kind in ["corpus", "regressions"] {
            for path in files(&fuzz_folder().join(kind).join(target)) {
                let data = std::fs::read(&path).expect("readable corpus file");
                let started = std::time::Instant::now();
                if std::panic::catch_unwind(|| run(&data)).is_err() {
                    panic!("fuzz target {target} panicked on {}", path.display());
                }
                // The campaign's limit is 1 s per input with sanitizers; unoptimized test
                // builds are slower, so allow 10 s here.
                assert!(
                    started.elapsed().as_secs_f64() < 10.0,
                    "fuzz target {target} took {:?} on {}",
                    started.elapsed(),
                    path.display()
                );
                replayed += 1;
            }
        }
    }
    assert!(replayed >= 10, "replayed only {replayed} inputs");
}

/// The seeds are real, valid files: each loads through its loader (so a seed that rots into
/// an error, and leaves the fuzzer exploring only the error paths, fails here).
#[test]
fn e1_fuzz_seeds_are_valid_files() {
    let corpus = fuzz_folder().join("corpus");
    let text = |target: &str, name: &str| {
        std::fs::read_to_string(corpus.join(target).join(name)).expect("seed file")
    };
    hsnn_spec::Model::from_json(&text("model_file", "spiking-v2.json"), "seed").expect("model");
    hsnn_spec::Model::from_json(&text("model_file", "spiking-v1.json"), "seed").expect("v1");
    let gzipped = std::fs::read(corpus.join("model_file/spiking-v2.json.gz")).expect("seed");
    let unpacked = hsnn_train::model_file::model_text_from_bytes(gzipped, "seed").expect("gzip");
    hsnn_spec::Model::from_json(&unpacked, "seed").expect("gzipped model");
    hsnn_spec::fixed::FixedModel::from_json(&text("fixed_model", "spiking-fixed.json"), "seed")
        .expect("fixed model");
    hsnn_train::training_loop::Checkpoint::from_json(&text("checkpoint", "spiking.json"), "seed")
        .expect("checkpoint");
    hsnn_train::report::Results::from_json(&text("results", "results.json"), "seed")
        .expect("results");
    for name in [
        "fuzz-seed.json",
        "embedded-quick.json",
        "psmnist-paper-exact.json",
    ] {
        hsnn_train::experiment::Experiment::from_json(&text("experiment", name), "seed")
            .expect("experiment");
    }
    hsnn_conformance::golden::parse(&text("golden_vectors", "cut.json")).expect("vectors");
    hsnn_conformance::golden_fixed::parse(&text("fixed_vectors", "smallest-case.json"))
        .expect("fixed vectors");
    for name in ["horowitz-45nm.json", "keras-spiking.json"] {
        hsnn_hardware::energy::DeviceFile::from_json(&text("devices", name), "seed")
            .expect("devices");
    }
    for name in ["two-images.idx", "two-images.idx.gz"] {
        let bytes = std::fs::read(corpus.join("idx_images").join(name)).expect("seed");
        assert_eq!(
            hsnn_data::idx::parse_images(&bytes, name)
                .expect("images")
                .count(),
            2
        );
    }
    for name in ["five-labels.idx", "five-labels.idx.gz"] {
        let bytes = std::fs::read(corpus.join("idx_labels").join(name)).expect("seed");
        assert_eq!(
            hsnn_data::idx::parse_labels(&bytes, name)
                .expect("labels")
                .len(),
            5
        );
    }
    // Written by numpy 2 (np.savez and np.savez_compressed): 6 training sequences of 5 steps
    // (2 features, float32; 1 feature in the compressed one), labels 0..=5 (int64, int32),
    // 2 test sequences (float64) labelled 9 and 0 (uint8). D7 reads numpy's own files.
    for (name, features) in [("small.npz", 2), ("small-compressed.npz", 1)] {
        let bytes = std::fs::read(corpus.join("sequence_file").join(name)).expect("seed");
        let options = hsnn_data::SequenceFileOptions {
            validation_size: Some(1),
            classes: 10,
            limit: None,
        };
        let file =
            hsnn_data::sequences::parse_sequence_file(&bytes, std::path::Path::new(name), &options)
                .expect("a numpy sequence file");
        assert_eq!(
            (file.train.len(), file.validation.len(), file.test.len()),
            (5, 1, 2)
        );
        assert_eq!((file.train.steps(), file.train.features()), (5, features));
        assert_eq!(file.train.labels(), &[0, 1, 2, 3, 4]);
        assert_eq!(file.validation.labels(), &[5]);
        assert_eq!(file.test.labels(), &[9, 0]);
    }
}

/// E3: the fixed models a review found to panic the chip's 64-bit arithmetic (an integrator
/// shifted by 64, a 0-bit format, an exponent whose sum overflows i32, shifts of 80) are
/// refused by validation, even with a checksum that matches (the fuzz target's second path).
#[test]
fn e3_fixed_model_regressions_are_refused_by_validation() {
    let folder = fuzz_folder().join("regressions").join("fixed_model");
    let found = files(&folder);
    assert!(found.len() >= 4, "{} regressions", found.len());
    for path in found {
        let text = std::fs::read_to_string(&path).expect("regression file");
        let mut fixed: hsnn_spec::fixed::FixedModel =
            serde_json::from_str(&text).expect("parses as a fixed model");
        fixed.content_sha256 = fixed.content_checksum();
        let error = fixed
            .validate()
            .expect_err(&format!("{} must be refused", path.display()));
        let message = error.to_string();
        assert!(
            message.contains("formats")
                || message.contains("exponent")
                || message.contains("shift"),
            "{}: {message}",
            path.display()
        );
    }
}
