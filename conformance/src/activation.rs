//! Clause Q5's base activations restated here from SPEC.md, independently of every backend:
//! `f`, the bound on `f'` that the shadow bound of the fixed point uses (clause H12), and
//! whether `f'` is continuous. The suite's one place for each activation's arithmetic: every
//! check that needs `f` reads it here, so a new activation is one arm in each function.

use hsnn_spec::Activation;

/// `f(x)` (clause Q5).
pub fn rate(activation: Activation, x: f64) -> f64 {
    match activation {
        Activation::Identity => x,
        Activation::Relu => x.max(0.0),
        Activation::Tanh => x.tanh(),
    }
}

/// The largest derivative of `activation` on `[z - radius, z + radius]` (clause Q5's `f'`,
/// for H12's shadow bound).
pub fn largest_slope(activation: Activation, z: f64, radius: f64) -> f64 {
    match activation {
        Activation::Identity | Activation::Relu => 1.0,
        Activation::Tanh => {
            let nearest_to_zero = if z - radius <= 0.0 && z + radius >= 0.0 {
                0.0
            } else {
                (z.abs() - radius).max(0.0)
            };
            1.0 - nearest_to_zero.tanh().powi(2)
        }
    }
}

/// Whether `f'` is continuous, so that central differences check the backward rule's `f'`
/// (clauses Q5, T2): relu's kink at 0 is not.
pub fn is_smooth(activation: Activation) -> bool {
    match activation {
        Activation::Identity | Activation::Tanh => true,
        Activation::Relu => false,
    }
}

/// The largest `|f(x)|` for `|x| <= bound` (clause Q1's one-bit condition): every base
/// activation is monotone (clause Q5), so it is reached at an end of the interval.
pub fn largest_rate(activation: Activation, bound: f64) -> f64 {
    rate(activation, -bound)
        .abs()
        .max(rate(activation, bound).abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Q5: the restatement follows clause Q5's table at a few hand-checked points, and the
    /// slope bound is a bound: no difference quotient on the interval exceeds it.
    #[test]
    fn q5_restated_activations_follow_the_table() {
        assert_eq!(rate(Activation::Identity, -2.5), -2.5);
        assert_eq!(rate(Activation::Relu, -2.5), 0.0);
        assert_eq!(rate(Activation::Relu, 2.5), 2.5);
        assert_eq!(rate(Activation::Tanh, 0.0), 0.0);
        assert!((rate(Activation::Tanh, 1.0) - 0.761_594_155_955_764_9).abs() < 1e-15);
        assert_eq!(largest_rate(Activation::Relu, 5.0), 5.0);
        assert!((largest_rate(Activation::Tanh, 5.0) - 5f64.tanh()).abs() < 1e-15);
        for &activation in Activation::ALL {
            for (z, radius) in [(0.0, 0.5), (1.5, 0.25), (-3.0, 1.0)] {
                let bound = largest_slope(activation, z, radius);
                for k in 0..20 {
                    let a = z - radius + 2.0 * radius * k as f64 / 20.0;
                    let b = a + 2.0 * radius / 20.0;
                    let quotient = (rate(activation, b) - rate(activation, a)) / (b - a);
                    assert!(quotient <= bound + 1e-12, "{activation:?} on [{a}, {b}]");
                }
            }
        }
    }
}
