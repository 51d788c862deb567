//! Adam in the Keras form (SPEC.md clause T4): the optimizer the training engine applies to any
//! backend's gradients, in f64 on the model's weights.

use hsnn_spec::{AdamConfig, AdamState, HsnnError, NetworkConfig, Result, Weights};

/// A fresh Adam state for `config`'s weights (clause T4).
pub fn adam_state(config: &NetworkConfig) -> AdamState {
    AdamState {
        step: 0,
        first_moment: Weights::zeros(config),
        second_moment: Weights::zeros(config),
    }
}

/// One Adam update in the Keras form (clause T4):
///
/// ```text
/// t += 1;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
/// step = lr * sqrt(1 - b2^t) / (1 - b1^t)
/// w -= step * m / (sqrt(v) + eps)
/// ```
pub fn adam_update(
    config: &AdamConfig,
    state: &mut AdamState,
    weights: &mut Weights,
    gradients: &Weights,
) -> Result<()> {
    config.validate()?;
    // Check every tensor before touching any, so a mismatched state cannot half-apply.
    {
        let parameters = weights.named();
        let gradients = gradients.named();
        let first = state.first_moment.named();
        let second = state.second_moment.named();
        let count = parameters.len();
        if gradients.len() != count || first.len() != count || second.len() != count {
            return Err(HsnnError::ShapeMismatch {
                name: "optimizer state".into(),
                expected: format!("{count} weight tensors"),
                found: format!(
                    "{} gradients, {} and {} moments",
                    gradients.len(),
                    first.len(),
                    second.len()
                ),
            });
        }
        for index in 0..count {
            let (name, parameter) = parameters[index];
            for (kind, (other_name, other)) in [
                ("gradient", gradients[index]),
                ("first moment", first[index]),
                ("second moment", second[index]),
            ] {
                if other_name != name
                    || other.shape() != parameter.shape()
                    || other.data.len() != parameter.data.len()
                    || parameter.data.len() != parameter.rows * parameter.cols
                {
                    return Err(HsnnError::ShapeMismatch {
                        name: format!("optimizer {kind} for weights.{name}"),
                        expected: format!("{name}, {} x {}", parameter.rows, parameter.cols),
                        found: format!("{other_name}, {} x {}", other.rows, other.cols),
                    });
                }
            }
        }
    }
    state.step = state
        .step
        .checked_add(1)
        .ok_or_else(|| HsnnError::Numerical {
            operation: "Adam".into(),
            reason: "the step counter is at its maximum".into(),
        })?;
    let step_count = i32::try_from(state.step).unwrap_or(i32::MAX);
    let step_size = config.learning_rate * (1.0 - config.beta2.powi(step_count)).sqrt()
        / (1.0 - config.beta1.powi(step_count));
    let parameters = weights.named_mut();
    let gradients = gradients.named();
    let first = state.first_moment.named_mut();
    let second = state.second_moment.named_mut();
    for (((_, parameter), (_, gradient)), ((_, first), (_, second))) in parameters
        .into_iter()
        .zip(gradients)
        .zip(first.into_iter().zip(second))
    {
        for index in 0..parameter.data.len() {
            let g = gradient.data[index];
            first.data[index] = config.beta1 * first.data[index] + (1.0 - config.beta1) * g;
            second.data[index] = config.beta2 * second.data[index] + (1.0 - config.beta2) * g * g;
            parameter.data[index] -=
                step_size * first.data[index] / (second.data[index].sqrt() + config.epsilon);
        }
    }
    Ok(())
}
