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
