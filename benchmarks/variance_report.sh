#!/usr/bin/env bash
# The variance-structure diagnostic of dSprites and Shapes3D under the oblique perturbation,
# swept over eps, and of the CPU test bed blob; writes
# benchmarks/results/variance_{dsprites,shapes3d,blob}.{png,json,md}.
set -euo pipefail
cd "$(dirname "$0")/.."
bench datasets inspect dsprites --variance --bind "dsprites.cache = False" \
    --perturbation oblique --eps 0,0.05,0.1,0.175,0.2 --points 128 \
    --report benchmarks/results/variance_dsprites
bench datasets inspect shapes3d --variance \
    --perturbation oblique --eps 0,0.05,0.1,0.175,0.2 --points 128 \
    --report benchmarks/results/variance_shapes3d
bench datasets inspect blob --variance \
    --perturbation oblique --eps 0,0.05,0.1,0.175,0.3 --points 128 \
    --report benchmarks/results/variance_blob
