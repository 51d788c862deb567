//! Criterion benchmarks of both backends: the quantizer (neuron-steps per second), inference on
//! the paper's network (sequences per second, non-spiking and spiking at dt 4), and one
//! training step of the paper's network (sequences per second; the optimized backend at batch
//! 100, the reference at batch 5, one of its chunks, since a whole minibatch takes about 30 s),
//! and inference on the modeled chip (hsnn-hardware) at two dts.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hsnn_benches::{paper_model, pixel_batch};
use hsnn_optimized::OptimizedBackend;
use hsnn_reference::ReferenceBackend;
use hsnn_spec::{Activation, Backend, ForwardOptions, Tensor2, TraceLevel, Trainer};

fn quantizer(criterion: &mut Criterion) {
    let (steps, neurons) = (784, 212);
    let inputs = Tensor2::from_row_major(
        steps,
        neurons,
        (0..steps * neurons)
            .map(|index| ((index * 7919) % 2001) as f64 / 1000.0 - 1.0)
            .collect(),
    )
    .expect("valid inputs");
    let initial = vec![0.5; neurons];
    let mut group = criterion.benchmark_group("quantizer_tanh_dt4");
    group.throughput(Throughput::Elements((steps * neurons) as u64));
    group.bench_function("reference", |bencher| {
        bencher.iter(|| ReferenceBackend.quantize(Activation::Tanh, 4.0, 1.0, &inputs, &initial))
    });
    group.bench_function("optimized", |bencher| {
        bencher.iter(|| OptimizedBackend.quantize(Activation::Tanh, 4.0, 1.0, &inputs, &initial))
    });
    group.finish();
}

fn inference(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("paper_inference");
    group.sample_size(10);
    for (label, dt) in [("non_spiking", None), ("spiking_dt4", Some(4.0))] {
        let model = paper_model(dt);
        let trace = if dt.is_some() {
            TraceLevel::Counts
        } else {
            TraceLevel::None
        };
        for (backend, batch) in [("optimized", 100), ("reference", 2)] {
            let (sequences, _) = pixel_batch(batch);
            group.throughput(Throughput::Elements(batch as u64));
            group.bench_with_input(
                BenchmarkId::new(backend, label),
                &sequences,
                |bencher, sequences| {
                    bencher.iter(|| match backend {
                        "optimized" => {
                            OptimizedBackend.forward(&model, sequences, &ForwardOptions { trace })
                        }
                        _ => ReferenceBackend.forward(&model, sequences, &ForwardOptions { trace }),
                    })
                },
            );
        }
    }
    group.finish();
}

fn training_step(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("paper_training_step");
    group.sample_size(10);
    let model = paper_model(None);
    for (backend, batch) in [("optimized", 100), ("reference", 5)] {
        let (sequences, labels) = pixel_batch(batch);
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_function(BenchmarkId::new(backend, batch), |bencher| {
            bencher.iter(|| match backend {
                "optimized" => OptimizedBackend.gradients(&model, &sequences, &labels),
                _ => ReferenceBackend.gradients(&model, &sequences, &labels),
            })
        });
    }
    group.finish();
}

/// The modeled chip (SPEC.md H8) on the paper's network at two dts: its event-driven part
/// grows with the events (few at dt 1, many multi-bit ones at dt 16), its dense memory does
/// not. The conversion is done once, outside the timing.
fn hardware_inference(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("paper_inference_hardware");
    group.sample_size(10);
    let (sequences, _) = pixel_batch(2);
    for dt in [1.0, 16.0] {
        let model = paper_model(Some(dt));
        let fixed = hsnn_reference::compiler::convert(&model, &Default::default())
            .expect("the paper network converts");
        let chip = hsnn_hardware::Chip::new(fixed).expect("chip");
        group.throughput(Throughput::Elements(sequences.batch as u64));
        group.bench_with_input(
            BenchmarkId::new("hardware", format!("spiking_dt{dt}")),
            &sequences,
            |bencher, sequences| {
                bencher.iter(|| hsnn_hardware::run_batch(&chip, sequences, false, 1))
            },
        );
    }
    group.finish();
}

criterion_group!(
    benches,
    quantizer,
    inference,
    training_step,
    hardware_inference
);
criterion_main!(benches);
