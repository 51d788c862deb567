"""Times keras-lmu and hsnn on the same networks in one run and prints a Markdown table.

Networks (batch 100, 784 steps of 1 pixel, 10 classes):
  paper:       the original LMU of the paper, all connections (hsnn configs/psmnist-paper.json);
               keras-lmu: RNN(LMUCell(memory_d=1, order=256, theta=784,
               hidden_cell=SimpleRNNCell(212, use_bias=False), hidden_to_memory=True,
               memory_to_memory=True, input_to_hidden=True)) + Dense(10): 102,027 parameters.
  feedforward: keras-lmu's psMNIST example (memory driven by the input alone), as the LMU layer
               (which computes the memory by FFT) and as RNN(LMUCell); hsnn
               configs/psmnist-feedforward-memory.json (no hidden bias: 212 parameters fewer).
hsnn's figures come from `hsnn bench --json` (median training step, gradients + Adam update;
inference sequences per second); keras-lmu's from train_on_batch / predict_on_batch, medians
after one warm-up call.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras_lmu  # noqa: E402

BATCH = 100
STEPS = 784


def keras_network(kind):
    inputs = tf.keras.Input((STEPS, 1))
    if kind == "paper":
        cell = keras_lmu.LMUCell(
            memory_d=1,
            order=256,
            theta=STEPS,
            hidden_cell=tf.keras.layers.SimpleRNNCell(212, use_bias=False),
            hidden_to_memory=True,
            memory_to_memory=True,
            input_to_hidden=True,
        )
        hidden = tf.keras.layers.RNN(cell)(inputs)
    elif kind == "feedforward-cell":
        cell = keras_lmu.LMUCell(
            memory_d=1,
            order=256,
            theta=STEPS,
            hidden_cell=tf.keras.layers.SimpleRNNCell(212),
            hidden_to_memory=False,
            memory_to_memory=False,
            input_to_hidden=True,
        )
        hidden = tf.keras.layers.RNN(cell)(inputs)
    else:
        hidden = keras_lmu.LMU(
            memory_d=1,
            order=256,
            theta=STEPS,
            hidden_cell=tf.keras.layers.SimpleRNNCell(212),
            hidden_to_memory=False,
            memory_to_memory=False,
            input_to_hidden=True,
        )(inputs)
    outputs = tf.keras.layers.Dense(10)(hidden)
    model = tf.keras.Model(inputs, outputs)
    model.compile(
        optimizer=tf.keras.optimizers.Adam(1e-3),
        loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def time_keras(kind, repetitions):
    model = keras_network(kind)
    rng = np.random.default_rng(0)
    x = rng.random((BATCH, STEPS, 1), dtype=np.float32)
    y = rng.integers(0, 10, BATCH)
    train, infer = [], []
    for repetition in range(repetitions + 1):
        start = time.perf_counter()
        model.train_on_batch(x, y)
        elapsed = time.perf_counter() - start
        if repetition:
            train.append(elapsed)
    for repetition in range(repetitions + 1):
        start = time.perf_counter()
        model.predict_on_batch(x)
        elapsed = time.perf_counter() - start
        if repetition:
            infer.append(elapsed)
    return {
        "parameters": model.count_params(),
        "train_step_s": statistics.median(train),
        "inference_samples_per_s": BATCH / statistics.median(infer),
    }


def time_hsnn(binary, config, backend, repetitions):
    output = subprocess.run(
        [binary, "--backend", backend, "bench", "--config", config, "--steps", str(repetitions), "--json"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    report = json.loads(output)
    return {
        "parameters": report["trainable_parameters"],
        "train_step_s": report["train_step_s"],
        "inference_samples_per_s": report["inference_samples_per_s"],
        "train_step_flops": report["train_step_flops"],
        "inference_batch_flops": report["inference_batch_flops"],
        "peak_flops_per_s": report["peak_flops_per_s"],
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--hsnn", required=True)
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--reference-repetitions", type=int, default=1)
    arguments = parser.parse_args()
    r = arguments.repetitions
    rows = []
    paper = time_keras("paper", r)
    rows.append(("paper", "keras-lmu RNN(LMUCell)", paper))
    rows.append(("paper", "hsnn optimized", time_hsnn(arguments.hsnn, "configs/psmnist-paper.json", "optimized", r)))
    rows.append(("paper", "hsnn reference", time_hsnn(arguments.hsnn, "configs/psmnist-paper.json", "reference", arguments.reference_repetitions)))
    feedforward_cell = time_keras("feedforward-cell", r)
    feedforward_layer = time_keras("feedforward-layer", r)
    rows.append(("input-driven memory", "keras-lmu RNN(LMUCell)", feedforward_cell))
    rows.append(("input-driven memory", "keras-lmu LMU layer (FFT)", feedforward_layer))
    rows.append(("input-driven memory", "hsnn optimized", time_hsnn(arguments.hsnn, "configs/psmnist-feedforward-memory.json", "optimized", r)))
    best_keras = {
        "paper": paper,
        "input-driven memory": min((feedforward_cell, feedforward_layer), key=lambda row: row["train_step_s"]),
    }
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"tensorflow {tf.__version__}, keras-lmu {keras_lmu.__version__}; batch {BATCH}, {r} repetitions (medians)\n")
    print("| network | implementation | parameters | training step (s) | speed-up vs keras-lmu | inference (sequences/s) | ratio vs keras-lmu |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for network, name, row in rows:
        keras = best_keras[network]
        print(f"| {network} | {name} | {row['parameters']:,} | {row['train_step_s']:.3f} | "
              f"{keras['train_step_s'] / row['train_step_s']:.2f}x | {row['inference_samples_per_s']:.0f} | "
              f"{row['inference_samples_per_s'] / keras['inference_samples_per_s']:.2f}x |")
    # Against the machine: every implementation of a network does the same counted
    # arithmetic (hsnn's count, SPEC P1: the dense products of the recurrent form; the FFT
    # layer computes fewer), measured peak from hsnn's optimized bench of the same run.
    counted = {network: row for network, name, row in rows if name == "hsnn optimized"}
    print("\n| network | implementation | training GFLOP/s | of the peak | inference GFLOP/s | of the peak |")
    print("|---|---|---:|---:|---:|---:|")
    for network, name, row in rows:
        flops = counted[network]
        peak = flops["peak_flops_per_s"]
        train = flops["train_step_flops"] / row["train_step_s"]
        infer = flops["inference_batch_flops"] * row["inference_samples_per_s"] / BATCH
        print(f"| {network} | {name} | {train / 1e9:.1f} | {100 * train / peak:.0f} % | "
              f"{infer / 1e9:.1f} | {100 * infer / peak:.0f} % |")
    print(f"\nmeasured peak (hsnn bench): {counted['paper']['peak_flops_per_s'] / 1e9:.1f} GFLOP/s")


if __name__ == "__main__":
    main()
