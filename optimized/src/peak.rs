//! The machine's measured peak binary32 multiply-add rate: the yardstick `hsnn bench` reports
//! its figures against. A register-resident kernel of independent fused multiply-adds (enough
//! chains to hide the instruction's latency on two pipes), run on as many threads as the current
//! rayon pool has, at once, so the figure is what these cores can do, not a data-sheet number.

use std::time::Instant;

/// Independent accumulator chains per thread: latency 4-5 cycles times 2 FMA pipes, plus margin.
const CHAINS: usize = 12;

/// What [`measure_peak`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct PeakMeasurement {
    /// Floating-point operations per second over all threads (a fused multiply-add counts 2).
    pub flops_per_second: f64,
    /// Threads that ran the kernel at once.
    pub threads: usize,
    /// How: the instructions and the shape of the kernel.
    pub method: String,
}

/// Which instructions a kernel ran (outside x86-64 only the portable kernel exists).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
enum Instructions {
    /// 512-bit fused multiply-adds, 16 lanes.
    Avx512,
    /// 256-bit fused multiply-adds, 8 lanes.
    Avx2Fma,
    /// Plain Rust, 8 lanes, not fused.
    Portable,
}

impl Instructions {
    fn lanes(self) -> usize {
        match self {
            Instructions::Avx512 => 16,
            Instructions::Avx2Fma | Instructions::Portable => 8,
        }
    }
}

/// One thread's kernel: `iterations` rounds of `CHAINS` multiply-adds on every lane; returns
/// the sum of the accumulators, so the work cannot be optimised away, and the instructions it
/// ran: the widest fused multiply-add this CPU has, because that is what bounds every kernel
/// the backend could run here, at the dispatch level ([`hsnn_spec::isa`]) the process is capped
/// at.
fn kernel(iterations: u64, start: f32) -> (f32, Instructions) {
    #[cfg(target_arch = "x86_64")]
    {
        use hsnn_spec::isa::IsaLevel;
        let level = IsaLevel::current();
        if level >= IsaLevel::Avx512 && std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F (detected just above), the only requirement
            // of `fma_avx512`'s target feature; it touches no memory but its own stack array.
            #[allow(unsafe_code)]
            let total = unsafe { fma_avx512(iterations, start) };
            return (total, Instructions::Avx512);
        }
        if level >= IsaLevel::Avx2
            && std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports AVX2 and FMA (detected just above), the only
            // requirement of `fma_avx2`'s target features; it touches no memory but its own
            // stack array.
            #[allow(unsafe_code)]
            let total = unsafe { fma_avx2(iterations, start) };
            return (total, Instructions::Avx2Fma);
        }
    }
    (portable(iterations, start), Instructions::Portable)
}

/// The kernel in AVX-512F: 12 chains of `acc = acc * a + b` on 16 lanes.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
#[target_feature(enable = "avx512f")]
unsafe fn fma_avx512(iterations: u64, start: f32) -> f32 {
    use std::arch::x86_64::{
        _mm512_add_ps, _mm512_fmadd_ps, _mm512_reduce_add_ps, _mm512_set1_ps, _mm512_setzero_ps,
    };
    let a = _mm512_set1_ps(0.999_999);
    let b = _mm512_set1_ps(1e-6);
    let mut chains = [_mm512_set1_ps(start); CHAINS];
    for _ in 0..iterations {
        for chain in chains.iter_mut() {
            *chain = _mm512_fmadd_ps(*chain, a, b);
        }
    }
    let mut total = _mm512_setzero_ps();
    for chain in chains {
        total = _mm512_add_ps(total, chain);
    }
    _mm512_reduce_add_ps(total)
}

/// The kernel in AVX2 with FMA: 12 chains of `acc = acc * a + b` on 8 lanes.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
#[target_feature(enable = "avx2,fma")]
unsafe fn fma_avx2(iterations: u64, start: f32) -> f32 {
    use std::arch::x86_64::{
        _mm256_add_ps, _mm256_fmadd_ps, _mm256_set1_ps, _mm256_setzero_ps, _mm256_storeu_ps,
    };
    let a = _mm256_set1_ps(0.999_999);
    let b = _mm256_set1_ps(1e-6);
    let mut chains = [_mm256_set1_ps(start); CHAINS];
    for _ in 0..iterations {
        for chain in chains.iter_mut() {
            *chain = _mm256_fmadd_ps(*chain, a, b);
        }
    }
    let mut total = _mm256_setzero_ps();
    for chain in chains {
        total = _mm256_add_ps(total, chain);
    }
    let mut lanes = [0.0f32; 8];
    _mm256_storeu_ps(lanes.as_mut_ptr(), total);
    lanes.iter().sum()
}

/// The same arithmetic without SIMD intrinsics (other CPUs): multiply then add, which the
/// compiler may vectorise but not fuse.
fn portable(iterations: u64, start: f32) -> f32 {
    let mut chains = [[start; 8]; CHAINS];
    for _ in 0..iterations {
        for chain in chains.iter_mut() {
            for lane in chain.iter_mut() {
                *lane = *lane * 0.999_999 + 1e-6;
            }
        }
    }
    chains.iter().flatten().sum()
}

/// The value every chain reaches after `iterations` rounds from `start`, computed in f64,
/// times the `lanes` of every chain: what the kernel's result is checked against.
pub fn expected_total(iterations: u64, start: f32, lanes: usize) -> f64 {
    let (a, b) = (f64::from(0.999_999f32), f64::from(1e-6f32));
    let mut value = f64::from(start);
    for _ in 0..iterations {
        value = value * a + b;
    }
    value * (CHAINS * lanes) as f64
}

/// The kernel's result for `iterations` rounds from `start` and the lanes it ran on (for
/// tests: the SIMD path must compute what it claims).
pub fn kernel_total(iterations: u64, start: f32) -> (f32, usize) {
    let (total, instructions) = kernel(iterations, start);
    (total, instructions.lanes())
}

/// Measures the peak on as many OS threads as the current rayon pool has, for about
/// `seconds`.
pub fn measure_peak(seconds: f64) -> PeakMeasurement {
    let threads = rayon::current_num_threads();
    // Calibrate on one thread: the rounds that take about a tenth of the budget.
    let mut iterations: u64 = 1 << 16;
    loop {
        let start = Instant::now();
        std::hint::black_box(kernel(iterations, 0.5));
        if start.elapsed().as_secs_f64() > seconds / 10.0 || iterations >= 1 << 40 {
            break;
        }
        iterations *= 2;
    }
    // Five trials, each one kernel call per thread at once; the fastest trial is the peak
    // (a busy or throttled machine only ever slows a trial down, never speeds it up).
    let trials = 5;
    let mut best = f64::INFINITY;
    let mut total_elapsed = 0.0;
    let mut ran = Vec::new();
    for trial in 0..trials {
        // One OS thread per pool thread, released together by a barrier, so that every
        // thread runs the kernel at once whatever the pool's workers are doing; the trial
        // lasts from the first start to the last end. (Half-peak readings on a shared machine
        // happen with this too: `hsnn bench` therefore measures between its repetitions.)
        let barrier = std::sync::Barrier::new(threads);
        let results = std::thread::scope(|scope| {
            let handles = (0..threads)
                .map(|index| {
                    let barrier = &barrier;
                    scope.spawn(move || {
                        barrier.wait();
                        let start = Instant::now();
                        let (total, instructions) =
                            kernel(iterations, 0.5 + (trial * threads + index) as f32 * 1e-3);
                        std::hint::black_box(total);
                        (start, Instant::now(), instructions)
                    })
                })
                .collect::<Vec<_>>();
            handles
                .into_iter()
                .map(|handle| handle.join().expect("a peak kernel thread panicked"))
                .collect::<Vec<_>>()
        });
        let first = results.iter().map(|result| result.0).min();
        let last = results.iter().map(|result| result.1).max();
        let elapsed = match (first, last) {
            (Some(first), Some(last)) => last.duration_since(first).as_secs_f64(),
            _ => f64::INFINITY,
        };
        ran = results.into_iter().map(|result| result.2).collect();
        best = best.min(elapsed);
        total_elapsed += elapsed;
    }
    let elapsed = best;
    // Every call detects the same CPU, so the first call's instructions are every call's.
    let instructions = ran.first().copied().unwrap_or(Instructions::Portable);
    let lanes = instructions.lanes();
    let flops = threads as f64 * iterations as f64 * (CHAINS * lanes * 2) as f64;
    let method = match instructions {
        Instructions::Avx512 => format!(
            "AVX-512F kernel, {CHAINS} independent 16-lane fused multiply-add chains per \
             thread, {threads} threads at once, fastest of {trials} trials ({total_elapsed:.2} s)"
        ),
        Instructions::Avx2Fma => format!(
            "AVX2+FMA kernel (no AVX-512 on this CPU), {CHAINS} independent 8-lane fused \
             multiply-add chains per thread, {threads} threads at once, fastest of {trials} \
             trials ({total_elapsed:.2} s)"
        ),
        Instructions::Portable => format!(
            "portable kernel (no AVX2+FMA), {CHAINS} chains of 8 multiply-adds per thread, \
             {threads} threads at once, fastest of {trials} trials ({total_elapsed:.2} s)"
        ),
    };
    PeakMeasurement {
        flops_per_second: flops / elapsed,
        threads,
        method,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_computes_the_chains_it_claims() {
        // The SIMD path (on this CPU) and the portable one give the f64 value to binary32's
        // rounding over 1000 steps of a contraction (|a| < 1): a kernel that skipped work or
        // mixed chains would be far off.
        for iterations in [1, 10, 1000] {
            let (simd, lanes) = kernel_total(iterations, 0.5);
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx512f")
                && hsnn_spec::isa::IsaLevel::current() == hsnn_spec::isa::IsaLevel::Avx512
            {
                assert_eq!(
                    lanes, 16,
                    "AVX-512F is present, so the peak is its kernel's"
                );
            }
            let plain = f64::from(portable(iterations, 0.5));
            for (name, value, expected) in [
                (
                    "kernel",
                    f64::from(simd),
                    expected_total(iterations, 0.5, lanes),
                ),
                ("portable", plain, expected_total(iterations, 0.5, 8)),
            ] {
                assert!(
                    (value - expected).abs() <= 1e-4 * expected.abs(),
                    "{name}, {iterations} rounds: {value} against {expected}"
                );
            }
        }
    }

    #[test]
    fn peak_is_positive_and_names_its_method() {
        let peak = measure_peak(0.05);
        assert!(peak.flops_per_second > 1e6, "{peak:?}");
        assert!(peak.method.contains("chains"));
    }
}
