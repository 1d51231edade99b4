#!/usr/bin/env bash
# The paper-scale study in one GPU window (benchmarks/gpu_study.py, with 40 s of gpu_throughput.py first; docs/gpu.md): on the device, DISENTANGLE_BENCH_COMMIT=<commit> benchmarks/gpu_study.sh
set -euo pipefail; cd "$(dirname "$0")/.."; export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1; exec "${PYTHON:-python3}" benchmarks/gpu_study.py --throughput 40 "$@"
