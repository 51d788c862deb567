//! Accuracy, loss and bit metrics of a model on a split (SPEC.md section B), computed in
//! fixed chunks of sequences so the result does not depend on the thread count.

use hsnn_data::LabelledSequences;
use hsnn_reference::metrics::SiteMetricsAccumulator;
use hsnn_spec::{Backend, BitMetrics, ForwardOptions, LossFunction, Model, TraceLevel};
use serde::{Deserialize, Serialize};

use crate::data::{batch, predicted_class};
use crate::error::{TrainError, TrainResult};

/// Sequences handed to the backend's forward pass at a time (each backend parallelizes
/// inside). Results do not depend on it: per-sequence values are summed in sequence order and
/// metrics accumulate exactly (clause B5); it only bounds the memory a trace takes.
pub const CHUNK: usize = 100;

/// The result of evaluating a model on a split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// Sequences evaluated.
    pub samples: usize,
    /// Mean loss (T1's cross-entropy unless [`evaluate_with_loss`] chose another).
    pub loss: f64,
    /// Fraction classified correctly.
    pub accuracy: f64,
    /// Bit metrics of every quantized site (empty when nothing spikes).
    pub metrics: BitMetrics,
}

/// Evaluates `model` on every sequence of `dataset` (sample id = index in the split), with
/// T1's softmax cross-entropy as the loss.
pub fn evaluate<B: Backend>(
    backend: &B,
    model: &Model,
    dataset: &LabelledSequences,
) -> TrainResult<Evaluation> {
    evaluate_with_loss(backend, model, dataset, LossFunction::SoftmaxCrossEntropy)
}

/// [`evaluate`] with the loss `loss` (clause T1 or T1b), as a stage validates with its
/// experiment's loss (T7).
pub fn evaluate_with_loss<B: Backend>(
    backend: &B,
    model: &Model,
    dataset: &LabelledSequences,
    loss_function: LossFunction,
) -> TrainResult<Evaluation> {
    if dataset.is_empty() {
        return Err(TrainError::Usage(
            "nothing to evaluate: the split has no sequences".into(),
        ));
    }
    let classes = model.config.output_size;
    if let Some(label) = dataset
        .labels()
        .iter()
        .find(|&&label| usize::from(label) >= classes)
    {
        return Err(TrainError::Usage(format!(
            "the data has label {label} but the model has only {classes} outputs"
        )));
    }
    let indices: Vec<usize> = (0..dataset.len()).collect();
    let spiking = model.config.quantizer.placement != hsnn_spec::QuantizerPlacement::NONE;
    let options = ForwardOptions {
        // The metrics read the counts' tally only: the backend need not write every count.
        trace: if spiking {
            TraceLevel::Tally
        } else {
            TraceLevel::None
        },
    };
    let chunks = indices.chunks(CHUNK).map(|chunk| -> TrainResult<_> {
        let ids = chunk.iter().map(|&index| index as u64).collect();
        let (sequences, labels) = batch(dataset, chunk, ids)?;
        let output = backend.forward(model, &sequences, &options)?;
        Ok((output, labels))
    });
    let mut loss = 0.0;
    let mut correct = 0usize;
    let mut accumulators: Vec<SiteMetricsAccumulator> = Vec::new();
    for chunk in chunks {
        let (output, labels) = chunk?;
        for (sample, &label) in labels.iter().enumerate() {
            let logits = output.logits.row(sample);
            // An infinite or NaN logit makes accuracy and loss meaningless: say so, never
            // report a plain number for it.
            if let Some(value) = logits.iter().find(|value| !value.is_finite()) {
                return Err(hsnn_spec::HsnnError::Numerical {
                    operation: "evaluation".into(),
                    reason: format!(
                        "the model's logits are not finite ({value}) for a sequence of the split; \
                         its weights or dt drive the network out of range"
                    ),
                }
                .into());
            }
            let sample_loss = loss_function.loss_and_logit_gradient(logits, label).0;
            if !sample_loss.is_finite() {
                return Err(hsnn_spec::HsnnError::Numerical {
                    operation: "evaluation".into(),
                        reason: format!(
                        "the loss of a sequence is not finite ({sample_loss}): its logits differ by \
                         more than f64 can hold; the model is out of range"
                    ),
                }
                .into());
            }
            loss += sample_loss;
            correct += usize::from(predicted_class(logits) == label);
        }
        for (position, site) in output.trace.sites.iter().enumerate() {
            if accumulators.len() <= position {
                accumulators.push(SiteMetricsAccumulator::new(site));
            }
            accumulators[position].add(site)?;
        }
    }
    let samples = dataset.len();
    if !loss.is_finite() {
        return Err(hsnn_spec::HsnnError::Numerical {
            operation: "evaluation".into(),
            reason: format!(
                "the summed loss overflows ({loss}): the model's logits are far out of range"
            ),
        }
        .into());
    }
    Ok(Evaluation {
        samples: dataset.len(),
        loss: loss / samples as f64,
        accuracy: correct as f64 / samples as f64,
        metrics: BitMetrics {
            sites: accumulators
                .iter()
                .map(SiteMetricsAccumulator::finish)
                .collect(),
        },
    })
}
