"""Metric speed: every metric at its defaults on 10,000 points, reference computation vs fast
variant, and how far the fast scores are from the reference ones.

Usage::

    python benchmarks/metric_speed.py [--quick] [--metric NAME ...] [--dci-seeds N]

The data: a synthetic ground truth with dSprites' factor sizes (3, 6, 40, 32, 32) whose
observation is the scaled factors plus noise pixels, and a cheap numpy representation (ten codes:
five noisy factor codes, two of them mixed, and five noise codes). Encoding costs almost nothing,
so the times are the metrics' own (sampling included). ``--quick`` uses 1,000 points and factor
sizes (3, 6, 10, 8, 8) to check the script in a minute.

The baseline, measured in the same run, is drawing and encoding 10,000 points
(``generate_batch_factor_code``); every time is also given as a ratio to it, since absolute times
depend on the machine and its load. For ``dci`` the script also measures the tolerance its
plugin keeps to disentanglement_lib: the reference's computation (our array core with NumPy's
global generator, which reproduces the reference bit for bit, see docs/metrics.md) under
``--dci-seeds`` global seeds, and the plugin's distance from each.

Results (date, git commit, hardware, load average) go to
``benchmarks/results/metric_speed-<date>.{json,md}``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from provenance import cpu_model, git_commit  # noqa: E402

from disentangle_bench.data.ground_truth import GroundTruthData  # noqa: E402
from disentangle_bench.diagnostics.plugin import BUILTIN as DIAGNOSTIC_BUILTINS  # noqa: E402
from disentangle_bench.metrics import (  # noqa: E402
    FAST_VARIANTS,
    dci,
    generate_batch_factor_code,
)
from disentangle_bench.metrics.plugin import BUILTIN as METRIC_BUILTINS  # noqa: E402

BUILTIN = (*METRIC_BUILTINS, *DIAGNOSTIC_BUILTINS)

# The mechanistic diagnostics are not disentanglement_lib metrics and have no fast variant.
DIAGNOSTICS = ("jacobian_orthogonality", "principal_alignment")
FULL_SIZES = (3, 6, 40, 32, 32)
QUICK_SIZES = (3, 6, 10, 8, 8)


class Synthetic(GroundTruthData):
    """Factors scaled to [0, 1] followed by F + 1 uniform noise pixels (drawn from the caller's
    random state), as a 1 x (2F + 1) x 1 image."""

    def __init__(self, sizes) -> None:
        self.sizes = tuple(sizes)

    @property
    def factor_names(self):
        return tuple(f"factor_{i}" for i in range(len(self.sizes)))

    @property
    def factors_num_values(self):
        return self.sizes

    @property
    def observation_shape(self):
        return (1, 2 * len(self.sizes) + 1, 1)

    @property
    def fingerprint(self):
        return f"synthetic-{self.sizes}"

    def sample_observations_from_factors(self, factors, random_state):
        scaled = factors / (np.asarray(self.sizes, dtype=np.float64) - 1.0)
        noise = random_state.uniform(size=(len(factors), len(self.sizes) + 1))
        return np.hstack([scaled, noise]).astype(np.float32).reshape(len(factors), 1, -1, 1)


def representation(observations: np.ndarray) -> np.ndarray:
    flat = observations.reshape(len(observations), -1).astype(np.float64)
    num_factors = (flat.shape[1] - 1) // 2
    x, u = flat[:, :num_factors], flat[:, num_factors:]
    codes = x + 0.1 * (u[:, :num_factors] - 0.5)
    codes[:, 3], codes[:, 4] = (
        0.6 * codes[:, 3] - 0.8 * codes[:, 4],
        0.8 * codes[:, 3] + (0.6 * codes[:, 4]),
    )
    noise = np.sin(7.0 * u[:, :num_factors] + 3.0 * u[:, -1:])
    return np.hstack([codes, noise]).astype(np.float32)


def scale_parameters(name: str, points: int) -> dict:
    """Defaults, with every training size set to ``points`` and test sizes to half of it."""
    if name.startswith("downstream_task"):
        sizes = [10, 100, 1000, 10000] if points == 10000 else [10, 100, points]
        return {"num_train": sizes, "num_test": points // 2}
    if name in ("beta_vae_sklearn", "factor_vae_score"):
        extra = {"num_variance_estimate": points} if name == "factor_vae_score" else {}
        return {"num_train": points, "num_eval": points // 2, **extra}
    if name in ("mig", "irs", "unsupervised_metrics"):
        return {"num_train": points}
    return {"num_train": points, "num_test": points // 2}


def timed(function, *args, **kwargs):
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - started


def hardware() -> dict:
    import sklearn

    return {
        "machine": platform.machine(),
        "processor": cpu_model(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "load_average_start": list(os.getloadavg()),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 points, smaller factors")
    parser.add_argument("--metric", action="append", help="only these metrics (and variants)")
    parser.add_argument("--dci-seeds", type=int, default=2, help="global seeds for dci's check")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    machine = hardware()
    warnings.simplefilter("ignore")
    points = 1000 if args.quick else 10000
    data = Synthetic(QUICK_SIZES if args.quick else FULL_SIZES)
    factories = {factory.name: factory for factory in BUILTIN}
    references = [
        name
        for name in factories
        if name not in FAST_VARIANTS and name not in (*DIAGNOSTICS, "downstream_task")
    ]
    if args.metric:
        references = [name for name in references if name in args.metric]

    _, baseline = timed(
        generate_batch_factor_code, data, representation, points, np.random.RandomState(0), 16
    )
    print(f"baseline: draw and encode {points} points: {baseline:.3f} s", flush=True)
    rows = []
    for name in references:
        parameters = scale_parameters(name, points)
        reference, seconds = timed(
            factories[name](**parameters), data, representation, np.random.RandomState(0)
        )
        row = {"metric": name, "parameters": parameters, "seconds": seconds, "scores": reference}
        print(f"{name}: {seconds:.2f} s", flush=True)
        fast_names = [fast for fast, ref in FAST_VARIANTS.items() if ref == name]
        for fast in fast_names:
            scores, fast_seconds = timed(
                factories[fast](**parameters), data, representation, np.random.RandomState(0)
            )
            difference = max(abs(scores[key] - reference[key]) for key in reference)
            row.update(
                fast=fast,
                fast_seconds=fast_seconds,
                fast_scores=scores,
                max_abs_score_difference=difference,
            )
            print(f"  {fast}: {fast_seconds:.2f} s, max |difference| {difference:.4f}", flush=True)
        rows.append(row)

    tolerance = None
    if "dci" in references and args.dci_seeds > 0:
        rs = np.random.RandomState(0)
        sample = []
        for size in (points, points // 2):
            sample += generate_batch_factor_code(data, representation, size, rs, 16)
        plugin = next(row["scores"] for row in rows if row["metric"] == "dci")
        runs = []
        for seed in range(args.dci_seeds):
            np.random.seed(seed)
            runs.append(dci(*sample, random_state=None))
        tolerance = {
            "global_seeds": list(range(args.dci_seeds)),
            "reference_results": runs,
            "reference_spread": max(abs(r[k] - runs[0][k]) for r in runs for k in r),
            "plugin_vs_reference": max(abs(plugin[k] - r[k]) for r in runs for k in r),
        }
        print(f"dci tolerance: {tolerance}", flush=True)

    lines = [
        f"# Metric speed ({points} points, factor sizes {data.sizes})",
        "",
        f"Baseline (draw and encode {points} points): {baseline:.3f} s.",
        "",
        "| metric | reference s | x baseline | fast variant | fast s | x baseline | speed-up |"
        " max abs score difference |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        fast = (
            f"{row['fast']} | {row['fast_seconds']:.2f} | {row['fast_seconds'] / baseline:.0f} | "
            f"{row['seconds'] / row['fast_seconds']:.1f}x | {row['max_abs_score_difference']:.4f}"
            if "fast" in row
            else "- | - | - | - | -"
        )
        lines.append(
            f"| {row['metric']} | {row['seconds']:.2f} | {row['seconds'] / baseline:.0f} | {fast} |"
        )
    if tolerance is not None:
        lines += [
            "",
            f"dci vs disentanglement_lib's computation under global seeds "
            f"{tolerance['global_seeds']}: the reference's own spread "
            f"{tolerance['reference_spread']:.2e}, the plugin's largest distance "
            f"{tolerance['plugin_vs_reference']:.2e}.",
        ]
    report = "\n".join(lines)
    print("\n" + report)
    stamp = datetime.date.today().isoformat()
    payload = {
        "date": stamp,
        "commit": git_commit(),
        "hardware": {**machine, "load_average_end": list(os.getloadavg())},
        "points": points,
        "factor_sizes": list(data.sizes),
        "baseline_seconds": baseline,
        "rows": rows,
        "dci_tolerance": tolerance,
    }
    suffix = "-quick" if args.quick else ""
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"metric_speed-{stamp}{suffix}.json").write_text(
        json.dumps(payload, indent=1, default=float) + "\n"
    )
    header = f"Date {stamp}, commit {payload['commit']}, hardware {payload['hardware']}\n\n"
    (args.out / f"metric_speed-{stamp}{suffix}.md").write_text(header + report + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
