//! The `hsnn` binary on bad input: clear messages and a failing exit code, never a panic.

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

#[test]
fn e1_missing_model_file_is_named() {
    let (ok, text) = hsnn(&["eval", "--model", "/nonexistent/model.json"]);
    assert!(!ok);
    assert!(
        text.contains("/nonexistent/model.json") && !text.contains("panicked"),
        "{text}"
    );
}

#[test]
fn e1_missing_data_folder_is_named() {
    let (ok, text) = hsnn(&[
        "reproduce",
        "--data",
        "/nonexistent/mnist",
        "--quiet",
        "--out",
        "/tmp/hsnn-cli-test-missing",
    ]);
    assert!(!ok);
    assert!(
        text.contains("/nonexistent/mnist") && !text.contains("panicked"),
        "{text}"
    );
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
    let (ok, text) = hsnn(&[
        "train",
        "--config",
        path.to_str().expect("utf-8 path"),
        "--quiet",
    ]);
    assert!(!ok);
    assert!(
        text.contains("experiment file") && !text.contains("panicked"),
        "{text}"
    );
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
    let (ok, text) = hsnn(&[
        "eval",
        "--model",
        path.to_str().expect("utf-8"),
        "--placement",
        "hidden",
        "--dt=0",
    ]);
    assert!(!ok);
    assert!(text.contains("quantizer.dt"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn e1_paper_config_without_full_data_says_how_to_fetch_it() {
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/../configs/psmnist-paper.json");
    let (ok, text) = hsnn(&[
        "reproduce",
        "--config",
        config,
        "--quiet",
        "--out",
        "/tmp/hsnn-cli-test-paper",
    ]);
    assert!(!ok);
    assert!(
        text.contains("data/fetch.sh") && !text.contains("panicked"),
        "{text}"
    );
}

#[test]
fn e1_zero_threads_and_zero_epochs_are_rejected() {
    let (ok, text) = hsnn(&["--threads", "0", "reproduce"]);
    assert!(!ok && text.contains("threads"), "{text}");
    let (ok, text) = hsnn(&["train", "--stop-after-epochs", "0"]);
    assert!(!ok && text.contains("stop-after-epochs"), "{text}");
}
