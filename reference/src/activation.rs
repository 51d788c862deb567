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
