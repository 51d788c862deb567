//! The output folder of a run (SPEC.md clause T8): checked before the first minibatch, refused
//! when it already holds another run, and locked against a second process.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{TrainError, TrainResult};

/// The name of the lock file in a run folder.
pub const LOCK_FILE: &str = ".hsnn-lock";

/// Files a run writes into its folder; their presence means the folder holds a run.
fn is_run_file(name: &str) -> bool {
    name == "results.json"
        || name == "accuracy_bits_vs_dt.png"
        || ((name.starts_with("checkpoint-") || name.starts_with("model-"))
            && name.ends_with(".json"))
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
