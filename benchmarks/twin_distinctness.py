"""Distinct configurations stay distinct images: a check over every configuration of a grid.

    python benchmarks/twin_distinctness.py [NAME ...] [--chunk 2000] [--limit N]
        [--out benchmarks/results/twin_distinctness.jsonl]

For each registered dataset ``NAME`` (default: Shapes3D and its oblique twins, structural and
shuffled, at both registered strengths), renders every configuration in canonical order, hashes
each image's float32 bytes (BLAKE2b, 16 bytes) and counts the distinct hashes. A twin keeps its
factors only if that count equals the number of configurations (as the base's must). One JSON
line per dataset (name, configurations, distinct images, seconds, commit, CPU) is appended to
``--out`` as each finishes; ``--limit`` checks only the first ``N`` configurations (a smoke
test). For grey or colour images no threshold recovers the clean image, so this is the check on
the full Shapes3D grid that docs/perturbations.md refers to.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from provenance import cpu_model, git_commit  # noqa: E402

from disentangle_bench.registry import Registry  # noqa: E402

DEFAULT = (
    "shapes3d",
    "shapes3d_oblique_010",
    "shapes3d_oblique_0175",
    "shapes3d_oblique_shuffled_010",
    "shapes3d_oblique_shuffled_0175",
)
RESULTS = ROOT / "benchmarks" / "results" / "twin_distinctness.jsonl"


def distinct_images(data, *, chunk: int = 2000, limit: int | None = None, stream=sys.stdout):
    """(configurations checked, distinct images among them) over the grid in canonical order."""
    total = data.num_configurations if limit is None else min(limit, data.num_configurations)
    digests: set[bytes] = set()
    started = time.perf_counter()
    for start in range(0, total, chunk):
        index = np.arange(start, min(start + chunk, total))
        images = data.sample_observations_from_factors(data.factors_of(index), None)
        images = np.ascontiguousarray(images, dtype=np.float32)
        for image in images:
            digests.add(hashlib.blake2b(image.tobytes(), digest_size=16).digest())
        done = index[-1] + 1
        elapsed = time.perf_counter() - started
        print(
            f"  {done:,}/{total:,} configurations, {len(digests):,} distinct "
            f"(ETA {elapsed / done * (total - done) / 60:.0f} min)",
            file=stream,
            flush=True,
        )
    return total, len(digests)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=list(DEFAULT))
    parser.add_argument("--chunk", type=int, default=2000)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    registry, commit, cpu = Registry(), git_commit(), cpu_model()
    failures = 0
    for name in args.names:
        print(f"{name}:", flush=True)
        started = time.perf_counter()
        checked, distinct = distinct_images(
            registry.build("datasets", name), chunk=args.chunk, limit=args.limit
        )
        row = {
            "dataset": name,
            "configurations": checked,
            "distinct_images": distinct,
            "all_distinct": distinct == checked,
            "seconds": round(time.perf_counter() - started, 1),
            "commit": commit,
            "cpu": cpu,
        }
        failures += distinct != checked
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with open(args.out, "a") as handle:
            handle.write(json.dumps(row) + "\n")
        print(f"{name}: {distinct:,} distinct images of {checked:,} configurations", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
