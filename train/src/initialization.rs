//! Weight initialization of the original LMU and the seeded stream behind it and behind the
//! minibatch order (SPEC.md clauses T6, T8): reproducible from a seed on every platform.

use hsnn_spec::{
    initial_state::{splitmix64, unit_interval},
    NetworkConfig, Weights,
};

/// A stream of uniform and normal numbers from SplitMix64 (clause T6), so initialization is
/// reproducible from a seed on every platform.
#[derive(Debug, Clone)]
pub struct SeededStream {
    state: u64,
}

impl SeededStream {
    /// A stream for `seed`.
    pub fn new(seed: u64) -> Self {
        SeededStream {
            state: splitmix64(seed),
        }
    }

    /// The next 64 random bits.
    pub fn next_bits(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        splitmix64(self.state)
    }

    /// Uniform in `[0, 1)`.
    pub fn uniform(&mut self) -> f64 {
        unit_interval(self.next_bits())
    }

    /// Standard normal by Box-Muller (one of the pair is used, for simplicity).
    pub fn normal(&mut self) -> f64 {
        let radius = (-2.0 * (1.0 - self.uniform()).ln()).sqrt();
        radius * (std::f64::consts::TAU * self.uniform()).cos()
    }

    /// A uniform index in `0..bound`, by rejection so it is unbiased. Panics when `bound` is
    /// 0 (there is no such index); callers pass lengths of non-empty data.
    pub fn index_below(&mut self, bound: u64) -> u64 {
        assert!(bound > 0, "index_below(0): no index below 0");
        let zone = u64::MAX - u64::MAX % bound;
        loop {
            let bits = self.next_bits();
            if bits < zone {
                return bits % bound;
            }
        }
    }
}

/// Glorot-normal as Keras draws it: a normal truncated at two standard deviations with
/// `stddev = sqrt(2 / (fan_in + fan_out)) / 0.87962566103423978` (the truncation's correction).
fn glorot_normal(stream: &mut SeededStream, rows: usize, cols: usize) -> Vec<f64> {
    let stddev = (2.0 / (rows + cols) as f64).sqrt() / 0.879_625_661_034_239_8;
    (0..rows * cols)
        .map(|_| loop {
            let value = stream.normal();
            if value.abs() <= 2.0 {
                return value * stddev;
            }
        })
        .collect()
}

/// Glorot-uniform as Keras draws it: uniform on `[-l, l]`, `l = sqrt(6 / (fan_in + fan_out))`.
fn glorot_uniform(stream: &mut SeededStream, rows: usize, cols: usize) -> Vec<f64> {
    let limit = (6.0 / (rows + cols) as f64).sqrt();
    (0..rows * cols)
        .map(|_| (stream.uniform() * 2.0 - 1.0) * limit)
        .collect()
}

/// The original LMU's initialization (clause T6, docs/PAPER.md section 3): `e_x = 1`,
/// `e_h = e_m = 0`, `W_x = W_h = 0`, `W_m` Glorot-normal, readout kernel Glorot-uniform (the
/// Keras Dense default), readout bias 0; drawn from one seeded stream in that order.
pub fn initial_weights(config: &NetworkConfig, seed: u64) -> Weights {
    let mut stream = SeededStream::new(seed);
    let mut weights = Weights::zeros(config);
    weights.encoder_input.data.fill(1.0);
    let memory = &mut weights.kernel_memory;
    memory.data = glorot_normal(&mut stream, memory.rows, memory.cols);
    let readout = &mut weights.readout_kernel;
    readout.data = glorot_uniform(&mut stream, readout.rows, readout.cols);
    weights
}
