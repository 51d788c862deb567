//! The `hsnn` binary end to end: clear messages and a failing exit code on bad input (never a
//! panic), and the commands doing what they say on good input.

use std::process::Command;

fn hsnn(arguments: &[&str]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_hsnn"))
        .args(arguments)
        .output()
        .expect("the hsnn binary runs");
    let text = String::from_utf8_lossy(&output.stderr).to_string()
        + &String::from_utf8_lossy(&output.stdout);
    (output.status.success(), text)
}

/// Runs `hsnn` with `arguments`, expects it to fail without a panic, and returns its output.
fn failing(arguments: &[&str]) -> String {
    let (ok, text) = hsnn(arguments);
    assert!(!ok, "expected a failure: {text}");
    assert!(!text.contains("panicked"), "{text}");
    text
}

#[test]
fn e1_missing_model_file_is_named() {
    let text = failing(&["eval", "--model", "/nonexistent/model.json"]);
    assert!(text.contains("/nonexistent/model.json"), "{text}");
}

#[test]
fn e1_missing_data_folder_is_named() {
    let text = failing(&[
        "reproduce",
        "--data",
        "/nonexistent/mnist",
        "--quiet",
        "--out",
        "/tmp/hsnn-cli-test-missing",
    ]);
    assert!(text.contains("/nonexistent/mnist"), "{text}");
}

#[test]
fn e1_bad_experiment_file_is_named() {
    let path =
        std::env::temp_dir().join(format!("hsnn-bad-experiment-{}.json", std::process::id()));
    std::fs::write(
        &path,
        "{\"format\": \"hsnn-experiment\", \"format_version\": 1",
    )
    .expect("write");
    let text = failing(&[
        "train",
        "--config",
        path.to_str().expect("utf-8 path"),
        "--quiet",
    ]);
    assert!(text.contains("experiment file"), "{text}");
    let _ = std::fs::remove_file(&path);
}

#[test]
fn e1_bad_dt_override_is_rejected() {
    let dir = std::env::temp_dir().join(format!("hsnn-eval-{}", std::process::id()));
    let config = hsnn_spec::NetworkConfig::psmnist();
    let model =
        hsnn_spec::Model::new(config.clone(), hsnn_spec::Weights::zeros(&config)).expect("model");
    std::fs::create_dir_all(&dir).expect("folder");
    let path = dir.join("model.json");
    model.save(&path).expect("save");
    let text = failing(&[
        "eval",
        "--model",
        path.to_str().expect("utf-8"),
        "--placement",
        "hidden",
        "--dt=0",
    ]);
    // Named as the user wrote it, with no cause line repeating the message.
    assert!(
        text.contains("`--dt`") && !text.contains("quantizer.dt"),
        "{text}"
    );
    assert!(!text.contains("caused by"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn e1_paper_config_without_full_data_says_how_to_fetch_it() {
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/../configs/psmnist-paper.json");
    let text = failing(&[
        "reproduce",
        "--config",
        config,
        "--quiet",
        "--out",
        "/tmp/hsnn-cli-test-paper",
    ]);
    assert!(text.contains("data/fetch.sh"), "{text}");
}

#[test]
fn e1_zero_threads_and_zero_epochs_are_rejected() {
    let (ok, text) = hsnn(&["--threads", "0", "reproduce"]);
    assert!(!ok && text.contains("threads"), "{text}");
    let (ok, text) = hsnn(&["train", "--stop-after-epochs", "0"]);
    assert!(!ok && text.contains("stop-after-epochs"), "{text}");
}

/// `hsnn eval` on a valid model prints accuracy and the bit metrics of the spiking site.
#[test]
fn eval_reports_accuracy_and_bit_metrics() {
    let dir = std::env::temp_dir().join(format!("hsnn-eval-ok-{}", std::process::id()));
    let mut config = hsnn_spec::NetworkConfig::psmnist();
    config.lmu.hidden_size = 4;
    config.lmu.order = 4;
    let mut weights = hsnn_spec::Weights::zeros(&config);
    weights.kernel_memory.data.fill(0.5);
    let model = hsnn_spec::Model::new(config, weights).expect("model");
    std::fs::create_dir_all(&dir).expect("folder");
    let path = dir.join("model.json");
    model.save(&path).expect("save");
    let (ok, text) = hsnn(&[
        "eval",
        "--model",
        path.to_str().expect("utf-8"),
        "--limit",
        "16",
        "--placement",
        "hidden",
        "--dt",
        "4",
    ]);
    assert!(ok, "{text}");
    assert!(text.contains("16 sequences: accuracy"), "{text}");
    assert!(text.contains("placement hidden, dt 4"), "{text}");
    assert!(
        text.contains("mean_significant_bits") && text.contains("synaptic_events"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `hsnn vectors` writes exactly the committed golden vectors.
#[test]
fn vectors_command_writes_the_committed_file() {
    let path = std::env::temp_dir().join(format!("hsnn-vectors-{}.json", std::process::id()));
    let (ok, text) = hsnn(&["vectors", "--out", path.to_str().expect("utf-8")]);
    assert!(ok, "{text}");
    let written = std::fs::read_to_string(&path).expect("written");
    assert_eq!(written, hsnn_conformance::golden::GOLDEN_JSON);
    let _ = std::fs::remove_file(&path);
}

/// E1: more threads than cores is refused at once with the machine's core count.
#[test]
fn e1_threads_beyond_cores_are_refused() {
    let text = failing(&["--threads", "100000", "reproduce", "--quiet"]);
    assert!(
        text.contains("--threads 100000") && text.contains("cores"),
        "{text}"
    );
}

/// T8: SIGTERM (as Ctrl-C) stops a run after the current minibatch with a checkpoint, exit code
/// 3 and the resume command printed; resuming ends with the model of an uninterrupted run.
#[test]
fn t8_a_stop_signal_checkpoints_and_resume_completes_the_run() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let dir = std::env::temp_dir().join(format!("hsnn-signal-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("folder");
    let text = include_str!("../../configs/embedded-quick.json")
        .replace("\"limit\": null", "\"limit\": 200")
        .replace("\"validation_size\": null", "\"validation_size\": 100")
        .replace("\"hidden_size\": 64", "\"hidden_size\": 6")
        .replace("\"order\": 64", "\"order\": 6")
        .replace("\"batch_size\": 25", "\"batch_size\": 20")
        .replace("\"epochs\": 10", "\"epochs\": 40")
        .replace("\"minibatches\": 300", "\"minibatches\": 10");
    let config = dir.join("signal.json");
    std::fs::write(&config, text).expect("config");
    let config = config.display().to_string();
    let interrupted = dir.join("interrupted").display().to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_hsnn"))
        .args(["train", "--config", &config, "--out", &interrupted])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("hsnn starts");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    // The handler is installed before training starts; the first epoch line proves it runs.
    for line in lines.by_ref() {
        if line.expect("utf-8").contains("epoch 1/40") {
            break;
        }
    }
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().expect("hsnn ends");
    let rest = rest.join("\n");
    assert_eq!(status.code(), Some(3), "{rest}");
    assert!(
        rest.contains("resume with:") && rest.contains("--resume"),
        "{rest}"
    );
    assert!(std::path::Path::new(&interrupted)
        .join("checkpoint-non_spiking.json")
        .exists());
    let (ok, text) = hsnn(&[
        "train",
        "--config",
        &config,
        "--out",
        &interrupted,
        "--resume",
        "--quiet",
    ]);
    assert!(ok, "{text}");
    let straight = dir.join("straight").display().to_string();
    let (ok, text) = hsnn(&["train", "--config", &config, "--out", &straight, "--quiet"]);
    assert!(ok, "{text}");
    let model = |folder: &str| {
        std::fs::read_to_string(std::path::Path::new(folder).join("model-spiking.json"))
            .expect("final model")
    };
    assert_eq!(model(&interrupted), model(&straight));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `hsnn eval --json` prints one JSON object (format hsnn-eval) on stdout and the human lines
/// on stderr; an experiment's own `data.limit` is honoured without `--limit`.
#[test]
fn eval_json_is_machine_readable_and_honours_the_experiment_limit() {
    let dir = std::env::temp_dir().join(format!("hsnn-eval-json-{}", std::process::id()));
    let mut config = hsnn_spec::NetworkConfig::psmnist();
    config.lmu.hidden_size = 4;
    config.lmu.order = 4;
    let model =
        hsnn_spec::Model::new(config.clone(), hsnn_spec::Weights::zeros(&config)).expect("model");
    std::fs::create_dir_all(&dir).expect("folder");
    let path = dir.join("model.json");
    model.save(&path).expect("save");
    let experiment = include_str!("../../configs/embedded-quick.json")
        .replace("\"limit\": null", "\"limit\": 24")
        .replace("\"validation_size\": null", "\"validation_size\": 24");
    let experiment_path = dir.join("experiment.json");
    std::fs::write(&experiment_path, experiment).expect("experiment");
    let output = Command::new(env!("CARGO_BIN_EXE_hsnn"))
        .args([
            "eval",
            "--model",
            path.to_str().expect("utf-8"),
            "--config",
            experiment_path.to_str().expect("utf-8"),
            "--json",
        ])
        .output()
        .expect("hsnn runs");
    assert!(output.status.success());
    let report: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("stdout is one JSON object");
    assert_eq!(report["format"], "hsnn-eval");
    assert_eq!(report["format_version"], 1);
    assert_eq!(report["samples"], 24, "the experiment's limit");
    assert!(String::from_utf8_lossy(&output.stderr).contains("24 sequences: accuracy"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// E2: `hsnn vectors --out` naming a folder fails before writing and leaves no temporary file.
#[test]
fn vectors_out_naming_a_folder_leaves_nothing_behind() {
    let dir = std::env::temp_dir().join(format!("hsnn-vectors-dir-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("folder");
    let text = failing(&["vectors", "--out", dir.to_str().expect("utf-8")]);
    assert!(text.contains("folder"), "{text}");
    let parent = dir.parent().expect("temp dir");
    let name = dir
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    let leftovers: Vec<_> = std::fs::read_dir(parent)
        .expect("temp dir")
        .flatten()
        .filter(|entry| {
            let file = entry.file_name().to_string_lossy().into_owned();
            file.starts_with(&name) && file.ends_with(".tmp")
        })
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// E2: `eval` builds its splits from the model file's record of its training data (here
/// permutation seed 7 and a limit of 30), refuses a `--config` that contradicts it, and takes
/// the `--config` with `--override-provenance`.
#[test]
fn e2_eval_uses_the_model_files_record_of_its_training_data() {
    let dir = std::env::temp_dir().join(format!("hsnn-eval-provenance-{}", std::process::id()));
    let mut config = hsnn_spec::NetworkConfig::psmnist();
    config.lmu.hidden_size = 4;
    config.lmu.order = 4;
    let model = hsnn_spec::Model::new(config.clone(), hsnn_spec::Weights::zeros(&config))
        .expect("model")
        .with_provenance(hsnn_spec::Provenance {
            generator: "test".into(),
            experiment: "seven".into(),
            stage: "non_spiking".into(),
            epoch: 1,
            backend: "reference".into(),
            data: hsnn_spec::DataProvenance {
                source: hsnn_spec::DataSource::Embedded,
                permutation_seed: 7,
                recipe: hsnn_spec::DataRecipe::KerasLmuExample,
                validation_size: Some(100),
                limit: Some(30),
                train_samples: 30,
                validation_samples: 30,
                test_samples: 30,
                file: None,
            },
        });
    std::fs::create_dir_all(&dir).expect("folder");
    let path = dir.join("model.json");
    model.save(&path).expect("save");
    let model_argument = path.to_str().expect("utf-8");
    let eval_json = |extra: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_hsnn"))
            .args(["eval", "--model", model_argument, "--json"])
            .args(extra)
            .output()
            .expect("hsnn runs");
        let stderr = String::from_utf8_lossy(&output.stderr).to_string();
        assert!(output.status.success(), "{stderr}");
        let report: serde_json::Value =
            serde_json::from_slice(&output.stdout).expect("stdout is one JSON object");
        report
    };
    let report = eval_json(&[]);
    assert_eq!(report["samples"], 30, "the recorded limit");
    assert!(
        report["data"]
            .as_str()
            .is_some_and(|data| data.contains("permutation seed 7")),
        "{report}"
    );
    assert_eq!(report["model_provenance"]["experiment"], "seven");

    let quick = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../configs/embedded-quick.json"
    );
    let refused = failing(&["eval", "--model", model_argument, "--config", quick]);
    assert!(
        refused.contains("permutation_seed 0") && refused.contains("--override-provenance"),
        "{refused}"
    );
    let overridden = eval_json(&["--config", quick, "--override-provenance"]);
    assert!(
        overridden["data"]
            .as_str()
            .is_some_and(|data| data.contains("permutation seed 0")),
        "{overridden}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// T7: `reproduce --pretrained` will not write its report into a folder that holds a training
/// run's checkpoints or models (they would sit beside a report of other models), and says how
/// to proceed; it cannot be combined with training options.
#[test]
fn t7_pretrained_refuses_a_training_run_folder() {
    let dir = std::env::temp_dir().join(format!("hsnn-pretrained-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("folder");
    std::fs::write(dir.join("checkpoint-non_spiking.json"), "{}").expect("a run's file");
    let folder = dir.to_str().expect("utf-8");
    let refused = failing(&["reproduce", "--pretrained", "--out", folder]);
    assert!(
        refused.contains("holds a training run") && refused.contains("checkpoint-non_spiking.json"),
        "{refused}"
    );
    assert!(!dir.join("results.json").exists());
    let conflict = failing(&["reproduce", "--pretrained", "--resume"]);
    assert!(conflict.contains("--resume"), "{conflict}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `hsnn plot` redraws the figure of a results file (here a hand-written one with two sweep
/// points) and names a missing one.
#[test]
fn plot_redraws_a_results_file() {
    let dir = std::env::temp_dir().join(format!("hsnn-plot-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("folder");
    let measurement = |dt: f64, accuracy: f64, bits: f64| {
        serde_json::json!({
            "placement": "hidden", "dt": dt, "test_accuracy": accuracy, "test_loss": 0.1,
            "sites": [{
                "site": "hidden", "activity_bits": bits - 1.0, "activity_bits_signed": bits,
                "max_abs_count": 1, "mean_significant_bits": 1.0, "mean_popcount": 1.0,
                "nonzero_fraction": 0.5, "synaptic_events_per_inference": 1.0,
                "synaptic_additions_per_inference": 1.0
            }]
        })
    };
    let configuration: serde_json::Value =
        serde_json::from_str(include_str!("../../configs/embedded-quick.json")).expect("json");
    let results = serde_json::json!({
        "format": "hsnn-results", "format_version": 3, "generator": "test",
        "experiment": "handmade", "configuration": configuration, "threads": 1,
        "started_unix_s": 0, "ended_unix_s": 0, "data": "none", "backend": "reference",
        "trainable_parameters": 1, "stages": [], "rows": [], "seconds": 0.0,
        "sweep": [
            {"dt": 1.0, "trained": measurement(1.0, 0.7, 2.0), "converted": measurement(1.0, 0.6, 2.0)},
            {"dt": 4.0, "trained": measurement(4.0, 0.8, 4.0), "converted": null}
        ]
    });
    let path = dir.join("results.json");
    std::fs::write(&path, results.to_string()).expect("results");
    let (ok, text) = hsnn(&["plot", "--results", path.to_str().expect("utf-8")]);
    assert!(ok, "{text}");
    let png = std::fs::read(dir.join("accuracy_bits_vs_dt.png")).expect("the figure");
    assert!(png.starts_with(b"\x89PNG"), "a PNG file");
    let missing = failing(&["plot", "--results", "/nonexistent/results.json"]);
    assert!(missing.contains("/nonexistent/results.json"), "{missing}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// H9, H10, H11 from the command line: `convert` writes a fixed model of the shipped spiking
/// model with the sums' widths of SPEC H5; `eval --backend hardware` runs it as it is (and
/// refuses a `--dt`, which needs a new conversion); `energy` prices the chip's counts on the
/// named devices, as text and as JSON of its stated format; the hardware backend refuses to
/// train; an unknown device is named with the known ones; a gzipped model file is read.
#[test]
fn h9_convert_and_hardware_eval_from_the_command_line() {
    let dir = std::env::temp_dir().join(format!("hsnn-hardware-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("folder");
    let models = hsnn_train::pretrained::shipped_models().expect("shipped models");
    let model_path = dir.join("spiking.json");
    models[1].save(&model_path).expect("save");
    let model = model_path.to_str().expect("utf-8");
    let fixed_path = dir.join("spiking-fixed.json");
    let fixed = fixed_path.to_str().expect("utf-8");

    let (ok, text) = hsnn(&["convert", "--model", model, "--out", fixed]);
    assert!(ok, "{text}");
    assert!(
        text.contains("36 (memory input), 45 (memory), 36 (pre-activation), 18 (logits) of 48"),
        "{text}"
    );
    let written = std::fs::read_to_string(&fixed_path).expect("fixed model");
    assert!(written.starts_with("{\"format\":\"hsnn-fixed-model\",\"format_version\":1"));

    let (ok, text) = hsnn(&[
        "eval",
        "--backend",
        "hardware",
        "--model",
        fixed,
        "--limit",
        "12",
    ]);
    assert!(ok, "{text}");
    assert!(text.contains("12 sequences: accuracy"), "{text}");
    assert!(text.contains("saturated values: 0 inputs"), "{text}");
    let text = failing(&[
        "eval",
        "--backend",
        "hardware",
        "--model",
        fixed,
        "--dt",
        "2",
    ]);
    assert!(text.contains("hsnn convert"), "{text}");

    let (ok, text) = hsnn(&[
        "energy",
        "--model",
        model,
        "--limit",
        "6",
        "--device",
        "loihi",
        "--device",
        "horowitz_45nm",
    ]);
    assert!(ok, "{text}");
    assert!(
        text.contains("| loihi |") && text.contains("| horowitz_45nm |"),
        "{text}"
    );
    assert!(!text.contains("| cpu |"), "only the named devices: {text}");
    let text_report = text;
    let (ok, text) = hsnn(&["energy", "--model", model, "--limit", "6", "--json"]);
    assert!(ok, "{text}");
    let json_start = text.find("{\n").expect("a JSON object");
    let report: serde_json::Value = serde_json::from_str(&text[json_start..]).expect("JSON");
    assert_eq!(report["format"], "hsnn-energy");
    assert_eq!(report["format_version"], 1);
    assert_eq!(report["devices"].as_array().map(Vec::len), Some(7));
    // H10: the text report prints the memory counters per inference, the JSON's totals over
    // the 6 sequences divided by 6 (written with thousands separators).
    let per_inference = |name: &str| {
        let total = report["counters"]["memory"][name]
            .as_u64()
            .expect("a count");
        let digits = (total as f64 / 6.0).round().to_string();
        let mut grouped = String::new();
        for (index, digit) in digits.chars().enumerate() {
            if index > 0 && (digits.len() - index).is_multiple_of(3) {
                grouped.push(',');
            }
            grouped.push(digit);
        }
        grouped
    };
    for (name, words) in [
        ("weight_words_read", "weight words read"),
        ("state_words_read", "state words read"),
        ("state_words_written", "state words written"),
    ] {
        assert!(
            text_report.contains(&format!("{} {words}", per_inference(name))),
            "{name}: {text_report}"
        );
    }

    let text = failing(&[
        "energy", "--model", model, "--limit", "2", "--device", "nosuch",
    ]);
    assert!(text.contains("nosuch") && text.contains("loihi"), "{text}");
    // --strict turns a saturation into an error naming the quantity: a 4-bit memory with no
    // integer bits saturates on the first nonzero pixels.
    let options = dir.join("narrow.json");
    std::fs::write(&options, r#"{"memory_bits": 4, "memory_integer_bits": 0}"#).expect("options");
    let options = options.to_str().expect("utf-8");
    let (ok, text) = hsnn(&[
        "eval",
        "--backend",
        "hardware",
        "--model",
        model,
        "--limit",
        "2",
        "--conversion",
        options,
    ]);
    assert!(
        ok && !text.contains("saturated values: 0 inputs, 0 memory inputs, 0 memory words"),
        "{text}"
    );
    let text = failing(&[
        "eval",
        "--backend",
        "hardware",
        "--model",
        model,
        "--limit",
        "2",
        "--conversion",
        options,
        "--strict",
    ]);
    assert!(
        text.contains("memory words") && text.contains("--strict"),
        "{text}"
    );
    // The shipped gzipped model files are read as they are.
    let shipped = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../models/psmnist-paper/model-spiking.json.gz"
    );
    let (ok, text) = hsnn(&[
        "eval",
        "--backend",
        "hardware",
        "--model",
        shipped,
        "--limit",
        "2",
    ]);
    assert!(ok && text.contains("2 sequences: accuracy"), "{text}");
    let text = failing(&["train", "--backend", "hardware", "--quiet", "--out", fixed]);
    assert!(text.contains("inference only"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// N2, H10, H11: the memory-state site from the command line. `convert --placement
/// memory_state` makes W_m's product event-driven: `energy` counts the site's updates (one
/// per memory coefficient, step and sequence) and events, W_m is no longer among the dense
/// products, and on Horowitz's per-operation table the hybrid costs less than the same network
/// without spikes, whose W_m multiplies full memory words.
#[test]
fn n2_the_memory_state_site_from_the_command_line() {
    let dir = std::env::temp_dir().join(format!("hsnn-memory-state-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("folder");
    let models = hsnn_train::pretrained::shipped_models().expect("shipped models");
    let model_path = dir.join("non-spiking.json");
    models[0].save(&model_path).expect("save");
    let lmu = &models[0].config.lmu;
    let fixed_path = dir.join("memory-state.json");
    let (model, fixed) = (
        model_path.to_str().expect("utf-8"),
        fixed_path.to_str().expect("utf-8"),
    );
    let (ok, text) = hsnn(&[
        "convert",
        "--model",
        model,
        "--placement",
        "memory_state",
        "--dt",
        "2",
        "--out",
        fixed,
    ]);
    assert!(ok, "{text}");
    let (ok, text) = hsnn(&["energy", "--model", fixed, "--limit", "2", "--json"]);
    assert!(ok, "{text}");
    let report: serde_json::Value =
        serde_json::from_str(&text[text.find("{\n").expect("a JSON object")..]).expect("JSON");
    assert_eq!(report["placement"], "memory_state");
    let sites = report["counters"]["sites"].as_array().expect("sites");
    assert_eq!(sites.len(), 1, "{sites:?}");
    let site = &sites[0];
    assert_eq!(site["site"], "memory_state");
    let neurons = (lmu.memory_size * lmu.order) as u64;
    assert_eq!(site["neurons"].as_u64(), Some(neurons));
    let steps = report["steps"].as_u64().expect("steps");
    let updates = site["neuron_updates"].as_u64().expect("updates");
    assert_eq!(updates, 2 * steps * neurons);
    let events = site["events"].as_u64().expect("events");
    assert!(events > 0 && events < updates, "{events} of {updates}");
    let dense: Vec<&str> = report["counters"]["dense"]
        .as_array()
        .expect("dense")
        .iter()
        .filter_map(|product| product["tensor"].as_str())
        .collect();
    assert!(
        !dense.contains(&"kernel_memory") && dense.contains(&"a_bar"),
        "{dense:?}"
    );
    let horowitz = report["devices"]
        .as_array()
        .expect("devices")
        .iter()
        .find(|device| device["device"] == "horowitz_45nm")
        .expect("Horowitz's table");
    let joules = |network: &str| horowitz[network]["total_joules"].as_f64().expect("joules");
    assert!(joules("hybrid") < joules("non_spiking"), "{horowitz}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `hsnn import keras` on a file that is not Keras, and on a `.weights.h5` without its
/// configuration: a clear error, a failing exit code, and no model file (SPEC.md K2).
#[test]
fn k2_a_refused_import_writes_no_file() {
    let folder = std::env::temp_dir().join(format!("hsnn-cli-import-{}", std::process::id()));
    std::fs::create_dir_all(&folder).expect("a scratch folder");
    let not_keras = folder.join("notes.h5");
    std::fs::write(&not_keras, "just text").expect("written");
    let out = folder.join("model.json");
    let text = failing(&[
        "import",
        "keras",
        &not_keras.display().to_string(),
        "--out",
        &out.display().to_string(),
    ]);
    assert!(
        text.contains("cannot import")
            && text.contains("notes.h5")
            && text.contains("not a Keras file"),
        "{text}"
    );
    let leftovers: Vec<_> = std::fs::read_dir(&folder)
        .expect("listed")
        .filter_map(Result::ok)
        .map(|entry| entry.file_name())
        .filter(|name| name != "notes.h5")
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let text = failing(&[
        "import",
        "keras",
        "/nonexistent/paper.hdf5",
        "--out",
        "x.json",
    ]);
    assert!(text.contains("/nonexistent/paper.hdf5"), "{text}");
    let _ = std::fs::remove_dir_all(&folder);
}

/// `hsnn sweep` without a Python that has hsnn and Ray Tune (H14): refused before anything
/// starts, saying what to run, for an interpreter that cannot start and for one that lacks
/// the package.
#[test]
fn h14_sweep_without_its_python_says_what_to_run() {
    for python in ["/nonexistent/python", "/bin/false"] {
        let output = Command::new(env!("CARGO_BIN_EXE_hsnn"))
            .args(["sweep", "configs/sweeps/paper-frontier.json"])
            .env("HSNN_PYTHON", python)
            .output()
            .expect("the hsnn binary runs");
        let text = String::from_utf8_lossy(&output.stderr).to_string();
        assert!(!output.status.success(), "{text}");
        assert!(!text.contains("panicked"), "{text}");
        assert!(
            text.contains(python) && text.contains("scripts/sweep-env"),
            "{python}: {text}"
        );
    }
}

/// D7 from the command line: `train --data FILE.npz` trains a network of the file's shape
/// (two features, three classes) far above chance, and `eval` of its model with no `--data`
/// reads the file the model recorded; a network of psMNIST's shape is refused on the file,
/// naming both sides.
#[test]
fn d7_train_and_eval_on_a_sequence_file_from_the_command_line() {
    use ndarray::{Array1, Array3};
    let folder = std::env::temp_dir().join(format!("hsnn-cli-seqfile-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&folder);
    std::fs::create_dir_all(&folder).expect("folder");
    // Rising ramp, falling ramp, bump on feature 0, scaled per sequence; feature 1 a
    // distractor. Chance is 1/3.
    let make = |count: usize, first: usize| {
        let labels: Vec<i64> = (0..count).map(|i| ((first + i) % 3) as i64).collect();
        let x = Array3::from_shape_fn((count, 12, 2), |(i, t, f)| {
            let n = (first + i) as f64;
            let time = t as f64 / 11.0;
            let shape = match labels[i] {
                0 => time - 0.5,
                1 => 0.5 - time,
                _ => 0.5 - 2.0 * (time - 0.5).abs(),
            };
            let value = if f == 0 {
                (0.5 + 0.5 * (1.3 * n).sin().abs()) * shape + 0.2 * (2.9 * n + 1.7 * t as f64).sin()
            } else {
                0.5 * (5.1 * n + 0.9 * t as f64).cos()
            };
            value as f32
        });
        (x, Array1::from(labels))
    };
    let data = folder.join("ramps.npz");
    let mut writer = ndarray_npy::NpzWriter::new(std::fs::File::create(&data).expect("npz"));
    let (x_train, y_train) = make(240, 0);
    let (x_test, y_test) = make(90, 10_000);
    writer.add_array("x_train", &x_train).expect("x_train");
    writer.add_array("y_train", &y_train).expect("y_train");
    writer.add_array("x_test", &x_test).expect("x_test");
    writer.add_array("y_test", &y_test).expect("y_test");
    writer.finish().expect("written");
    let experiment = |input_size: usize| {
        format!(
            r#"{{"format": "hsnn-experiment", "format_version": 2, "name": "ramps",
            "data": {{"validation_size": 30, "limit": null}},
            "network": {{"lmu": {{"input_size": {input_size}, "hidden_size": 8, "memory_size": 1,
                "order": 6, "theta": 12.0, "discretizer": "zero_order_hold",
                "hidden_activation": "tanh", "connections": {{"input_to_hidden": true,
                "hidden_to_memory": true, "memory_to_memory": true}}}},
              "output_size": 3, "quantizer": {{"placement": "none", "dt": 1.0, "amplitude": 1.0,
                "initial_state": {{"kind": "uniform", "seed": 0}}}}}},
            "seed": 0, "batch_size": 30,
            "optimizer": {{"learning_rate": 0.01, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-7}},
            "stages": [{{"name": "non_spiking", "epochs": 5, "placement": "none",
              "schedule": {{"kind": "constant", "dt": 1.0}}}}],
            "evaluation_dts": []}}"#
        )
    };
    let config = folder.join("ramps.json");
    std::fs::write(&config, experiment(2)).expect("experiment");
    let out = folder.join("run");
    let as_text = |path: &std::path::Path| path.to_str().expect("utf-8 path").to_string();
    let train = |out: &std::path::Path| {
        [
            "train",
            "--config",
            &as_text(&config),
            "--data",
            &as_text(&data),
            "--out",
            &as_text(out),
            "--quiet",
        ]
        .map(str::to_string)
    };
    let (ok, text) = hsnn(&train(&out).each_ref().map(String::as_str));
    assert!(ok, "{text}");
    let model = out.join("model-non_spiking.json");
    let (ok, text) = hsnn(&["eval", "--model", &as_text(&model), "--json"]);
    assert!(ok, "{text}");
    let start = text.find('{').expect("a JSON object");
    let report: serde_json::Value = serde_json::from_str(&text[start..]).expect("eval's JSON");
    assert_eq!(report["samples"], 90, "{text}");
    let accuracy = report["accuracy"].as_f64().expect("accuracy");
    assert!(
        accuracy >= 0.8,
        "test accuracy {accuracy} is not far above chance (1/3)"
    );
    assert!(
        report["data"].as_str().expect("data").contains("ramps.npz"),
        "{text}"
    );

    std::fs::write(&config, experiment(1)).expect("experiment");
    let text = failing(
        &train(&folder.join("refused"))
            .each_ref()
            .map(String::as_str),
    );
    assert!(
        text.contains("lmu.input_size") && text.contains("gives 2"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&folder);
}
