#!/usr/bin/env bash
# Times hsnn against keras-lmu on the same networks, in one run, and prints one table with
# ratios (docs/PERFORMANCE.md keeps it). Installs tensorflow-cpu and keras-lmu from PyPI into
# benches/peers/.venv on first use; builds hsnn in release mode.
#
# Usage: bash benches/peers/run.sh [REPETITIONS]      (default 5 timed repetitions each)
set -euo pipefail
cd "$(dirname "$0")/../.."
repetitions="${1:-5}"
venv=benches/peers/.venv
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "tensorflow-cpu==2.21.*" "keras-lmu==0.9.0"
fi
cargo build --release -p hsnn-cli
exec "$venv/bin/python" benches/peers/peers.py --hsnn target/release/hsnn --repetitions "$repetitions"
