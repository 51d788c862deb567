//! GFLOP/s of the products the optimized backend runs, on both cores the way training runs
//! them (one shard per core, single-threaded products), the per-step shapes both through
//! `gemm` and through `PackedMatrix` (which the backend uses for them on AVX-512 CPUs):
//! `cargo run --release -p hsnn-optimized --example gemm_throughput`.
//! Compare with `python3 benches/peers/gemm_openblas.py` (numpy's OpenBLAS, same shapes).

use std::time::Instant;

use hsnn_optimized::kernels::{matmul, View};
use hsnn_optimized::packed::{transposed_product, PackedMatrix};
use rayon::prelude::*;

/// Runs `work` on two shards in parallel `repeats` times and returns the best seconds.
fn best_of(repeats: usize, work: impl Fn(usize) + Sync) -> f64 {
    (0..repeats)
        .map(|_| {
            let start = Instant::now();
            (0..2).into_par_iter().for_each(&work);
            start.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let filled = |len: usize| {
        (0..len)
            .map(|i| ((i % 17) as f32 - 8.0) / 8.0)
            .collect::<Vec<f32>>()
    };
    // Weight gradient of W_m over one shard: (T*S x 256)^T (T*S x 212), T*S = 784 * 50.
    let rows = 784 * 50;
    let (memory, adjoint) = (filled(rows * 256), filled(rows * 212));
    let seconds = best_of(3, |_| {
        let mut out = vec![0.0f32; 256 * 212];
        matmul(
            &mut out,
            View::row_major(&memory, rows, 256).t(),
            View::row_major(&adjoint, rows, 212),
            false,
        );
    });
    let flops = 2.0 * 2.0 * rows as f64 * 256.0 * 212.0;
    println!(
        "weight gradient 256x39200 times 39200x212, one per core: {:.0} GFLOP/s",
        flops / seconds / 1e9
    );
    // Per-step products of a shard of 50, chained over 784 steps: 50x256 times 256x256
    // (the memory update) and 50x256 times 256x212 (the projection of m).
    for (k, n) in [(256, 256), (256, 212), (212, 212)] {
        let (a, b) = (filled(50 * k), filled(k * n));
        let seconds = best_of(3, |_| {
            let mut out = vec![0.0f32; 50 * n];
            for _ in 0..784 {
                matmul(
                    &mut out,
                    View::row_major(&a, 50, k),
                    View::row_major(&b, k, n),
                    true,
                );
            }
        });
        let packed = PackedMatrix::new(View::row_major(&b, k, n));
        let packed_seconds = best_of(3, |_| {
            let mut out = vec![0.0f32; 50 * n];
            for _ in 0..784 {
                packed.product(&mut out, &a, 50, true);
            }
        });
        let flops = 2.0 * 2.0 * 784.0 * 50.0 * k as f64 * n as f64;
        println!(
            "784 x (50x{k} times {k}x{n}), one chain per core: {:.0} GFLOP/s (gemm), \
             {:.0} GFLOP/s (packed once, PackedMatrix)",
            flops / seconds / 1e9,
            flops / packed_seconds / 1e9
        );
    }
    // The weight gradients as the backward pass forms them, four steps' terms at a time:
    // 196 x (200x{m})^T (200x212) accumulated into m x 212, each group's rows different.
    for m in [212usize, 256] {
        let (a, b) = (filled(784 * 50 * m), filled(784 * 50 * 212));
        let gemm_seconds = best_of(3, |_| {
            let mut out = vec![0.0f32; m * 212];
            for group in 0..196 {
                matmul(
                    &mut out,
                    View::row_major(&a[group * 200 * m..], 200, m).t(),
                    View::row_major(&b[group * 200 * 212..], 200, 212),
                    true,
                );
            }
        });
        let seconds = best_of(3, |_| {
            let mut out = vec![0.0f32; m * 212];
            for group in 0..196 {
                transposed_product(
                    &mut out,
                    (&a[group * 200 * m..], m),
                    (&b[group * 200 * 212..], 212),
                    200,
                    true,
                );
            }
        });
        let flops = 2.0 * 2.0 * 784.0 * 50.0 * m as f64 * 212.0;
        println!(
            "196 x (200x{m})^T (200x212) accumulated, one per core: {:.0} GFLOP/s (gemm), \
             {:.0} GFLOP/s (transposed_product)",
            flops / gemm_seconds / 1e9,
            flops / seconds / 1e9
        );
    }
}
