//! E2's atomic writes when the disk fills up or the folder turns read-only: a clear error that
//! names the file and the cause, the previous file intact, no temporary file left behind.
//! Every file hsnn writes (model files, checkpoints, results, vectors, fixed models) goes
//! through `write_atomically`. The tests mount a small tmpfs, so they need root (as CI has);
//! elsewhere they say so and pass without checking.

use std::path::{Path, PathBuf};
use std::process::Command;

use hsnn_spec::model::write_atomically;

/// A tmpfs of `size` mounted on a fresh folder, unmounted when dropped; `None` without the
/// right to mount.
struct SmallDisk {
    path: PathBuf,
    /// Held while mounted: the tests of this file mount one after another.
    _serialized: std::sync::MutexGuard<'static, ()>,
}

/// The tests of this file mount and remount one after the other.
static MOUNTS: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl SmallDisk {
    fn mount(name: &str, size: &str) -> Option<SmallDisk> {
        let guard = MOUNTS
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let path = std::env::temp_dir().join(format!("hsnn-disk-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&path).ok()?;
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .output()
            .is_ok_and(|output| output.status.success());
        if !mounted {
            // CI sets HSNN_REQUIRE_MOUNT, so there a test that could not mount fails instead of
            // passing without checking.
            assert!(
                std::env::var_os("HSNN_REQUIRE_MOUNT").is_none(),
                "HSNN_REQUIRE_MOUNT is set but a tmpfs cannot be mounted on {}",
                path.display()
            );
            eprintln!("cannot mount a tmpfs here (not root?): full-disk checks skipped");
            let _ = std::fs::remove_dir(&path);
            return None;
        }
        Some(SmallDisk {
            path,
            _serialized: guard,
        })
    }

    /// Remounts `ro` or `rw`; a remount refused as busy (a writer not yet gone) is tried again
    /// a few times before the test fails with mount's own message.
    fn remount(&self, mode: &str) {
        let mut message = String::new();
        for _ in 0..20 {
            let output = Command::new("mount")
                .args(["-o", &format!("remount,{mode}")])
                .arg(&self.path)
                .output()
                .expect("mount");
            if output.status.success() {
                return;
            }
            message = String::from_utf8_lossy(&output.stderr).into_owned();
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("remount {mode}: {message}");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(&self.path)
            .status()
            .is_ok_and(|status| status.success())
            // A busy file system is detached now and freed when its last user goes.
            || Command::new("umount")
                .arg("-l")
                .arg(&self.path)
                .status()
                .is_ok_and(|status| status.success());
        if !unmounted {
            eprintln!("could not unmount the test tmpfs {}", self.path.display());
        }
        let _ = std::fs::remove_dir(&self.path);
    }
}

/// Files in `folder` other than `keep`.
fn others(folder: &Path, keep: &str) -> Vec<String> {
    std::fs::read_dir(folder)
        .expect("folder")
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name != keep)
        .collect()
}

#[test]
fn e2_a_full_disk_is_a_clear_error_and_keeps_the_previous_file() {
    let Some(disk) = SmallDisk::mount("full", "64k") else {
        return;
    };
    let path = disk.path.join("checkpoint-non_spiking.json");
    write_atomically(&path, b"{\"previous\": true}").expect("a small file fits");
    let error = write_atomically(&path, &vec![b'x'; 200 * 1024]).expect_err("200 KiB in 64 KiB");
    let message = error.to_string();
    assert!(
        message.contains("checkpoint-non_spiking.json") && message.contains("No space left"),
        "{message}"
    );
    assert_eq!(
        std::fs::read(&path).expect("previous file"),
        b"{\"previous\": true}"
    );
    assert_eq!(
        others(&disk.path, "checkpoint-non_spiking.json"),
        Vec::<String>::new()
    );
}

#[test]
fn e2_a_read_only_folder_is_a_clear_error_and_keeps_the_previous_file() {
    let Some(disk) = SmallDisk::mount("read-only", "64k") else {
        return;
    };
    let path = disk.path.join("results.json");
    write_atomically(&path, b"first").expect("writable");
    disk.remount("ro");
    let error = write_atomically(&path, b"second").expect_err("read-only");
    let message = error.to_string();
    assert!(
        message.contains("results.json") && message.contains("Read-only"),
        "{message}"
    );
    assert_eq!(std::fs::read(&path).expect("previous file"), b"first");
    assert_eq!(others(&disk.path, "results.json"), Vec::<String>::new());
    disk.remount("rw");
    write_atomically(&path, b"third").expect("writable again");
    assert_eq!(std::fs::read(&path).expect("file"), b"third");
}

/// T8 with a folder that turns read-only in the middle of a run: the run stopped after an
/// epoch, the folder made read-only, the resumed run fails with an error that says so, the
/// checkpoint on disk is the one from before and no temporary file is left, and once the
/// folder is writable again the run resumes and completes.
#[test]
fn t8_a_folder_turning_read_only_mid_run_loses_nothing() {
    use hsnn_reference::ReferenceBackend;
    use hsnn_train::reproduce::{reproduce, ReproduceOptions};
    use hsnn_train::training_loop::RunControl;
    let Some(disk) = SmallDisk::mount("mid-run", "16m") else {
        return;
    };
    let mut experiment = hsnn_train::experiment::Experiment::load(None).expect("embedded");
    experiment.name = "tiny".into();
    experiment.data.limit = Some(40);
    experiment.data.validation_size = Some(40);
    experiment.network.lmu.hidden_size = 4;
    experiment.network.lmu.order = 4;
    experiment.batch_size = 20;
    experiment.stages[0].epochs = 2;
    experiment.stages[1].epochs = 1;
    experiment.stages[1].schedule = hsnn_spec::DtSchedule::Constant { dt: 2.0 };
    experiment.evaluation_dts = vec![2.0];
    let out = disk.path.join("run");
    let options = |resume: bool, stop: Option<usize>| ReproduceOptions {
        data_directory: None,
        out_directory: out.clone(),
        resume,
        force: false,
        control: RunControl {
            stop_after_epochs: stop,
            ..RunControl::default()
        },
    };
    let stopped = reproduce(&ReferenceBackend, &experiment, &options(false, Some(1)));
    assert!(stopped.is_err(), "stopped after one epoch");
    let checkpoint = out.join("checkpoint-non_spiking.json");
    let before = std::fs::read(&checkpoint).expect("a checkpoint after one epoch");
    disk.remount("ro");
    let error = reproduce(&ReferenceBackend, &experiment, &options(true, None))
        .expect_err("nothing can be written");
    let message = error.to_string();
    assert!(message.contains("Read-only"), "{message}");
    assert_eq!(std::fs::read(&checkpoint).expect("checkpoint"), before);
    disk.remount("rw");
    assert!(
        others(&out, "").iter().all(|name| !name.ends_with(".tmp")),
        "{:?}",
        others(&out, "")
    );
    reproduce(&ReferenceBackend, &experiment, &options(true, None)).expect("resumed run");
    assert!(out.join("results.json").exists());
}
