//! Minibatch training with a dt schedule, atomic checkpoints and exact resume (SPEC.md
//! clauses T4-T8).
//!
//! Determinism (clause T8): the minibatch order of an epoch is a Fisher-Yates shuffle from a
//! stream seeded by (experiment seed, stage, epoch); each minibatch goes to the trainer whole,
//! and every backend splits it in a way fixed by the spec (the reference in chunks of 5
//! sequences, the optimized backend in shards of 50), so neither the thread count nor an
//! interruption changes a single bit. A checkpoint holds the weights, Adam's state, the kept
//! model and the position in the schedule; a resumed run continues from it exactly.

use std::path::Path;
use std::time::Instant;

use crate::initialization::SeededStream;
use crate::optimizer::{adam_state, adam_update};
use hsnn_data::Splits;
use hsnn_spec::{
    initial_state::splitmix64,
    model::{parse_versioned_among, sha256_hex, write_atomically},
    AdamState, HsnnError, LossFunction, Model, Trainer, Weights,
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use crate::data::{batch, predicted_class};
use crate::error::{TrainError, TrainResult};
use crate::evaluation::evaluate_with_loss;
use crate::experiment::{Experiment, StageConfig};

/// The `format` tag of a checkpoint file.
pub const CHECKPOINT_FORMAT: &str = "hsnn-checkpoint";
/// The checkpoint format version this build writes (4 adds `content_sha256`).
pub const CHECKPOINT_FORMAT_VERSION: u32 = 4;
/// The checkpoint format versions this build reads: a run checkpointed by the previous
/// version (no checksum) can still be resumed.
pub const CHECKPOINT_FORMAT_VERSIONS_READ: [u32; 2] = [3, 4];

/// What one epoch did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochSummary {
    /// Epoch number within the stage, from 1.
    pub epoch: usize,
    /// dt after the epoch: the one its validation used.
    pub dt: f64,
    /// Mean training loss over the epoch's minibatches (weighted by sequences).
    pub train_loss: f64,
    /// Training accuracy over the epoch, measured on the fly.
    pub train_accuracy: f64,
    /// Validation loss at the epoch's end, at its last dt.
    pub validation_loss: f64,
    /// Validation accuracy at the epoch's end.
    pub validation_accuracy: f64,
}

/// The model a stage keeps (clause T7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeptModel {
    /// The epoch it comes from.
    pub epoch: usize,
    /// Its validation loss.
    pub validation_loss: f64,
    /// The model.
    pub model: Model,
}

/// Everything needed to resume a stage exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Always [`CHECKPOINT_FORMAT`].
    pub format: String,
    /// Always [`CHECKPOINT_FORMAT_VERSION`].
    pub format_version: u32,
    /// Digest of everything that determines this stage's training (clause T8): the
    /// experiment's data, network, seed, batch size, optimizer and stages up to this one, the
    /// split sizes and labels, and the starting model. Resume refuses a checkpoint whose
    /// digest differs.
    pub fingerprint: String,
    /// The backend that trained it (`reference`, `optimized`): a resume must use the same one,
    /// since backends agree only to their conformance level, not bit for bit.
    pub backend: String,
    /// The experiment it belongs to.
    pub experiment: String,
    /// The stage it belongs to.
    pub stage: String,
    /// Minibatches applied so far in the stage.
    pub minibatches_completed: u64,
    /// The current weights (and configuration, with the current dt).
    pub model: Model,
    /// Adam's state.
    pub optimizer: AdamState,
    /// The best model so far among epochs that ended at the stage's final dt.
    pub kept: Option<KeptModel>,
    /// One entry per completed epoch.
    pub history: Vec<EpochSummary>,
    /// Sum of loss times sequences over the current epoch so far.
    pub epoch_loss_sum: f64,
    /// Correct predictions over the current epoch so far.
    pub epoch_correct: u64,
    /// Sequences seen in the current epoch so far.
    pub epoch_seen: u64,
    /// Whether the stage has finished.
    pub complete: bool,
    /// SHA-256 of the checkpoint's compact JSON with this field empty (version 4): a
    /// checkpoint changed after it was written (weights edited by hand, a damaged copy) is
    /// refused instead of resumed.
    #[serde(default)]
    pub content_sha256: String,
}

impl Checkpoint {
    /// Reads a checkpoint and checks that it belongs to `experiment` and `stage` (use
    /// [`Checkpoint::load_for`] to check its fingerprint too).
    pub fn load(path: &Path, experiment: &str, stage: &str) -> TrainResult<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| HsnnError::Io {
            action: "cannot read checkpoint".into(),
            path: path.display().to_string(),
            source,
        })?;
        let what = format!("checkpoint {}", path.display());
        let checkpoint = Checkpoint::from_json(&text, &what)?;
        if checkpoint.experiment != experiment || checkpoint.stage != stage {
            return Err(TrainError::Usage(format!(
                "{what} belongs to experiment {:?} stage {:?}, not {experiment:?} stage {stage:?}; use another --out folder or drop --resume",
                checkpoint.experiment, checkpoint.stage
            )));
        }
        Ok(checkpoint)
    }

    /// Parses and checks a checkpoint's text (clause T8): format and version, content
    /// checksum, the models and Adam's moments; `what` names it in messages. Whose run it
    /// belongs to is [`Checkpoint::load`]'s check.
    pub fn from_json(text: &str, what: &str) -> TrainResult<Self> {
        let what = what.to_string();
        let mut checkpoint: Checkpoint = parse_versioned_among(
            text,
            &what,
            CHECKPOINT_FORMAT,
            &CHECKPOINT_FORMAT_VERSIONS_READ,
        )?;
        if checkpoint.format_version >= 4 {
            let recomputed = checkpoint.content_digest()?;
            if checkpoint.content_sha256 != recomputed {
                return Err(TrainError::Usage(format!(
                    "{what} does not match its content_sha256 (changed after it was written, or \
                     damaged); resuming it would not continue the run that wrote it: drop \
                     --resume, or use --force to start over"
                )));
            }
        }
        checkpoint.model.validate()?;
        if let Some(kept) = &checkpoint.kept {
            kept.model.validate()?;
        }
        for (moments, which) in [
            (&checkpoint.optimizer.first_moment, "first"),
            (&checkpoint.optimizer.second_moment, "second"),
        ] {
            moments
                .validate(&checkpoint.model.config)
                .map_err(|error| {
                    TrainError::Usage(format!("{what}: Adam's {which} moments: {error}"))
                })?;
        }
        Ok(checkpoint)
    }

    /// Reads a checkpoint for resuming and refuses it unless it was written for exactly these
    /// settings (`fingerprint`, see [`stage_fingerprint`]).
    pub fn load_for(
        path: &Path,
        experiment: &str,
        stage: &str,
        fingerprint: &str,
        backend: &str,
    ) -> TrainResult<Self> {
        let checkpoint = Self::load(path, experiment, stage)?;
        if checkpoint.backend != backend {
            return Err(TrainError::Usage(format!(
                "checkpoint {} was written by the {} backend; resume it with --backend {} (backends \
                 agree only to their conformance level, so switching would not continue the same run)",
                path.display(),
                checkpoint.backend,
                checkpoint.backend
            )));
        }
        if checkpoint.fingerprint != fingerprint {
            return Err(TrainError::Usage(format!(
                "checkpoint {} was written for other settings of stage {stage:?} (data, network, batch size, \
                 optimizer, schedule or the previous stage's model changed); resuming it would not give the \
                 run you asked for: use another --out folder or drop --resume",
                path.display()
            )));
        }
        Ok(checkpoint)
    }

    /// The checksum `content_sha256` holds: SHA-256 of the compact JSON with that field
    /// empty (the field is restored afterwards). Reals round-trip exactly (SPEC C4), so a
    /// parsed checkpoint serializes to the same text it was read from.
    fn content_digest(&mut self) -> TrainResult<String> {
        let stored = std::mem::take(&mut self.content_sha256);
        let text = serde_json::to_string(self);
        self.content_sha256 = stored;
        let text = text.map_err(|error| HsnnError::Parse {
            what: "checkpoint".into(),
            reason: error.to_string(),
        })?;
        Ok(sha256_hex(text.as_bytes()))
    }

    /// Writes the checkpoint atomically, as the current version with its checksum.
    pub fn save(&self, path: &Path) -> TrainResult<()> {
        let mut sealed = self.clone();
        sealed.format_version = CHECKPOINT_FORMAT_VERSION;
        sealed.content_sha256 = sealed.content_digest()?;
        let text = serde_json::to_string(&sealed).map_err(|error| HsnnError::Parse {
            what: "checkpoint".into(),
            reason: error.to_string(),
        })?;
        Ok(write_atomically(path, text.as_bytes())?)
    }
}

/// Where a running stage is, handed to an [`Observer`] after every minibatch.
#[derive(Debug, Clone, PartialEq)]
pub struct MinibatchProgress<'a> {
    /// The stage's name.
    pub stage: &'a str,
    /// The current epoch, from 1.
    pub epoch: usize,
    /// Epochs of the stage.
    pub epochs: usize,
    /// Minibatches done in this epoch.
    pub in_epoch: u64,
    /// Minibatches per epoch.
    pub per_epoch: u64,
    /// Minibatches done in the stage.
    pub completed: u64,
    /// Minibatches of the stage.
    pub total: u64,
    /// Running mean training loss of the epoch.
    pub loss: f64,
    /// Running training accuracy of the epoch.
    pub accuracy: f64,
    /// The dt of the minibatch just done.
    pub dt: f64,
}

/// Receives what a running stage does, for progress displays: the engine computes, an observer
/// (the command line's progress bars, a log) shows. Every method does nothing by default.
pub trait Observer: Send + Sync {
    /// A run of several stages starts; they have these many minibatches each.
    fn run_started(&self, _stage_minibatches: &[u64]) {}
    /// A stage starts, or resumes with `completed` of `total` minibatches done.
    fn stage_started(&self, _stage: &str, _completed: u64, _total: u64) {}
    /// A minibatch finished.
    fn minibatch_finished(&self, _progress: &MinibatchProgress<'_>) {}
    /// An epoch finished (after its validation).
    fn epoch_finished(&self, _stage: &str, _epochs: usize, _summary: &EpochSummary) {}
    /// The stage stopped: finished, interrupted or failed.
    fn stage_stopped(&self, _stage: &str) {}
    /// A line of information (data loaded, a stage resumed).
    fn message(&self, _text: &str) {}
}

/// An observer that shows nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Observer for Silent {}

/// How a run is driven.
#[derive(Clone)]
pub struct RunControl {
    /// Who is told about progress.
    pub observer: Arc<dyn Observer>,
    /// Stop with [`TrainError::Interrupted`] after this many epochs of a stage in this run, right
    /// after their checkpoint (simulates a killed run; used by the resume test).
    pub stop_after_epochs: Option<usize>,
    /// Stop with [`TrainError::Interrupted`] after this many minibatches of a stage in this run,
    /// right after a mid-epoch checkpoint (counted per stage; ignored when that minibatch ends
    /// an epoch; used by the mid-epoch resume test).
    pub stop_after_minibatches: Option<u64>,
    /// Also checkpoint mid-epoch when this many seconds passed since the last checkpoint.
    pub checkpoint_seconds: f64,
    /// Set from outside (a signal handler) to stop after the current minibatch, with a
    /// checkpoint, as [`TrainError::Interrupted`].
    pub stop: Arc<std::sync::atomic::AtomicBool>,
}

impl std::fmt::Debug for RunControl {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("RunControl")
            .field("stop_after_epochs", &self.stop_after_epochs)
            .field("stop_after_minibatches", &self.stop_after_minibatches)
            .field("checkpoint_seconds", &self.checkpoint_seconds)
            .finish_non_exhaustive()
    }
}

impl Default for RunControl {
    fn default() -> Self {
        RunControl {
            observer: Arc::new(Silent),
            stop_after_epochs: None,
            stop_after_minibatches: None,
            checkpoint_seconds: 120.0,
            stop: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        }
    }
}

/// 64-bit FNV-1a of `bytes`, as 16 hex digits: a digest for refusing mismatched checkpoints,
/// not a security measure.
fn digest(bytes: &[u8]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// The fingerprint of stage `stage_index` started from `start` on `split` (clause T8).
pub fn stage_fingerprint(
    experiment: &Experiment,
    stage_index: usize,
    split: &Splits,
    start: &Model,
) -> String {
    let mut settings = serde_json::json!({
        "data": experiment.data,
        "network": experiment.network,
        "seed": experiment.seed,
        "batch_size": experiment.batch_size,
        "optimizer": experiment.optimizer,
        "stages": experiment.stages[..=stage_index],
        "train": [split.train.len(), split.train.labels()],
        "validation": [split.validation.len(), split.validation.labels()],
        "start": start,
    });
    // Added only when not the default, so checkpoints written before losses could be chosen
    // keep their fingerprints.
    if !experiment.loss.is_default() {
        settings["loss"] = serde_json::json!(experiment.loss);
    }
    // A sequence file's values (D7), which its labels alone do not pin: resuming on another
    // file with the same labels is refused. psMNIST's splits have none here, so their
    // fingerprints are unchanged.
    if let (Some(train), Some(validation)) = (
        split.train.values_digest(),
        split.validation.values_digest(),
    ) {
        settings["values"] = serde_json::json!([train, validation]);
    }
    digest(settings.to_string().as_bytes())
}

/// The minibatch order of `epoch` of stage `stage_index` (clause T8).
pub fn epoch_order(samples: usize, seed: u64, stage_index: usize, epoch: usize) -> Vec<usize> {
    let mut stream =
        SeededStream::new(splitmix64(seed) ^ splitmix64((stage_index as u64) << 32 | epoch as u64));
    let mut order: Vec<usize> = (0..samples).collect();
    for index in (1..samples).rev() {
        let other = stream.index_below(index as u64 + 1) as usize;
        order.swap(index, other);
    }
    order
}

/// Mean loss, gradients and correct predictions of one minibatch, handed to the trainer
/// whole: each backend partitions it in its own fixed way (clause T8).
fn minibatch_gradients<T: Trainer>(
    trainer: &T,
    model: &Model,
    split: &Splits,
    indices: &[usize],
    epoch: usize,
    loss: LossFunction,
) -> TrainResult<(f64, Weights, u64)> {
    // Training sample ids differ per epoch so spiking runs see fresh initial states.
    let ids = indices
        .iter()
        .map(|&index| ((epoch as u64) << 32) | index as u64)
        .collect();
    let (sequences, labels) = batch(&split.train, indices, ids)?;
    let output = trainer.gradients_with_loss(model, &sequences, &labels, loss)?;
    let correct = labels
        .iter()
        .enumerate()
        .filter(|(sample, &label)| predicted_class(output.logits.row(*sample)) == label)
        .count() as u64;
    Ok((output.loss, output.gradients, correct))
}

/// The sizes of one stage's loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StageLength {
    /// Training sequences.
    pub samples: usize,
    /// Minibatches per epoch.
    pub per_epoch: u64,
    /// Minibatches in the stage.
    pub total: u64,
    /// Minibatches of its dt ramp.
    pub ramp: u64,
}

/// Checks that stage `stage_index` can run on `split` (clause T7: non-empty training and
/// validation splits, a ramp no longer than the stage) and returns its sizes. Called for every
/// stage before the first trains, so a bad later stage is reported at once, not after hours.
pub fn check_stage(
    experiment: &Experiment,
    stage_index: usize,
    split: &Splits,
) -> TrainResult<StageLength> {
    let stage: &StageConfig = &experiment.stages[stage_index];
    let samples = split.train.len();
    if samples == 0 || split.validation.is_empty() {
        return Err(TrainError::Usage(format!(
            "stage {}: the training split has {} and the validation split {} sequences; both need at least one \
             (validation picks the kept model, clause T7)",
            stage.name,
            samples,
            split.validation.len()
        )));
    }
    let per_epoch = samples.div_ceil(experiment.batch_size) as u64;
    let total = per_epoch.saturating_mul(stage.epochs as u64);
    let ramp = stage.schedule.ramp_minibatches();
    if ramp > total {
        return Err(TrainError::Usage(format!(
            "stage {}: the dt schedule ramps over {ramp} minibatches but the stage has only {total} \
             ({} epochs of {per_epoch}); lengthen the stage or shorten the ramp",
            stage.name, stage.epochs
        )));
    }
    Ok(StageLength {
        samples,
        per_epoch,
        total,
        ramp,
    })
}

/// Runs (or resumes) one stage from `start` and returns its kept model (clause T7).
#[allow(clippy::too_many_arguments)]
pub fn run_stage<T: Trainer>(
    trainer: &T,
    experiment: &Experiment,
    stage_index: usize,
    start: &Model,
    split: &Splits,
    checkpoint_path: &Path,
    resume: bool,
    control: &RunControl,
) -> TrainResult<Checkpoint> {
    let stage: &StageConfig = &experiment.stages[stage_index];
    let StageLength {
        samples,
        per_epoch,
        total,
        ramp,
    } = check_stage(experiment, stage_index, split)?;
    let fingerprint = stage_fingerprint(experiment, stage_index, split, start);
    let mut checkpoint = if resume && checkpoint_path.exists() {
        Checkpoint::load_for(
            checkpoint_path,
            &experiment.name,
            &stage.name,
            &fingerprint,
            trainer.name(),
        )?
    } else {
        let mut model = start.clone();
        model.config.quantizer.placement = stage.placement;
        model.config.quantizer.dt = stage.schedule.dt_at(0);
        Checkpoint {
            format: CHECKPOINT_FORMAT.into(),
            format_version: CHECKPOINT_FORMAT_VERSION,
            fingerprint,
            backend: trainer.name().into(),
            experiment: experiment.name.clone(),
            stage: stage.name.clone(),
            minibatches_completed: 0,
            optimizer: adam_state(&model.config),
            model,
            kept: None,
            history: Vec::new(),
            epoch_loss_sum: 0.0,
            epoch_correct: 0,
            epoch_seen: 0,
            complete: false,
            content_sha256: String::new(),
        }
    };
    if checkpoint.complete {
        // Tell the observer anyway, so its account of the stages left stays right.
        control.observer.stage_started(&stage.name, total, total);
        control.observer.stage_stopped(&stage.name);
        return Ok(checkpoint);
    }
    if checkpoint.minibatches_completed > total {
        return Err(TrainError::Usage(format!(
            "checkpoint {} is past the end of stage {} ({} of {total} minibatches)",
            checkpoint_path.display(),
            stage.name,
            checkpoint.minibatches_completed
        )));
    }
    let mut epochs_this_run = 0;
    let mut minibatches_this_run = 0u64;
    let mut last_save = Instant::now();
    let observer = &control.observer;
    if checkpoint.minibatches_completed > 0 {
        observer.message(&format!(
            "resuming stage {} at minibatch {} of {total} (epoch {}, minibatch {} of {per_epoch}) from {}",
            stage.name,
            checkpoint.minibatches_completed,
            checkpoint.minibatches_completed / per_epoch + 1,
            checkpoint.minibatches_completed % per_epoch,
            checkpoint_path.display()
        ));
    }
    observer.stage_started(&stage.name, checkpoint.minibatches_completed, total);
    let mut order_epoch = usize::MAX;
    let mut order = Vec::new();
    while checkpoint.minibatches_completed < total {
        let epoch = (checkpoint.minibatches_completed / per_epoch) as usize;
        let position = (checkpoint.minibatches_completed % per_epoch) as usize;
        if order_epoch != epoch {
            order = epoch_order(samples, experiment.seed, stage_index, epoch);
            order_epoch = epoch;
        }
        let start_index = position * experiment.batch_size;
        let indices = &order[start_index..(start_index + experiment.batch_size).min(samples)];
        let dt = stage.schedule.dt_at(checkpoint.minibatches_completed);
        checkpoint.model.config.quantizer.dt = dt;
        let (loss, gradients, correct) = minibatch_gradients(
            trainer,
            &checkpoint.model,
            split,
            indices,
            epoch,
            experiment.loss,
        )?;
        if !loss.is_finite() {
            return Err(HsnnError::Numerical {
                operation: format!("training stage {}", stage.name),
                reason: format!(
                    "loss became {loss} at minibatch {}; lower the learning rate",
                    checkpoint.minibatches_completed
                ),
            }
            .into());
        }
        // A non-finite gradient would put NaN into the weights through Adam and only surface
        // as an invalid model later: stop here, before the update, with where it happened.
        if let Some((name, index)) = gradients.named().iter().find_map(|(name, tensor)| {
            tensor
                .data
                .iter()
                .position(|value| !value.is_finite())
                .map(|index| (*name, index))
        }) {
            return Err(HsnnError::Numerical {
                operation: format!("training stage {}", stage.name),
                reason: format!(
                    "the gradient of weights.{name}[{index}] became non-finite at minibatch {} \
                     (epoch {}, minibatch {} of it); the weights were not updated and the last \
                     checkpoint is intact",
                    checkpoint.minibatches_completed,
                    epoch + 1,
                    position
                ),
            }
            .into());
        }
        adam_update(
            &experiment.optimizer,
            &mut checkpoint.optimizer,
            &mut checkpoint.model.weights,
            &gradients,
        )?;
        checkpoint.minibatches_completed += 1;
        minibatches_this_run += 1;
        checkpoint.epoch_loss_sum += loss * indices.len() as f64;
        checkpoint.epoch_correct += correct;
        checkpoint.epoch_seen += indices.len() as u64;
        observer.minibatch_finished(&MinibatchProgress {
            stage: &stage.name,
            epoch: epoch + 1,
            epochs: stage.epochs,
            in_epoch: position as u64 + 1,
            per_epoch,
            completed: checkpoint.minibatches_completed,
            total,
            loss: checkpoint.epoch_loss_sum / checkpoint.epoch_seen as f64,
            accuracy: checkpoint.epoch_correct as f64 / checkpoint.epoch_seen as f64,
            dt,
        });

        if position as u64 + 1 == per_epoch {
            // Validate at the dt the next minibatch would use: the schedule's end once it is
            // over, so the kept model is judged at the dt it will be used at.
            checkpoint.model.config.quantizer.dt =
                stage.schedule.dt_at(checkpoint.minibatches_completed);
            let validation = evaluate_with_loss(
                trainer,
                &checkpoint.model,
                &split.validation,
                experiment.loss,
            )?;
            let summary = EpochSummary {
                epoch: epoch + 1,
                dt: checkpoint.model.config.quantizer.dt,
                train_loss: checkpoint.epoch_loss_sum / checkpoint.epoch_seen as f64,
                train_accuracy: checkpoint.epoch_correct as f64 / checkpoint.epoch_seen as f64,
                validation_loss: validation.loss,
                validation_accuracy: validation.accuracy,
            };
            observer.epoch_finished(&stage.name, stage.epochs, &summary);
            // Keep the best validation loss among epochs that ended at the final dt (T7).
            if !validation.loss.is_finite() {
                return Err(HsnnError::Numerical {
                    operation: format!(
                        "validation after epoch {} of stage {}",
                        epoch + 1,
                        stage.name
                    ),
                    reason: format!(
                        "the loss is {}; lower the learning rate or check the inputs",
                        validation.loss
                    ),
                }
                .into());
            }
            let at_final_dt = checkpoint.minibatches_completed >= ramp;
            let better = checkpoint
                .kept
                .as_ref()
                .is_none_or(|kept| validation.loss < kept.validation_loss);
            if at_final_dt && better {
                checkpoint.kept = Some(KeptModel {
                    epoch: epoch + 1,
                    validation_loss: validation.loss,
                    model: checkpoint.model.clone(),
                });
            }
            checkpoint.history.push(summary);
            checkpoint.epoch_loss_sum = 0.0;
            checkpoint.epoch_correct = 0;
            checkpoint.epoch_seen = 0;
            epochs_this_run += 1;
            checkpoint.complete = checkpoint.minibatches_completed == total;
            if checkpoint.complete && checkpoint.kept.is_none() {
                checkpoint.kept = Some(KeptModel {
                    epoch: epoch + 1,
                    validation_loss: validation.loss,
                    model: checkpoint.model.clone(),
                });
            }
            checkpoint.save(checkpoint_path)?;
            last_save = Instant::now();
            if !checkpoint.complete && control.stop_after_epochs == Some(epochs_this_run) {
                observer.stage_stopped(&stage.name);
                return Err(TrainError::Interrupted {
                    stage: stage.name.clone(),
                    minibatches: checkpoint.minibatches_completed,
                });
            }
        } else if control.stop_after_minibatches == Some(minibatches_this_run) {
            checkpoint.save(checkpoint_path)?;
            observer.stage_stopped(&stage.name);
            return Err(TrainError::Interrupted {
                stage: stage.name.clone(),
                minibatches: checkpoint.minibatches_completed,
            });
        } else if last_save.elapsed().as_secs_f64() >= control.checkpoint_seconds {
            checkpoint.save(checkpoint_path)?;
            last_save = Instant::now();
        }
        // A stop asked for from outside (Ctrl-C, SIGTERM): the minibatch is done, so save
        // where the stage is and stop; `--resume` continues from exactly here.
        if !checkpoint.complete && control.stop.load(std::sync::atomic::Ordering::SeqCst) {
            checkpoint.save(checkpoint_path)?;
            observer.stage_stopped(&stage.name);
            return Err(TrainError::Interrupted {
                stage: stage.name.clone(),
                minibatches: checkpoint.minibatches_completed,
            });
        }
    }
    observer.stage_stopped(&stage.name);
    Ok(checkpoint)
}
