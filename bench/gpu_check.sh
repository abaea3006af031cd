#!/usr/bin/env bash
# GPU check (issue 15): train the `paper` preset for a few hundred iterations and score
# >= 50,000 paper-size images in mixed_float16 on an NVIDIA GPU; print iterations/s,
# images/s and the ratio to bench/bench_score.py's original-style baseline on the same GPU.
#
#   bench/gpu_check.sh              # the check (needs a GPU; about 10 min on a recent one)
#   bench/gpu_check.sh --dry-run    # every step at a toy size, on any machine
#   bench/gpu_check.sh --images 100000 --iterations 500 --score-batch 512
#
# Self-contained: makes .venv (pip install -e .[dev]) if missing and, when a GPU is present
# but TensorFlow does not see it, installs the CUDA build of the same TensorFlow version
# (tensorflow[and-cuda]; needs the package index). No database is used. See bench/gpu_check.py
# for what is measured and what is not (the same simulated images are scored repeatedly).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
DRY=0
for a in "$@"; do [ "$a" = "--dry-run" ] && DRY=1; done

if [ ! -x "$PY" ]; then
    echo "== creating .venv"
    python3 -m venv .venv
    "$PY" -m pip install -q --upgrade pip
    "$PY" -m pip install -q -e '.[dev]'
fi

if [ "$DRY" = 0 ]; then
    if ! command -v nvidia-smi >/dev/null 2>&1; then
        echo "no nvidia-smi: this machine has no NVIDIA GPU driver (run with --dry-run to check the script)" >&2
        exit 2
    fi
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
    n_gpu=$("$PY" -c "import tensorflow as tf; print(len(tf.config.list_physical_devices('GPU')))" 2>/dev/null | tail -1)
    if [ "${n_gpu:-0}" = 0 ]; then
        version=$("$PY" -c "import tensorflow as tf; print(tf.__version__)" 2>/dev/null | tail -1)
        echo "== TensorFlow $version does not see the GPU: installing tensorflow[and-cuda]==$version"
        "$PY" -m pip install -q "tensorflow[and-cuda]==$version"
        # the CPU-only wheel shadows the CUDA one if both are installed
        "$PY" -m pip uninstall -q -y tensorflow-cpu || true
        "$PY" -m pip install -q --force-reinstall --no-deps "tensorflow[and-cuda]==$version"
    fi
fi

export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
exec "$PY" bench/gpu_check.py "$@"
