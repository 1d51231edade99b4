#!/usr/bin/env bash
# Train every model of disentangle-bench for a fixed number of steps on the GPU and print steps/s
# and the final losses (benchmarks/train_check.py; the device is chosen at run time: CUDA, then
# MPS, then the CPU with fewer steps). Results, with date, git commit and hardware, are written
# to benchmarks/results/train_check-<date>-<device>.{json,md} ($OUT when it is set). It runs on the
# bare GPU image (python3 without gin-config; pass the commit as DISENTANGLE_BENCH_COMMIT there).
#
#   benchmarks/gpu_train_check.sh                          # 2,000 steps per model on a GPU
#   benchmarks/gpu_train_check.sh --mixed-precision bf16   # the same under bf16 autocast
#   benchmarks/gpu_train_check.sh --device cpu --steps 20  # what CI-class machines can do
#
# Budget: all ten models must finish within about 8 minutes on one H200.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec "$PYTHON" benchmarks/train_check.py "$@"
