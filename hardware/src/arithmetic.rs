//! The chip's integer arithmetic (SPEC.md clause H1), written here a second time and
//! independently of the reference's (which accumulates in i128): the chip works in 64-bit
//! registers, with wrapping additions, as a two's-complement accumulator does.

/// `rshr(x, k) = (x + 2^(k-1)) >> k`, round to nearest with ties toward +infinity; an exact
/// left shift for `k <= 0` (clause H1). The addition wraps, as a chip's adder does: the
/// result is exact whenever the true `x + 2^(k-1)` fits in 64 bits, which the conversion's
/// bound guarantees.
#[inline]
pub fn rshr(x: i64, k: i32) -> i64 {
    if k <= 0 {
        x.wrapping_shl((-k) as u32)
    } else {
        x.wrapping_add(1i64 << (k - 1)) >> k
    }
}

/// `nearest(y) = floor(y + 1/2)`, exactly (clause H1): the floor first, then the comparison
/// of the exact remainder with one half.
pub fn nearest(y: f64) -> i64 {
    let whole = y.floor();
    let remainder = y - whole;
    whole as i64 + i64::from(remainder >= 0.5)
}

/// Clamps `x` to the symmetric `bits`-wide range (clause H1); `true` when it clamped.
pub fn saturate(x: i64, bits: u32) -> (i64, bool) {
    let limit = hsnn_spec::fixed::symmetric_limit(bits);
    let clamped = x.clamp(-limit, limit);
    (clamped, clamped != x)
}

/// H2's exponent rule for one magnitude: the finest `s` with `nearest(m 2^s)` below
/// `2^(bits-1)`; 0 for 0.
pub fn exponent_for(max_abs: f64, bits: u32) -> i32 {
    if max_abs == 0.0 {
        return 0;
    }
    // log2 is exact enough to land within one of the binary exponent; the loop settles it.
    let mut exponent = bits as i32 - 2 - max_abs.log2().floor() as i32;
    while nearest(max_abs * 2f64.powi(exponent)) >= 1i64 << (bits - 1) {
        exponent -= 1;
    }
    while nearest(max_abs * 2f64.powi(exponent + 1)) < 1i64 << (bits - 1) {
        exponent += 1;
    }
    exponent
}

/// H7's quantizer step on one neuron: `U_v = V + P`, the count `n = U_v >> F_v` (floor) and
/// the new state `U_v - n 2^F_v`, in [0, 2^F_v); returns `(n, U_v)`.
#[inline]
pub fn fire(state: &mut i64, p: i64, fraction_v: u32) -> (i64, i64) {
    let integrator = *state + p;
    let count = integrator >> fraction_v;
    *state = integrator - (count << fraction_v);
    (count, integrator)
}

/// Set bits of `|n|` (clause B3): the additions of a shift-and-add multiply by `n`.
pub fn popcount(n: i64) -> u64 {
    u64::from(n.unsigned_abs().count_ones())
}

/// Bit positions of `|n|` from its lowest to its highest set bit (clause B2): the steps of a
/// bit-serial multiply that skips the trailing zeros.
pub fn bit_serial_steps(n: i64) -> u64 {
    let magnitude = n.unsigned_abs();
    if magnitude == 0 {
        0
    } else {
        u64::from(64 - magnitude.leading_zeros() - magnitude.trailing_zeros())
    }
}

/// `n * w` by shift-and-add over the set bits of `|n|` (clause H8), as the chip computes an
/// event's contribution, wrapping like its adder.
pub fn shift_and_add(n: i64, w: i64) -> i64 {
    let mut magnitude = n.unsigned_abs();
    let mut total: i64 = 0;
    while magnitude != 0 {
        let bit = magnitude.trailing_zeros();
        total = total.wrapping_add(w.wrapping_shl(bit));
        magnitude &= magnitude - 1;
    }
    if n < 0 {
        total.wrapping_neg()
    } else {
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::{Config, RngSeed};

    fn deterministic() -> Config {
        Config {
            cases: 512,
            rng_seed: RngSeed::Fixed(11),
            failure_persistence: None,
            ..Config::default()
        }
    }

    /// H1: the chip's rounding shift equals `floor((x + 2^(k-1)) / 2^k)` computed in i128, and
    /// `nearest` equals the rule on exact rationals; H2: the exponent rule's worked examples.
    #[test]
    fn h1_chip_arithmetic_matches_exact_integer_division() {
        proptest!(deterministic(), |(x in -(1i64 << 61)..(1i64 << 61), k in 1i32..62)| {
            let divisor = 1i128 << k;
            let exact = (i128::from(x) + divisor / 2).div_euclid(divisor);
            prop_assert_eq!(i128::from(rshr(x, k)), exact);
        });
        proptest!(deterministic(), |(p in -(1i64 << 40)..(1i64 << 40), q in 1u32..12)| {
            let y = p as f64 / f64::from(1u32 << q);
            prop_assert_eq!(nearest(y), (p + (1 << (q - 1))).div_euclid(1 << q));
        });
        assert_eq!(nearest(0.49999999999999994), 0);
        assert_eq!(rshr(-5, 1), -2);
        assert_eq!(exponent_for(0.7232062226737767, 8), 7);
        assert_eq!(exponent_for(0.998046875, 8), 6);
        assert_eq!(exponent_for(10.0, 16), 11);
        assert_eq!(exponent_for(1.0, 16), 14);
    }

    /// H8: shift-and-add over the set bits is the product, for either sign, and B2/B3's counts
    /// on B6's worked events.
    #[test]
    fn h8_shift_and_add_is_the_product() {
        proptest!(deterministic(), |(n in -1024i64..1024, w in -(1i64 << 40)..(1i64 << 40))| {
            prop_assert_eq!(shift_and_add(n, w), n * w);
        });
        let events = [1i64, -3, 4, 6, 5, -1];
        let popcounts: Vec<u64> = events.iter().map(|&n| popcount(n)).collect();
        let steps: Vec<u64> = events.iter().map(|&n| bit_serial_steps(n)).collect();
        assert_eq!(popcounts, vec![1, 2, 1, 2, 2, 1]);
        assert_eq!(steps, vec![1, 2, 1, 2, 3, 1]);
    }
}
