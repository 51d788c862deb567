//! Sequence files (SPEC.md D7, E2 version 4): a task other than psMNIST, written by numpy's
//! format, trains, evaluates and is recorded in the model it makes; a network that cannot
//! take the file is refused before anything trains.

use std::path::{Path, PathBuf};

use hsnn_optimized::OptimizedBackend;
use hsnn_spec::{DataSource, Model, MODEL_FORMAT_VERSION_SEQUENCE_FILE};
use hsnn_train::data::{self, EvaluationData};
use hsnn_train::evaluation::evaluate;
use hsnn_train::experiment::Experiment;
use hsnn_train::reproduce::{reproduce, ReproduceOptions};
use hsnn_train::training_loop::RunControl;
use hsnn_train::TrainError;
use ndarray::{Array1, Array3};
use ndarray_npy::NpzWriter;

const STEPS: usize = 16;
const CLASSES: usize = 3;

fn scratch(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("hsnn-seqfile-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&path);
    std::fs::create_dir_all(&path).expect("scratch folder");
    path
}

/// A task a small LMU learns and a constant guess cannot: on feature 0, class 0 is a rising
/// ramp, class 1 a falling one and class 2 a bump in the middle, each with an amplitude that
/// varies by sequence and a ripple; feature 1 is a distractor of the same size. The labels
/// cycle, so chance is 1/3.
fn write_task(path: &Path, train: usize, test: usize, offset: usize) {
    let make = |count: usize, first: usize| {
        let labels: Vec<i64> = (0..count).map(|i| ((first + i) % CLASSES) as i64).collect();
        let x = Array3::from_shape_fn((count, STEPS, 2), |(i, t, f)| {
            let n = (first + i) as f64;
            let time = t as f64 / (STEPS - 1) as f64;
            let amplitude = 0.5 + 0.5 * (1.3 * n).sin().abs();
            let ripple = 0.2 * (2.9 * n + 1.7 * t as f64).sin();
            let shape = match labels[i] {
                0 => time - 0.5,
                1 => 0.5 - time,
                _ => 0.5 - 2.0 * (time - 0.5).abs(),
            };
            if f == 0 {
                (amplitude * shape + ripple) as f32
            } else {
                (0.5 * (5.1 * n + 0.9 * t as f64).cos()) as f32
            }
        });
        (x, Array1::from(labels))
    };
    let (x_train, y_train) = make(train, offset);
    let (x_test, y_test) = make(test, offset + 10_000);
    let mut writer = NpzWriter::new(std::fs::File::create(path).expect("npz file"));
    writer.add_array("x_train", &x_train).expect("x_train");
    writer.add_array("y_train", &y_train).expect("y_train");
    writer.add_array("x_test", &x_test).expect("x_test");
    writer.add_array("y_test", &y_test).expect("y_test");
    writer.finish().expect("npz written");
}

/// One non-spiking stage of a small LMU with two inputs and three outputs.
fn experiment(epochs: usize) -> Experiment {
    let mut experiment = Experiment::load(None).expect("embedded default");
    experiment.name = "sines".into();
    experiment.data.validation_size = Some(30);
    experiment.data.limit = None;
    experiment.network.lmu.input_size = 2;
    experiment.network.lmu.hidden_size = 16;
    experiment.network.lmu.order = 8;
    experiment.network.lmu.theta = STEPS as f64;
    experiment.network.output_size = CLASSES;
    experiment.batch_size = 30;
    experiment.optimizer.learning_rate = 0.01;
    experiment.stages.truncate(1);
    experiment.stages[0].epochs = epochs;
    experiment.evaluation_dts = vec![];
    experiment.validate("sines").expect("a valid experiment");
    experiment
}

fn request(source: &Path) -> EvaluationData<'_> {
    EvaluationData {
        directory: Some(source),
        config: None,
        override_provenance: false,
        limit: None,
    }
}

fn options(data: &Path, out: PathBuf) -> ReproduceOptions {
    ReproduceOptions {
        data_directory: Some(data.to_path_buf()),
        out_directory: out,
        resume: false,
        force: false,
        control: RunControl::default(),
    }
}

/// D7, E2: an LMU trained on a sequence file of three classes scores far above chance on its
/// test split, and its model (version 4) records the file by its SHA-256, so evaluating on
/// the same file says nothing and on another file says that it is another.
#[test]
fn d7_a_network_trains_on_a_sequence_file_and_its_model_records_the_file() {
    let folder = scratch("train");
    let file = folder.join("sines.npz");
    write_task(&file, 330, 90, 0);
    let experiment = experiment(5);
    let out = folder.join("run");
    reproduce(&OptimizedBackend, &experiment, &options(&file, out.clone())).expect("trained");
    let model = Model::load(&out.join(format!("model-{}.json", experiment.stages[0].name)))
        .expect("the stage's model");
    assert_eq!(model.format_version, MODEL_FORMAT_VERSION_SEQUENCE_FILE);
    let recorded = &model.provenance.as_ref().expect("provenance").data;
    assert_eq!(recorded.source, DataSource::SequenceFile);
    assert_eq!(
        (
            recorded.train_samples,
            recorded.validation_samples,
            recorded.test_samples
        ),
        (300, 30, 90)
    );
    let sha256 = &recorded.file.as_ref().expect("the file").sha256;
    let bytes = std::fs::read(&file).expect("the file");
    assert_eq!(sha256.len(), 64);
    let loaded = data::load(Some(&file), &experiment.data).expect("the file again");
    assert_eq!(
        loaded.provenance.file.as_ref().map(|f| &f.sha256),
        Some(sha256)
    );
    let test = evaluate(&OptimizedBackend, &model, &loaded.split.test).expect("evaluated");
    assert_eq!(test.samples, 90);
    assert!(
        test.accuracy >= 0.8,
        "test accuracy {} is not far above chance (1/3)",
        test.accuracy
    );

    let (same, note) = data::load_for_evaluation(&model, request(&file)).expect("same file");
    assert_eq!(note, None);
    assert_eq!(same.split.test.len(), 90);
    let other = folder.join("other.npz");
    write_task(&other, 330, 90, 7);
    assert_ne!(std::fs::read(&other).expect("other"), bytes);
    let (_, note) = data::load_for_evaluation(&model, request(&other)).expect("other file");
    let note = note.expect("a note that the file is another");
    assert!(
        note.contains("sines.npz") && note.contains("other.npz"),
        "{note}"
    );
    // Named nowhere else, the data are the recorded file again.
    let (recorded, note) = data::load_for_evaluation(
        &model,
        EvaluationData {
            directory: None,
            ..request(&file)
        },
    )
    .expect("the recorded file");
    assert_eq!(note, None);
    assert_eq!(
        recorded.provenance.file.map(|record| record.sha256),
        Some(sha256.clone())
    );
    let _ = std::fs::remove_dir_all(&folder);
}

/// D7, experiment format 2: an experiment names its sequence file in `data.file` and trains
/// on it without `--data`; a version 1 experiment cannot name one, and a named file that is
/// not there is reported as the file it is.
#[test]
fn d7_an_experiment_names_its_sequence_file() {
    let folder = scratch("named");
    let file = folder.join("sines.npz");
    write_task(&file, 90, 30, 0);
    let mut named = experiment(1);
    named.format_version = 2;
    named.data.file = Some(file.clone());
    let text = serde_json::to_string(&named).expect("json");
    let read = Experiment::from_json(&text, "named").expect("version 2 with a file");
    assert_eq!(read.data.file.as_deref(), Some(file.as_path()));
    let mut no_data = options(&file, folder.join("run"));
    no_data.data_directory = None;
    reproduce(&OptimizedBackend, &read, &no_data).expect("trained on the named file");
    let model = Model::load(&folder.join("run").join("model-non_spiking.json")).expect("model");
    let recorded = model.provenance.expect("provenance").data;
    assert_eq!(recorded.source, DataSource::SequenceFile);
    assert_eq!(recorded.train_samples, 60);

    let version_1 = text.replacen("\"format_version\":2", "\"format_version\":1", 1);
    let error = Experiment::from_json(&version_1, "v1").expect_err("version 1 has no file");
    assert!(error.to_string().contains("format_version 2"), "{error}");
    let mut missing = read.clone();
    missing.data.file = Some(folder.join("nowhere.npz"));
    let error = data::load(None, &missing.data).expect_err("no such file");
    assert!(error.to_string().contains("nowhere.npz"), "{error}");
    let _ = std::fs::remove_dir_all(&folder);
}

/// T8, D7: a run stopped on one sequence file does not resume on another whose labels are
/// the same and whose values differ: the checkpoint's fingerprint covers the values.
#[test]
fn d7_a_run_does_not_resume_on_another_file_with_the_same_labels() {
    let folder = scratch("resume");
    let (first, second) = (folder.join("first.npz"), folder.join("second.npz"));
    write_task(&first, 90, 30, 0);
    // The same labels (they cycle from the offset), other values.
    write_task(&second, 90, 30, 3);
    let experiment = experiment(3);
    let out = folder.join("run");
    let mut stopping = options(&first, out.clone());
    stopping.control.stop_after_epochs = Some(1);
    let stopped = reproduce(&OptimizedBackend, &experiment, &stopping);
    assert!(stopped.is_err(), "stopped after one epoch");
    let mut resuming = options(&second, out.clone());
    resuming.resume = true;
    let error = reproduce(&OptimizedBackend, &experiment, &resuming)
        .expect_err("another file")
        .to_string();
    assert!(error.contains("other settings"), "{error}");
    let mut same = options(&first, out);
    same.resume = true;
    reproduce(&OptimizedBackend, &experiment, &same).expect("the same file resumes");
    let _ = std::fs::remove_dir_all(&folder);
}

/// D7: a network that cannot take the file (another number of features, too few outputs for
/// its labels) and psMNIST's own settings are refused before anything trains, naming both
/// sides; the run folder is left without a model.
#[test]
fn d7_a_network_that_cannot_take_the_file_is_refused_before_training() {
    let folder = scratch("refused");
    let file = folder.join("sines.npz");
    write_task(&file, 60, 30, 0);
    let refusal = |change: &dyn Fn(&mut Experiment)| {
        let mut experiment = experiment(1);
        change(&mut experiment);
        let out = folder.join("run");
        let _ = std::fs::remove_dir_all(&out);
        let error = reproduce(&OptimizedBackend, &experiment, &options(&file, out.clone()))
            .expect_err("refused");
        let models = std::fs::read_dir(&out)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter(|entry| entry.file_name().to_string_lossy().starts_with("model-"))
                    .count()
            })
            .unwrap_or(0);
        assert_eq!(models, 0, "nothing was trained");
        assert!(matches!(error, TrainError::Usage(_)), "{error:?}");
        error.to_string()
    };
    let error = refusal(&|experiment| experiment.network.lmu.input_size = 1);
    assert!(
        error.contains("lmu.input_size") && error.contains("gives 2"),
        "{error}"
    );
    let error = refusal(&|experiment| experiment.network.output_size = 2);
    assert!(
        error.contains("label 2") && error.contains("2 outputs"),
        "{error}"
    );
    let error = refusal(&|experiment| experiment.data.permutation_seed = 50);
    assert!(error.contains("permutation_seed (50)"), "{error}");
    let _ = std::fs::remove_dir_all(&folder);
}
