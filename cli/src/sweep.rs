//! `hsnn sweep SWEEP.json`: a sweep (SPEC.md H14) runs on Ray Tune, which is Python, so the
//! command hands its arguments to the Python package (`python -m hsnn.sweep`) and waits. The
//! interpreter is `HSNN_PYTHON`, else `target/sweep-venv/bin/python` when `bash
//! scripts/sweep-env` has made it, else `python3`; one without the package's `[sweep]` extra
//! is refused with what to run, before anything starts.

use std::path::{Path, PathBuf};
use std::process::Command;

use hsnn_train::{TrainError, TrainResult};

/// What `hsnn sweep` passes on (SPEC.md H14).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepArguments {
    /// The sweep file (format `hsnn-sweep` 1).
    pub sweep_file: PathBuf,
    /// A running Ray cluster.
    pub address: Option<String>,
    /// Where the sweep's files go.
    pub storage: Option<PathBuf>,
    /// CPUs of a local Ray.
    pub num_cpus: Option<u64>,
    /// A folder that outlives the storage, where finished points are kept.
    pub keep: Option<PathBuf>,
}

/// The interpreter that runs the sweep (SPEC.md H14): `HSNN_PYTHON`, else the sweep
/// virtualenv of this checkout when present, else `python3`.
pub fn interpreter() -> PathBuf {
    if let Some(python) = std::env::var_os("HSNN_PYTHON") {
        return PathBuf::from(python);
    }
    let venv = Path::new("target/sweep-venv/bin/python");
    if venv.is_file() {
        return venv.to_path_buf();
    }
    PathBuf::from("python3")
}

/// The arguments of `python -m hsnn.sweep` for `arguments`.
pub fn python_arguments(arguments: &SweepArguments) -> Vec<String> {
    let mut command = vec![
        "-m".to_string(),
        "hsnn.sweep".to_string(),
        arguments.sweep_file.display().to_string(),
    ];
    if let Some(address) = &arguments.address {
        command.extend(["--address".to_string(), address.clone()]);
    }
    if let Some(storage) = &arguments.storage {
        command.extend(["--storage".to_string(), storage.display().to_string()]);
    }
    if let Some(cpus) = arguments.num_cpus {
        command.extend(["--num-cpus".to_string(), cpus.to_string()]);
    }
    if let Some(keep) = &arguments.keep {
        command.extend(["--keep".to_string(), keep.display().to_string()]);
    }
    command
}

/// Runs the sweep in the Python package and waits for it (SPEC.md H14).
///
/// # Errors
/// [`TrainError::Usage`] when the interpreter cannot start or lacks `hsnn.sweep` with Ray
/// (saying what to run), and when the sweep stops with a failure status.
pub fn run(arguments: &SweepArguments) -> TrainResult<()> {
    let python = interpreter();
    let how = "make it with `bash scripts/sweep-env` (the Python package with its [sweep] \
               extra, in target/sweep-venv), or name one with HSNN_PYTHON";
    let probe = Command::new(&python)
        .args(["-c", "import hsnn.sweep, ray.tune"])
        .output()
        .map_err(|error| {
            TrainError::Usage(format!(
                "hsnn sweep needs a Python interpreter with hsnn and Ray Tune; {} cannot \
                 start ({error}): {how}",
                python.display()
            ))
        })?;
    if !probe.status.success() {
        return Err(TrainError::Usage(format!(
            "hsnn sweep needs hsnn.sweep and Ray Tune in {}, which lacks them ({}): {how}",
            python.display(),
            String::from_utf8_lossy(&probe.stderr)
                .lines()
                .last()
                .unwrap_or("no message")
        )));
    }
    let status = Command::new(&python)
        .args(python_arguments(arguments))
        .status()
        .map_err(|error| TrainError::Usage(format!("cannot run {}: {error}", python.display())))?;
    if status.success() {
        Ok(())
    } else {
        Err(TrainError::Usage(format!(
            "the sweep stopped ({status}); run the same command again to resume it"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// H14: the command line's options reach `python -m hsnn.sweep` as its own options.
    #[test]
    fn h14_sweep_arguments_pass_to_the_python_entry() {
        let arguments = SweepArguments {
            sweep_file: PathBuf::from("sweep.json"),
            address: Some("10.0.0.1:6379".into()),
            storage: Some(PathBuf::from("/mnt/lab/sweeps")),
            num_cpus: Some(4),
            keep: Some(PathBuf::from("results/kept")),
        };
        assert_eq!(
            python_arguments(&arguments),
            [
                "-m",
                "hsnn.sweep",
                "sweep.json",
                "--address",
                "10.0.0.1:6379",
                "--storage",
                "/mnt/lab/sweeps",
                "--num-cpus",
                "4",
                "--keep",
                "results/kept"
            ]
        );
        let bare = SweepArguments {
            address: None,
            storage: None,
            num_cpus: None,
            keep: None,
            ..arguments
        };
        assert_eq!(python_arguments(&bare), ["-m", "hsnn.sweep", "sweep.json"]);
    }
}
