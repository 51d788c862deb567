//! The fixed pixel permutation of psMNIST, bit-identical to numpy (spec clause D4).
//!
//! psMNIST shuffles the 784 pixel positions of every image with one fixed permutation. The
//! field's reference (keras-lmu's psMNIST example) draws it with
//! `numpy.random.RandomState(0).permutation(784)`, which starts 693, 85, 647, 392, 765, 14,
//! 299, 711, 55, 31. To use the very same permutation without Python this module
//! re-implements the two pieces numpy's *legacy* `RandomState` uses:
//!
//! - [`Mt19937`]: the Mersenne Twister of Matsumoto and Nishimura, seeded with
//!   `init_genrand(seed)` exactly as `RandomState(seed)` seeds it for an integer seed
//!   (numpy's `mt19937_seed`); [`Mt19937::next_u32`] is numpy's `next_uint32`.
//! - [`shuffle`]: numpy's legacy `RandomState.shuffle` of a 1-D array, a Fisher-Yates shuffle
//!   from the back, `for i in n-1 down to 1: j = random_interval(i); swap(a[i], a[j])`, with
//!   [`random_interval`] drawing by masked rejection (not the modulo or Lemire reduction of the
//!   newer `Generator`, which gives other permutations).
//!
//! [`permutation`] (`arange(n)` then [`shuffle`]) is `RandomState(seed).permutation(n)`.
//! The tests compare it with numpy's own output (fixtures made by
//! `data/tests/fixtures/make_fixtures.py`).

/// Words of MT19937 state.
const STATE_WORDS: usize = 624;
/// The twist offset of MT19937.
const TWIST_OFFSET: usize = 397;
/// The twist matrix constant of MT19937.
const MATRIX_A: u32 = 0x9908_b0df;
/// Most significant bit of a state word.
const UPPER_MASK: u32 = 0x8000_0000;
/// The 31 least significant bits of a state word.
const LOWER_MASK: u32 = 0x7fff_ffff;

/// The 32-bit Mersenne Twister MT19937 as numpy's legacy `RandomState` runs it (D4).
#[derive(Clone)]
pub struct Mt19937 {
    state: [u32; STATE_WORDS],
    /// Next state word to temper; `STATE_WORDS` means "twist first".
    position: usize,
}

impl std::fmt::Debug for Mt19937 {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // 624 state words are noise in a debug print; the position says where we are.
        formatter
            .debug_struct("Mt19937")
            .field("position", &self.position)
            .finish_non_exhaustive()
    }
}

impl Mt19937 {
    /// A generator seeded as `numpy.random.RandomState(seed)` is for an integer seed: the
    /// reference `init_genrand(seed)`, `key[0] = seed`,
    /// `key[i] = 1812433253 * (key[i-1] ^ (key[i-1] >> 30)) + i` modulo 2^32.
    pub fn new(seed: u32) -> Self {
        let mut state = [0u32; STATE_WORDS];
        state[0] = seed;
        for index in 1..STATE_WORDS {
            let previous = state[index - 1];
            // index < 624, so the cast is exact.
            state[index] = 1_812_433_253u32
                .wrapping_mul(previous ^ (previous >> 30))
                .wrapping_add(index as u32);
        }
        Mt19937 {
            state,
            position: STATE_WORDS,
        }
    }

    /// The next 32-bit output (numpy's `next_uint32` / the reference `genrand_int32`).
    pub fn next_u32(&mut self) -> u32 {
        if self.position >= STATE_WORDS {
            self.twist();
        }
        let mut value = self.state[self.position];
        self.position += 1;
        // Tempering.
        value ^= value >> 11;
        value ^= (value << 7) & 0x9d2c_5680;
        value ^= (value << 15) & 0xefc6_0000;
        value ^= value >> 18;
        value
    }

    /// The next 64-bit output as numpy's MT19937 makes it: two 32-bit outputs, the first one
    /// in the high half.
    pub fn next_u64(&mut self) -> u64 {
        let high = u64::from(self.next_u32());
        let low = u64::from(self.next_u32());
        (high << 32) | low
    }

    /// Regenerates all 624 state words.
    fn twist(&mut self) {
        for index in 0..STATE_WORDS {
            let mixed = (self.state[index] & UPPER_MASK)
                | (self.state[(index + 1) % STATE_WORDS] & LOWER_MASK);
            let odd_correction = if mixed & 1 == 1 { MATRIX_A } else { 0 };
            self.state[index] =
                self.state[(index + TWIST_OFFSET) % STATE_WORDS] ^ (mixed >> 1) ^ odd_correction;
        }
        self.position = 0;
    }
}

/// A uniform integer in `0..=max`, drawn as numpy's legacy `random_interval(max)` draws it
/// (D4): take 32-bit outputs (64-bit ones when `max` exceeds `u32::MAX`), keep the bits under
/// the smallest all-ones mask that covers `max`, and reject results above `max`. `max == 0`
/// returns 0 without drawing.
pub fn random_interval(rng: &mut Mt19937, max: u64) -> u64 {
    if max == 0 {
        return 0;
    }
    let mut mask = max;
    mask |= mask >> 1;
    mask |= mask >> 2;
    mask |= mask >> 4;
    mask |= mask >> 8;
    mask |= mask >> 16;
    mask |= mask >> 32;
    loop {
        let candidate = if max <= u64::from(u32::MAX) {
            u64::from(rng.next_u32()) & mask
        } else {
            rng.next_u64() & mask
        };
        if candidate <= max {
            return candidate;
        }
    }
}

/// Shuffles `items` in place exactly as numpy's legacy `RandomState.shuffle` shuffles a 1-D
/// array (D4): `for i in (1..n).rev() { j = random_interval(i); swap(i, j) }`.
pub fn shuffle<T>(rng: &mut Mt19937, items: &mut [T]) {
    for index in (1..items.len()).rev() {
        // j <= index < items.len(), so it fits in usize.
        let other = random_interval(rng, index as u64) as usize;
        items.swap(index, other);
    }
}

/// `numpy.random.RandomState(seed).permutation(n)` (D4): the integers `0..n` shuffled by
/// [`shuffle`] with a generator seeded by [`Mt19937::new`]. For seed 0 and n = 784 this is the
/// psMNIST permutation of keras-lmu, starting 693, 85, 647, 392, 765, 14, 299, 711, 55, 31.
pub fn permutation(seed: u32, n: usize) -> Vec<usize> {
    permutation_from(&mut Mt19937::new(seed), n)
}

/// `rng.permutation(n)` for a `RandomState` whose stream is `rng` (D4, D6): the integers `0..n`
/// shuffled by [`shuffle`], drawing from `rng` where earlier draws left it. Two calls on one
/// stream give numpy's two successive permutations, as NRU's psMNIST iterator draws them.
pub fn permutation_from(rng: &mut Mt19937, n: usize) -> Vec<usize> {
    let mut items: Vec<usize> = (0..n).collect();
    shuffle(rng, &mut items);
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_mt19937_first_output_for_default_seed() {
        // Matsumoto and Nishimura's reference code seeded with init_genrand(5489) (also the
        // C++ std::mt19937 default) starts with 3499211612; std::mt19937's 10000th output
        // is 4123659995 (C++ standard, [rand.predef]).
        let mut rng = Mt19937::new(5489);
        assert_eq!(rng.next_u32(), 3_499_211_612);
        for _ in 1..9_999 {
            rng.next_u32();
        }
        assert_eq!(rng.next_u32(), 4_123_659_995);
    }

    #[test]
    fn random_interval_stays_in_range_and_zero_does_not_draw() {
        let mut rng = Mt19937::new(7);
        let mut untouched = rng.clone();
        assert_eq!(random_interval(&mut rng, 0), 0);
        assert_eq!(rng.next_u32(), untouched.next_u32());
        for max in [1u64, 2, 3, 5, 100, 783, u64::from(u32::MAX), 1 << 40] {
            for _ in 0..50 {
                assert!(random_interval(&mut rng, max) <= max);
            }
        }
    }

    #[test]
    fn next_u64_puts_first_output_high() {
        let mut for_u64 = Mt19937::new(3);
        let mut for_u32 = Mt19937::new(3);
        let high = u64::from(for_u32.next_u32());
        let low = u64::from(for_u32.next_u32());
        assert_eq!(for_u64.next_u64(), (high << 32) | low);
    }
}
