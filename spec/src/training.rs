//! Training vocabulary (SPEC.md section T): the trainer interface, optimizer and dt-schedule
//! configurations, optimizer state for checkpoints.

use serde::{Deserialize, Serialize};

use crate::backend::Backend;
use crate::error::{HsnnError, Result};
use crate::model::{Model, Weights};
use crate::tensor::{SequenceBatch, Tensor2};

/// Which loss a trainer minimises (SPEC.md clause T1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossFunction {
    /// T1: the exact softmax cross-entropy of the logits, through log-sum-exp, in the
    /// backend's precision; every sequence contributes its full gradient.
    #[default]
    SoftmaxCrossEntropy,
    /// T1b: categorical cross-entropy as standalone Keras 2.2 on TensorFlow 1 computes it
    /// after a softmax layer, in binary32: softmax, `p / sum(p)`, `clip(p, 1e-7, 1 - 1e-7)`,
    /// `-log p_y`. A sequence whose normalised true-class probability lies outside the clip
    /// range contributes no gradient; no sequence's loss exceeds 16.12.
    Keras2Probability,
}

impl LossFunction {
    /// The name used in experiment files and reports.
    pub fn name(&self) -> &'static str {
        match self {
            LossFunction::SoftmaxCrossEntropy => "softmax_cross_entropy",
            LossFunction::Keras2Probability => "keras2_probability",
        }
    }

    /// True for the default, [`LossFunction::SoftmaxCrossEntropy`] (files omit it).
    pub fn is_default(&self) -> bool {
        *self == LossFunction::default()
    }
}

/// Loss and gradients of one minibatch (SPEC.md clauses T1-T3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GradientOutput {
    /// Mean loss over the batch (clause T1, of the requested [`LossFunction`]).
    pub loss: f64,
    /// Gradient of the mean loss with respect to every weight, same shapes as the model's.
    pub gradients: Weights,
    /// Logits of the forward pass, `batch x output_size`.
    pub logits: Tensor2,
}

/// A backend that can also compute gradients (SPEC.md section T): spikes on the forward pass,
/// the rate derivative on the backward pass (clause T2).
pub trait Trainer: Backend {
    /// Mean loss `loss` over `batch` with class labels `labels`, and its gradients, at the
    /// model's current quantizer settings (the dt schedule sets `model.config.quantizer.dt`)
    /// (clauses T1-T3).
    fn gradients_with_loss(
        &self,
        model: &Model,
        batch: &SequenceBatch,
        labels: &[usize],
        loss: LossFunction,
    ) -> Result<GradientOutput>;

    /// [`Trainer::gradients_with_loss`] with the default loss, T1's softmax cross-entropy.
    fn gradients(
        &self,
        model: &Model,
        batch: &SequenceBatch,
        labels: &[usize],
    ) -> Result<GradientOutput> {
        self.gradients_with_loss(model, batch, labels, LossFunction::SoftmaxCrossEntropy)
    }
}

/// Adam with the Keras defaults (SPEC.md clause T4).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdamConfig {
    /// Learning rate (Keras default 1e-3).
    pub learning_rate: f64,
    /// First-moment decay (0.9).
    pub beta1: f64,
    /// Second-moment decay (0.999).
    pub beta2: f64,
    /// Denominator guard (Keras default 1e-7).
    pub epsilon: f64,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            learning_rate: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-7,
        }
    }
}

impl AdamConfig {
    /// Checks every field (clause E1).
    pub fn validate(&self) -> Result<()> {
        let positive = |name: &str, value: f64| {
            if value.is_finite() && value > 0.0 {
                Ok(())
            } else {
                Err(HsnnError::invalid(
                    format!("optimizer.{name}"),
                    format!("must be a finite number greater than 0, got {value}"),
                ))
            }
        };
        positive("learning_rate", self.learning_rate)?;
        positive("epsilon", self.epsilon)?;
        for (name, value) in [("beta1", self.beta1), ("beta2", self.beta2)] {
            if !(0.0..1.0).contains(&value) {
                return Err(HsnnError::invalid(
                    format!("optimizer.{name}"),
                    format!("must lie in [0, 1), got {value}"),
                ));
            }
        }
        Ok(())
    }
}

/// Adam's state: what a checkpoint must hold to resume exactly (clause T4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdamState {
    /// Updates applied so far.
    pub step: u64,
    /// First-moment estimates, shaped like the weights.
    pub first_moment: Weights,
    /// Second-moment estimates, shaped like the weights.
    pub second_moment: Weights,
}

/// How dt moves from the non-spiking regime towards the spiking one, one value per minibatch
/// (SPEC.md clause T5). `minibatch` counts from 0 at the start of the stage.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", deny_unknown_fields)]
pub enum DtSchedule {
    /// The same dt throughout.
    Constant {
        /// The time step.
        dt: f64,
    },
    /// Geometric from `start` to `end` over `minibatches`, then constant at `end`:
    /// `dt_k = start * (end / start)^(min(k, minibatches) / minibatches)`
    /// (keras-spiking's DtScheduler with exponential decay).
    Exponential {
        /// dt at minibatch 0.
        start: f64,
        /// dt from minibatch `minibatches` on.
        end: f64,
        /// Length of the decay.
        minibatches: u64,
    },
    /// Linear from `start` to `end` over `minibatches`, then constant at `end`.
    Linear {
        /// dt at minibatch 0.
        start: f64,
        /// dt from minibatch `minibatches` on.
        end: f64,
        /// Length of the ramp.
        minibatches: u64,
    },
}

impl DtSchedule {
    /// Checks that every dt is finite and positive and ramps have a length (clause E1). Errors
    /// name the field as written in an experiment file's schedule (`schedule.start`, ...).
    pub fn validate(&self) -> Result<()> {
        self.validate_as("schedule")
    }

    /// [`Self::validate`], naming fields under `prefix` (e.g. `stages[1].schedule`).
    pub fn validate_as(&self, prefix: &str) -> Result<()> {
        let (values, minibatches): (Vec<(&str, f64)>, u64) = match *self {
            DtSchedule::Constant { dt } => (vec![("dt", dt)], 1),
            DtSchedule::Exponential {
                start,
                end,
                minibatches,
            }
            | DtSchedule::Linear {
                start,
                end,
                minibatches,
            } => (vec![("start", start), ("end", end)], minibatches),
        };
        for (name, value) in values {
            crate::config::validate_dt_as(&format!("{prefix}.{name}"), value)?;
        }
        if minibatches == 0 {
            return Err(HsnnError::invalid(
                format!("{prefix}.minibatches"),
                "must be at least 1, got 0",
            ));
        }
        Ok(())
    }

    /// The dt the schedule ends at (the constant dt for a constant schedule).
    pub fn end(&self) -> f64 {
        match *self {
            DtSchedule::Constant { dt } => dt,
            DtSchedule::Exponential { end, .. } | DtSchedule::Linear { end, .. } => end,
        }
    }

    /// Minibatches until dt reaches [`Self::end`] (0 for a constant schedule).
    pub fn ramp_minibatches(&self) -> u64 {
        match *self {
            DtSchedule::Constant { .. } => 0,
            DtSchedule::Exponential { minibatches, .. }
            | DtSchedule::Linear { minibatches, .. } => minibatches,
        }
    }

    /// dt at minibatch `minibatch` of the stage (clause T5); exactly `end` once the ramp is
    /// over, so a stage can tell that its schedule has finished.
    pub fn dt_at(&self, minibatch: u64) -> f64 {
        if minibatch >= self.ramp_minibatches() {
            return self.end();
        }
        match *self {
            DtSchedule::Constant { dt } => dt,
            DtSchedule::Exponential {
                start,
                end,
                minibatches,
            } => {
                let progress = minibatch.min(minibatches) as f64 / minibatches as f64;
                start * (end / start).powf(progress)
            }
            DtSchedule::Linear {
                start,
                end,
                minibatches,
            } => {
                let progress = minibatch.min(minibatches) as f64 / minibatches as f64;
                start + (end - start) * progress
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// T5: the schedules hit their end points, are monotone between, and hold the end value.
    #[test]
    fn t5_schedules_interpolate_between_end_points() {
        let exponential = DtSchedule::Exponential {
            start: 1000.0,
            end: 1.0,
            minibatches: 3,
        };
        assert_eq!(exponential.dt_at(0), 1000.0);
        assert!((exponential.dt_at(1) - 100.0).abs() < 1e-9);
        assert!((exponential.dt_at(2) - 10.0).abs() < 1e-9);
        assert_eq!(exponential.dt_at(3), 1.0);
        assert_eq!(exponential.dt_at(50), 1.0);
        let linear = DtSchedule::Linear {
            start: 5.0,
            end: 1.0,
            minibatches: 4,
        };
        assert_eq!(
            (0..6).map(|k| linear.dt_at(k)).collect::<Vec<_>>(),
            vec![5.0, 4.0, 3.0, 2.0, 1.0, 1.0]
        );
        assert_eq!(DtSchedule::Constant { dt: 0.5 }.dt_at(99), 0.5);
        // End points whose interpolation formula would round off `end` (measured: 0.1 + 2e-17,
        // 3 - 4e-16, 0.3 - 5e-14): the schedule must still land on `end` exactly.
        for (schedule, end) in [
            (
                DtSchedule::Exponential {
                    start: 300.0,
                    end: 0.1,
                    minibatches: 7,
                },
                0.1,
            ),
            (
                DtSchedule::Exponential {
                    start: 1e4,
                    end: 3.0,
                    minibatches: 7,
                },
                3.0,
            ),
            (
                DtSchedule::Linear {
                    start: 1000.0,
                    end: 0.3,
                    minibatches: 7,
                },
                0.3,
            ),
        ] {
            assert_eq!(schedule.dt_at(7), end);
            assert_eq!(schedule.dt_at(8), end);
            assert_eq!(schedule.end(), end);
            assert!(schedule.dt_at(6) != end);
        }
    }

    /// T1: the loss names of experiment files, and the default.
    #[test]
    fn t1_loss_functions_have_their_file_names() {
        for loss in [
            LossFunction::SoftmaxCrossEntropy,
            LossFunction::Keras2Probability,
        ] {
            let text = serde_json::to_string(&loss).expect("serializes");
            assert_eq!(text, format!("\"{}\"", loss.name()));
            assert_eq!(serde_json::from_str::<LossFunction>(&text).ok(), Some(loss));
        }
        assert!(LossFunction::default().is_default());
        assert!(!LossFunction::Keras2Probability.is_default());
        assert!(serde_json::from_str::<LossFunction>("\"keras2\"").is_err());
    }

    /// E2: unknown keys in a schedule are rejected, not ignored.
    #[test]
    fn e2_schedule_rejects_unknown_keys() {
        let text = r#"{"kind": "constant", "dt": 1.0, "minibatches": 300}"#;
        let error = serde_json::from_str::<DtSchedule>(text).expect_err("unknown key");
        assert!(error.to_string().contains("minibatches"), "{error}");
        let good: DtSchedule =
            serde_json::from_str(r#"{"kind": "constant", "dt": 1.0}"#).expect("valid");
        assert_eq!(good, DtSchedule::Constant { dt: 1.0 });
    }

    /// E1: bad schedules and optimizer settings are rejected with the field named.
    #[test]
    fn e1_bad_schedule_and_optimizer_rejected() {
        let zero = DtSchedule::Linear {
            start: 1.0,
            end: 0.0,
            minibatches: 3,
        };
        assert!(zero
            .validate()
            .expect_err("dt 0")
            .to_string()
            .contains("`schedule.end`"));
        let empty = DtSchedule::Exponential {
            start: 1.0,
            end: 2.0,
            minibatches: 0,
        };
        assert!(empty
            .validate()
            .expect_err("no length")
            .to_string()
            .contains("minibatches"));
        let adam = AdamConfig {
            beta2: 1.0,
            ..AdamConfig::default()
        };
        assert!(adam
            .validate()
            .expect_err("beta2 1")
            .to_string()
            .contains("beta2"));
    }
}
