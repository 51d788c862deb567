//! The base activations' f32 kernels (SPEC.md clause Q5): `f`, and `f'` written from
//! `r = f(x)`, which the forward pass keeps for the backward rule.
//!
//! Each activation is a [`Kernel`], and [`with_kernel!`] is the backend's one match on the
//! activation: the quantizer's row loop, the non-spiking hidden units and the backward pass are
//! generic over the kernel, so each compiles one loop per activation with no branch on it
//! inside. A new activation is a kernel here and an arm in [`with_kernel!`]; what else hsnn
//! knows of it is in its descriptor, `hsnn_spec::Activation::properties`.

use hsnn_spec::Activation;

use crate::kernels;

/// The f32 arithmetic of one base activation (clause Q5).
pub trait Kernel {
    /// `f(x)` (clause Q5).
    fn activate(x: f32) -> f32;

    /// `f'(x)` written in terms of `r = f(x)` (clause Q5; the backward rule's derivative, T2).
    fn derivative_from_rate(rate: f32) -> f32;

    /// `values[i] = f(values[i])` for every element (the hidden units that do not spike,
    /// clause N2). An activation with a dispatched vector loop replaces this plain one.
    #[inline(always)]
    fn activate_in_place(values: &mut [f32]) {
        for value in values.iter_mut() {
            *value = Self::activate(*value);
        }
    }
}

/// `f(x) = x`, `f' = 1` (clause Q5).
pub struct Identity;

impl Kernel for Identity {
    #[inline(always)]
    fn activate(x: f32) -> f32 {
        x
    }

    #[inline(always)]
    fn derivative_from_rate(_rate: f32) -> f32 {
        1.0
    }
}

/// `f(x) = max(x, 0)`; `f'` is 1 where `r > 0`, so `f'(0) = 0` (clause Q5's decision).
pub struct Relu;

impl Kernel for Relu {
    #[inline(always)]
    fn activate(x: f32) -> f32 {
        x.max(0.0)
    }

    #[inline(always)]
    fn derivative_from_rate(rate: f32) -> f32 {
        if rate > 0.0 {
            1.0
        } else {
            0.0
        }
    }
}

/// `f(x) = tanh(x)` from the backend's polynomial ([`kernels::tanh`], clause Q2's f32 tanh);
/// `f' = 1 - r^2` (clause Q5).
pub struct Tanh;

impl Kernel for Tanh {
    #[inline(always)]
    fn activate(x: f32) -> f32 {
        kernels::tanh(x)
    }

    #[inline(always)]
    fn derivative_from_rate(rate: f32) -> f32 {
        1.0 - rate * rate
    }

    fn activate_in_place(values: &mut [f32]) {
        kernels::tanh_in_place(values);
    }
}

/// Evaluates `$body` with the type `$kernel` standing for the [`Kernel`] of `$activation`.
macro_rules! with_kernel {
    ($activation:expr, $kernel:ident => $body:expr) => {
        match $activation {
            hsnn_spec::Activation::Identity => {
                type $kernel = $crate::activation::Identity;
                $body
            }
            hsnn_spec::Activation::Relu => {
                type $kernel = $crate::activation::Relu;
                $body
            }
            hsnn_spec::Activation::Tanh => {
                type $kernel = $crate::activation::Tanh;
                $body
            }
        }
    };
}
pub(crate) use with_kernel;

/// `f(x)` in f32 (clause Q5).
#[inline(always)]
pub fn activate(activation: Activation, x: f32) -> f32 {
    with_kernel!(activation, K => K::activate(x))
}

/// `f'(x)` written in terms of `r = f(x)` (clause Q5): `1 - r^2` for tanh, `1` for identity,
/// and for relu 1 where `r > 0` (so `f'(0) = 0`).
#[inline(always)]
pub fn derivative_from_rate(activation: Activation, rate: f32) -> f32 {
    with_kernel!(activation, K => K::derivative_from_rate(rate))
}

/// `values[i] = f(values[i])` for every element (clause N2's hidden units without a quantizer).
pub fn activate_in_place(activation: Activation, values: &mut [f32]) {
    with_kernel!(activation, K => K::activate_in_place(values))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Q5: the derivative of relu at 0 is 0, as TensorFlow's, and the other derivatives follow
    /// the table of clause Q5 from the rate.
    #[test]
    fn q5_derivative_from_rate_relu_at_zero_is_zero() {
        assert_eq!(derivative_from_rate(Activation::Relu, 0.0), 0.0);
        assert_eq!(derivative_from_rate(Activation::Relu, 1e-30), 1.0);
        assert_eq!(derivative_from_rate(Activation::Identity, -3.0), 1.0);
        assert_eq!(derivative_from_rate(Activation::Tanh, 0.5), 0.75);
    }

    /// Q5, N2: the in-place loop of every activation gives `f` element by element (tanh's
    /// dispatched loop included), on values of both signs.
    #[test]
    fn q5_activate_in_place_applies_f_to_every_element() {
        let values: Vec<f32> = (0..67).map(|i| (i as f32 - 33.0) * 0.21).collect();
        for &activation in Activation::ALL {
            let mut in_place = values.clone();
            activate_in_place(activation, &mut in_place);
            for (got, &x) in in_place.iter().zip(&values) {
                assert_eq!(
                    got.to_bits(),
                    activate(activation, x).to_bits(),
                    "{activation:?} at {x}"
                );
            }
        }
        let mut relu = vec![-1.5f32, 0.0, 2.0];
        activate_in_place(Activation::Relu, &mut relu);
        assert_eq!(relu, [0.0, 0.0, 2.0]);
        let mut identity = vec![-1.5f32, 2.0];
        activate_in_place(Activation::Identity, &mut identity);
        assert_eq!(identity, [-1.5, 2.0]);
    }
}
