//! The losses of SPEC.md clause T1, in one place that no backend owns: every trainer and the
//! evaluation of a stage (T7) compute a sequence's loss and its gradient with respect to the
//! logits through [`LossFunction::loss_and_logit_gradient`], so a new loss is one variant of
//! [`LossFunction`] and one function here.

use crate::training::LossFunction;

/// The clip bound of Keras 2's `categorical_crossentropy`, `K.epsilon()` as a binary32
/// tensor (clause T1b).
pub const KERAS2_EPSILON: f32 = 1e-7;

impl LossFunction {
    /// The loss of one row of logits against class `label`, and its gradient with respect to
    /// the logits (clause T1 or T1b). `label` must be below `logits.len()`; the trainers check
    /// labels once per batch (E1) before they call this.
    pub fn loss_and_logit_gradient(self, logits: &[f64], label: usize) -> (f64, Vec<f64>) {
        match self {
            LossFunction::SoftmaxCrossEntropy => softmax_cross_entropy(logits, label),
            LossFunction::Keras2Probability => keras2_probability_cross_entropy(logits, label),
        }
    }
}

/// Softmax cross-entropy of one row of logits against class `label`, and its gradient with
/// respect to the logits (clause T1): `L = log(sum_k exp(l_k)) - l_label`,
/// `dL/dl = softmax(l) - onehot(label)`. The maximum is subtracted first so that `exp` cannot
/// overflow. `label` must be below `logits.len()`.
pub fn softmax_cross_entropy(logits: &[f64], label: usize) -> (f64, Vec<f64>) {
    let maximum = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exponentials: Vec<f64> = logits.iter().map(|value| (value - maximum).exp()).collect();
    let total: f64 = exponentials.iter().sum();
    let loss = total.ln() + maximum - logits[label];
    let mut gradient: Vec<f64> = exponentials.iter().map(|value| value / total).collect();
    gradient[label] -= 1.0;
    (loss, gradient)
}

/// Categorical cross-entropy of one row of logits against class `label` as standalone Keras
/// 2.2 on TensorFlow 1 computes it after `Dense(10, activation='softmax')`, and its gradient
/// with respect to the logits (clause T1b). Everything is binary32, in this order, sums in
/// index order:
///
/// ```text
/// s = softmax(l)                       e_k = exp(l_k - max l),  s_k = e_k / sum_j e_j
/// q_y = s_y / S,  S = sum_k s_k        Keras: output /= reduce_sum(output)
/// c = clip(q_y, eps, 1 - eps)          eps = 1e-7; 1 - eps rounds to 1 - 2^-23
/// L = -ln c
/// backward (TensorFlow's gradients of the same ops):
/// g_q = -1 / c  if eps <= q_y <= 1 - eps, else 0          clip passes no gradient outside
/// g_S = g_q * ((-s_y / S) / S);   g_s_k = [k = y] g_q / S + g_S
/// dL/dl_k = (g_s_k - sum_j g_s_j s_j) * s_k              softmax's gradient
/// ```
///
/// The logits are rounded to binary32 first; loss and gradient come back in f64, exactly the
/// binary32 values. `label` must be below `logits.len()`.
pub fn keras2_probability_cross_entropy(logits: &[f64], label: usize) -> (f64, Vec<f64>) {
    let logits: Vec<f32> = logits.iter().map(|&value| value as f32).collect();
    let maximum = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exponentials: Vec<f32> = logits.iter().map(|value| (value - maximum).exp()).collect();
    let exponential_total: f32 = exponentials.iter().sum();
    let probabilities: Vec<f32> = exponentials
        .iter()
        .map(|value| value / exponential_total)
        .collect();
    let total: f32 = probabilities.iter().sum();
    let normalised = probabilities[label] / total;
    let upper = 1.0 - KERAS2_EPSILON;
    let clipped = normalised.clamp(KERAS2_EPSILON, upper);
    let loss = -clipped.ln();

    let normalised_gradient = if (KERAS2_EPSILON..=upper).contains(&normalised) {
        -1.0 / clipped
    } else {
        0.0
    };
    let total_gradient = normalised_gradient * ((-probabilities[label] / total) / total);
    let probability_gradients: Vec<f32> = (0..probabilities.len())
        .map(|class| {
            let direct = if class == label {
                normalised_gradient / total
            } else {
                0.0
            };
            direct + total_gradient
        })
        .collect();
    let inner: f32 = probability_gradients
        .iter()
        .zip(&probabilities)
        .map(|(gradient, probability)| gradient * probability)
        .sum();
    let gradient = probability_gradients
        .iter()
        .zip(&probabilities)
        .map(|(gradient, probability)| f64::from((gradient - inner) * probability))
        .collect();
    (f64::from(loss), gradient)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Hand derivation for logits (0, ln 3): the exponentials are 1 and 3, so softmax is
    // (1/4, 3/4). For class 1, T1 gives L = ln 4 - ln 3 = ln(4/3) and dL/dl = (1/4, -1/4).
    // T1b sees S = 1 and q = 3/4, so L = -ln(3/4), the same; backward: g_q = -4/3,
    // g_S = g_q * (-3/4) = 1, g_s = (1, -1/3), sum_j g_s_j s_j = 1/4 - 1/4 = 0, so
    // dL/dl = (1/4, -1/4) as well. binary32 rounding bounds the differences for T1b.
    #[test]
    fn t1_both_losses_match_a_hand_derivation_away_from_the_clip() {
        let logits = [0.0, 3.0f64.ln()];
        for (loss, tolerance) in [
            (LossFunction::SoftmaxCrossEntropy, 1e-15),
            (LossFunction::Keras2Probability, 2e-7),
        ] {
            let (value, gradient) = loss.loss_and_logit_gradient(&logits, 1);
            assert!(
                (value - (4.0f64 / 3.0).ln()).abs() < tolerance,
                "{}: loss {value}",
                loss.name()
            );
            assert!((gradient[0] - 0.25).abs() < tolerance, "{}", loss.name());
            assert!((gradient[1] + 0.25).abs() < tolerance, "{}", loss.name());
            // Class 0 of the same logits: T1 gives ln 4 and (-3/4, 3/4).
            let (value, gradient) = loss.loss_and_logit_gradient(&logits, 0);
            assert!((value - 4.0f64.ln()).abs() < tolerance, "{}", loss.name());
            assert!((gradient[0] + 0.75).abs() < tolerance, "{}", loss.name());
            assert!((gradient[1] - 0.75).abs() < tolerance, "{}", loss.name());
        }
    }

    // A sequence 40 logits wrong: T1 keeps its loss (40 + ln(1 + e^-40)) and a full gradient;
    // T1b clips q = e^-40 up to 1e-7, so the loss is -ln(binary32 1e-7) and nothing flows back.
    #[test]
    fn t1_keras2_loss_clips_where_the_exact_loss_does_not() {
        let logits = [0.0, 40.0];
        let (exact, exact_gradient) =
            LossFunction::SoftmaxCrossEntropy.loss_and_logit_gradient(&logits, 0);
        assert!((exact - 40.0).abs() < 1e-12, "{exact}");
        assert!((exact_gradient[0] + 1.0).abs() < 1e-12);
        let (clipped, clipped_gradient) =
            LossFunction::Keras2Probability.loss_and_logit_gradient(&logits, 0);
        let ceiling = -f64::from(KERAS2_EPSILON).ln();
        assert!(
            (clipped - ceiling).abs() < 1e-5,
            "{clipped} against {ceiling}"
        );
        assert!((clipped - 16.118_095_65).abs() < 1e-5, "{clipped}");
        assert_eq!(clipped_gradient, vec![0.0, 0.0]);
    }

    // Softmax is unchanged by adding one number to every logit; T1b subtracts the largest
    // first, so logits near 1000 (whose exponentials overflow binary32) give exactly what the
    // same differences near 0 give. d is ln 3 to 10 bits, so 1000 + d is exact in binary32
    // and both pairs of logits differ by the same d.
    #[test]
    fn t1_keras2_loss_is_unchanged_by_shifting_every_logit() {
        let d = 1.0986328125;
        let near = LossFunction::Keras2Probability.loss_and_logit_gradient(&[0.0, d], 1);
        let far = LossFunction::Keras2Probability.loss_and_logit_gradient(&[1000.0, 1000.0 + d], 1);
        assert!(far.0.is_finite(), "{far:?}");
        assert_eq!(near, far);
        assert!((near.0 - (1.0 + (-d).exp()).ln()).abs() < 1e-6, "{near:?}");
    }

    // Away from the clip, T1b's gradient is the derivative of its loss: central differences of
    // the loss itself (step 1e-2, so the error is about 1e-4, binary32 noise 1e-5) on three
    // classes whose normalised probabilities are nowhere near 0 or 1.
    #[test]
    fn t1_keras2_gradient_is_the_derivative_of_its_loss() {
        let logits = [0.3, -1.2, 0.9];
        let loss = |at: &[f64]| {
            LossFunction::Keras2Probability
                .loss_and_logit_gradient(at, 0)
                .0
        };
        let (_, gradient) = LossFunction::Keras2Probability.loss_and_logit_gradient(&logits, 0);
        let step = 1e-2;
        for class in 0..logits.len() {
            let mut up = logits;
            let mut down = logits;
            up[class] += step;
            down[class] -= step;
            let numeric = (loss(&up) - loss(&down)) / (2.0 * step);
            assert!(
                (gradient[class] - numeric).abs() < 1e-3,
                "class {class}: {} against {numeric}",
                gradient[class]
            );
        }
        // And the three sum to 0, as every softmax gradient does.
        assert!(gradient.iter().sum::<f64>().abs() < 1e-6, "{gradient:?}");
    }

    // A sequence 40 logits right: q rounds to 1 in binary32, above the clip's upper bound
    // 1 - 2^-23, so the loss is -ln(1 - 2^-23), 2^-23 to one ulp (SPEC T1b: faithful), and
    // no gradient flows.
    #[test]
    fn t1_keras2_loss_clips_a_confidently_right_sequence() {
        let (loss, gradient) =
            LossFunction::Keras2Probability.loss_and_logit_gradient(&[0.0, 40.0], 1);
        let expected = 2f64.powi(-23);
        assert!((loss - expected).abs() <= 2f64.powi(-46), "{loss}");
        assert_eq!(gradient, vec![0.0, 0.0]);
    }
}
