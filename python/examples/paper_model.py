"""The shipped paper model, spiking at dt 2 on the embedded psMNIST test images: accuracy,
activity bits (SPEC B1) and energy per inference on Loihi's profile (H10)."""

import sys
from pathlib import Path

import hsnn

root = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
model = hsnn.Model.load(root / "models/psmnist-paper/model-spiking.json.gz").with_quantizer(dt=2.0)
images, labels = hsnn.load_psmnist()["test"]  # 1,000 embedded test images, [n, 784, 1]
images, labels = images[:200], labels[:200]

run = hsnn.Optimized().forward(model, images, trace="counts")
accuracy = (run["logits"].argmax(axis=1) == labels).mean()
hidden = run["trace"]["sites"][0]
bits = hsnn.bit_metrics(hidden["counts"], activation=hidden["activation"])

chip = hsnn.Hardware()
chip_run = chip.forward(model, images, trace="none")
energy = chip.energy(model, "loihi")
chip_accuracy = (chip_run["logits"].argmax(axis=1) == labels).mean()

print(f"accuracy {accuracy:.2%} (f32), {chip_accuracy:.2%} (fixed point, modeled chip)")
print(
    f"activity bits {bits['activity_bits_signed']:.2f} signed, "
    f"{bits['activity_bits']:.2f} magnitude"
)
print(
    f"energy per inference on loihi: {energy['hybrid']['total_joules'] * 1e6:.2f} uJ hybrid, "
    f"{energy['non_spiking']['total_joules'] * 1e6:.2f} uJ non-spiking"
)
