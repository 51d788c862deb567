//! Base activations and their derivatives (SPEC.md clause Q5).

use hsnn_spec::Activation;

/// `f(x)` (clause Q5).
pub fn apply(activation: Activation, x: f64) -> f64 {
    match activation {
        Activation::Identity => x,
        Activation::Relu => x.max(0.0),
        Activation::Tanh => x.tanh(),
    }
}

/// `f'(x)` (clause Q5). For relu the derivative at 0 is taken as 0, as TensorFlow does.
pub fn derivative(activation: Activation, x: f64) -> f64 {
    match activation {
        Activation::Identity => 1.0,
        Activation::Relu => {
            if x > 0.0 {
                1.0
            } else {
                0.0
            }
        }
        Activation::Tanh => {
            let y = x.tanh();
            1.0 - y * y
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Q5: what the activation descriptor requires of every base activation holds for this
    /// f64 kernel: `f` is monotone (non-decreasing) on a fine grid over [-40, 40], and an
    /// activation whose integer rule is a table (H6) stays within [-1, 1], the range of the
    /// non-spiking table's format.
    #[test]
    fn q5_every_activation_meets_its_descriptors_requirements() {
        let grid: Vec<f64> = (-4000..=4000).map(|k| k as f64 / 100.0).collect();
        for &activation in Activation::ALL {
            let values: Vec<f64> = grid.iter().map(|&x| apply(activation, x)).collect();
            for pair in values.windows(2) {
                assert!(pair[0] <= pair[1], "{activation:?} decreases: {pair:?}");
            }
            if activation.properties().fixed_point == hsnn_spec::FixedPointForm::Table {
                assert!(
                    values.iter().all(|value| value.abs() <= 1.0),
                    "{activation:?} leaves [-1, 1]"
                );
            }
        }
    }

    /// Q5: the derivatives of clause Q5's table, relu's at 0 included (0, TensorFlow's
    /// convention, a decision of SPEC.md).
    #[test]
    fn q5_derivatives_follow_the_table_relu_at_zero_is_zero() {
        assert_eq!(derivative(Activation::Relu, 0.0), 0.0);
        assert_eq!(derivative(Activation::Relu, 1e-300), 1.0);
        assert_eq!(derivative(Activation::Relu, -2.0), 0.0);
        assert_eq!(derivative(Activation::Identity, -3.0), 1.0);
        assert_eq!(derivative(Activation::Tanh, 0.0), 1.0);
        let y = 0.5f64.tanh();
        assert_eq!(derivative(Activation::Tanh, 0.5), 1.0 - y * y);
    }
}
