"""The mechanism on the synthetic linear dataset, over many seeds (CPU, minutes).

An MLP beta-VAE on ``linear`` (x = A diag(s) w), on its ``linear_mix`` twin (a rotated linear
perturbation of about the signal's norm) and on matched-norm noise; MIG per seed and the held-out
R^2 of a linear probe. Writes ``benchmarks/results/linear_mechanism.md`` and ``.json``.

    python benchmarks/linear_mechanism.py --seeds 10
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date
from pathlib import Path

import torch
from provenance import cpu_model, git_commit

from disentangle_bench.evidence.mechanism import as_dicts, linear_mechanism, summarise

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--results", default=str(ROOT / "benchmarks" / "results"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    started = time.time()
    rows = linear_mechanism(seeds=tuple(range(args.seeds)), steps=args.steps)
    commit = git_commit()
    header = (
        f"# Linear mechanism check\n\n- seeds: {args.seeds}; steps: {args.steps}; batch 64; "
        f"MLP beta-VAE (beta 0.2 with the variance-1/2 Gaussian decoder), 4 latents\n"
        f"- hardware: CPU ({cpu_model()}, 1 thread); wall time "
        f"{time.time() - started:.0f} s\n- date: {date.today().isoformat()}; commit: {commit}\n"
        f"- command: python benchmarks/linear_mechanism.py --seeds {args.seeds} "
        f"--steps {args.steps}\n\n"
    )
    text = header + summarise(rows) + "\n"
    print(text)
    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    (results / "linear_mechanism.md").write_text(text)
    (results / "linear_mechanism.json").write_text(json.dumps(as_dicts(rows), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
