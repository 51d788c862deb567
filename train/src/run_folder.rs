//! The output folder of a run (SPEC.md clause T8): checked before the first minibatch, refused
//! when it already holds another run, and locked against a second process.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{TrainError, TrainResult};

/// The name of the lock file in a run folder.
pub const LOCK_FILE: &str = ".hsnn-lock";

/// Files only training writes: checkpoints and model files.
pub fn is_training_file(name: &str) -> bool {
    (name.starts_with("checkpoint-") || name.starts_with("model-")) && name.ends_with(".json")
}

/// Files a run writes into its folder; their presence means the folder holds a run.
fn is_run_file(name: &str) -> bool {
    name == "results.json" || name == "accuracy_bits_vs_dt.png" || is_training_file(name)
}

/// Holds a run folder's lock; dropping it removes the lock file.
#[derive(Debug)]
pub struct RunLock {
    path: PathBuf,
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Whether the process `pid` is alive, as far as this platform can tell (on Linux through
/// `/proc`; elsewhere every recorded process counts as alive, so a stale lock is reported).
fn process_alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        Path::new("/proc").join(pid.to_string()).exists()
    } else {
        true
    }
}

/// Prepares `out` for a run: creates it, checks that it is writable, refuses it when it holds
/// another run's files unless `resume` (continue it) or `force` (its run files are deleted
/// first), and takes its lock, refused while another live process holds it. Everything is
/// checked before anything trains, so a bad folder costs seconds, not an epoch.
pub fn prepare(out: &Path, resume: bool, force: bool) -> TrainResult<RunLock> {
    let io = |action: &str, path: &Path, source| {
        TrainError::Spec(hsnn_spec::HsnnError::Io {
            action: action.into(),
            path: path.display().to_string(),
            source,
        })
    };
    if out.exists() && !out.is_dir() {
        return Err(TrainError::Usage(format!(
            "--out {} is a file, not a folder; name a folder for the run's checkpoints and models",
            out.display()
        )));
    }
    std::fs::create_dir_all(out)
        .map_err(|source| io("cannot create the run folder", out, source))?;
    let lock_path = out.join(LOCK_FILE);
    if let Ok(text) = std::fs::read_to_string(&lock_path) {
        let pid = text.trim().parse::<u32>().ok();
        match pid {
            Some(pid) if pid != std::process::id() && process_alive(pid) => {
                return Err(TrainError::Usage(format!(
                    "{} is in use by another hsnn run (process {pid}, lock {}); wait for it to end, \
                     or use another --out folder",
                    out.display(),
                    lock_path.display()
                )))
            }
            // A lock left by a process that no longer runs (killed): take it over.
            _ => {
                let _ = std::fs::remove_file(&lock_path);
            }
        }
    }
    let mut lock = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&lock_path)
        .map_err(|source| {
            io(
                "cannot take the lock of the run folder (is it writable?)",
                &lock_path,
                source,
            )
        })?;
    let guard = RunLock {
        path: lock_path.clone(),
    };
    writeln!(lock, "{}", std::process::id())
        .and_then(|()| lock.sync_all())
        .map_err(|source| io("cannot write into the run folder", &lock_path, source))?;
    let existing: Vec<PathBuf> = std::fs::read_dir(out)
        .map_err(|source| io("cannot list the run folder", out, source))?
        .flatten()
        .filter(|entry| is_run_file(&entry.file_name().to_string_lossy()))
        .map(|entry| entry.path())
        .collect();
    if !existing.is_empty() && !resume {
        if !force {
            let names: Vec<String> = existing
                .iter()
                .filter_map(|path| {
                    path.file_name()
                        .map(|name| name.to_string_lossy().into_owned())
                })
                .collect();
            return Err(TrainError::Usage(format!(
                "{} already holds a run ({}); continue it with --resume, start it over with --force \
                 (its checkpoints, models and results are deleted), or use another --out folder",
                out.display(),
                names.join(", ")
            )));
        }
        for path in &existing {
            std::fs::remove_file(path)
                .map_err(|source| io("cannot delete the old run's file", path, source))?;
        }
    }
    Ok(guard)
}

/// Memory one training step of `network` at `batch` sequences of `steps` steps needs, in bytes:
/// an upper bound for both backends, every step's memory, hidden state, pre-activation, rate
/// and memory input kept in f64 (the reference keeps f64 records, the optimized backend f32
/// ones plus their adjoints), plus the model, its gradients and Adam's two moments.
pub fn estimated_training_bytes(
    network: &hsnn_spec::NetworkConfig,
    batch: usize,
    steps: usize,
) -> u128 {
    let lmu = &network.lmu;
    let per_step = lmu.input_size + lmu.memory_length() + 4 * lmu.hidden_size + 2 * lmu.memory_size;
    let records = batch as u128 * steps as u128 * per_step as u128 * 8;
    let parameters = network.trainable_parameter_count() as u128 * 8 * 5;
    records + parameters
}

/// Memory the machine has available now, in bytes (`MemAvailable` of `/proc/meminfo`), when
/// the platform says.
fn available_bytes() -> Option<u128> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text
        .lines()
        .find(|line| line.starts_with("MemAvailable:"))?;
    let kibibytes: u128 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kibibytes * 1024)
}

/// Refuses a run whose training step would need more memory than the machine has, before
/// anything is allocated, with the estimate in the message.
pub fn check_memory(
    network: &hsnn_spec::NetworkConfig,
    batch: usize,
    steps: usize,
) -> TrainResult<()> {
    let needed = estimated_training_bytes(network, batch, steps);
    match available_bytes() {
        Some(available) if needed > available => Err(TrainError::Usage(format!(
            "a training step of this network at batch_size {batch} ({steps} steps) needs about {:.1} GiB, \
             and this machine has {:.1} GiB available; lower batch_size or the network's sizes",
            needed as f64 / (1u64 << 30) as f64,
            available as f64 / (1u64 << 30) as f64
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The estimate of the paper's network at batch 100 (about 0.7 GiB) fits this machine, and
    /// one a thousand times larger is refused with the estimate in the message.
    #[test]
    fn e1_memory_estimate_refuses_what_does_not_fit() {
        let paper = hsnn_spec::NetworkConfig::psmnist();
        let bytes = estimated_training_bytes(&paper, 100, 784);
        assert!((600_000_000..800_000_000).contains(&bytes), "{bytes}");
        if available_bytes().is_some() {
            let error = check_memory(&paper, 100_000_000, 784).expect_err("far too large");
            assert!(error.to_string().contains("GiB"), "{error}");
        }
    }
}
