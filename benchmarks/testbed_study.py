"""The test-bed study of the paper's claim on a CPU: every run, appended as it finishes.

    python benchmarks/testbed_study.py [--plan full|blend|slow|sweep|base] [--shard 0/2]
        [--threads 1] [--sigma-y S]   (the blob's sigma_y; ``base`` runs beta-VAE at eps 0.1 on it)
        [--out benchmarks/results/testbed_study.jsonl]   (``blend``: testbed_blend.jsonl,
                                                          ``slow``: testbed_slow.jsonl)

The plan (``disentangle_bench.evidence.testbed``): beta-VAE, PCL and AE on ``blob`` and its
structural (``oblique``), norm-matched noise and shuffled twins, 10 seeds each (the same seeds in
every condition: a paired design), in order of priority, seed by seed so that whatever has
finished is paired:

1. beta-VAE on original / structural / noise / shuffled at eps 0.1 (pattern seed 0);
2. beta-VAE on structural / noise / shuffled at eps 0.175 (the second strength);
3. PCL on the eps 0.1 conditions;
4. beta-VAE on the cosine-profile structural and shuffled twins at eps 0.175 (the second
   construction attempt, docs/testbed.md);
5. AE on the eps 0.1 conditions;
6. beta-VAE on the structural twin at eps 0.05 and 0.3 (the eps sweep, with 0.1 and 0.175
   above) and on a second pattern seed (1) at eps 0.1;
7. PCL on the eps 0.175 conditions.

The plan ``blend`` is the fourth attempt (docs/testbed.md): the pattern blended into the image
(``form = 'blend'``: ``oblique_blend`` with its own shuffled and norm-matched noise controls),
PCL with 2 latents (``disentangle_bench.evidence.testbed.MODELS``):

1. beta-VAE, then PCL, on original / structural / noise / shuffled at eps 0.1;
2. beta-VAE, then PCL, on structural / noise / shuffled at eps 0.175;
3. AE on the eps 0.1 conditions;
4. PCL on the inward-push (``oblique``) twins at eps 0.1 (the first construction);
5. beta-VAE and PCL on a second pattern seed (1) at eps 0.1, and beta-VAE's eps sweep (0.05,
   0.3).

The plan ``slow`` is the fifth attempt (docs/testbed.md), the one the leaderboard holds: the blend
with a slow pattern (switch share 1/16) at eps 0.175, and beta-TCVAE beside beta-VAE, PCL and AE:

1. beta-VAE, then PCL, on original / structural / noise / shuffled;
2. AE, then beta-TCVAE, on original / structural / noise;
3. beta-VAE and PCL on the structural and shuffled twins of a second pattern seed (1);
4. AE and beta-TCVAE on the shuffled twin;
5. beta-VAE's eps sweep of the slow twin: structural / noise / shuffled at eps 0.1, structural
   at 0.3.

Each finished run is one JSON line (model, condition, eps, pattern seed, seed, MIG, phase-probe
R^2, seconds, threads, CPU, commit) appended to ``--out``; runs already there are skipped, so an
interrupted study resumes where it stopped, and ``--shard i/n`` splits the plan between ``n``
processes. ``benchmarks/testbed_report.py`` turns the lines into the results tables.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from provenance import cpu_model, git_commit  # noqa: E402

from disentangle_bench.data.blob import Blob  # noqa: E402
from disentangle_bench.evidence.testbed import Condition, run_one  # noqa: E402
from disentangle_bench.perturbations.oblique import MAX_SWITCH_SHARE  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "testbed_study.jsonl"
BLEND_RESULTS = ROOT / "benchmarks" / "results" / "testbed_blend.jsonl"
SLOW_RESULTS = ROOT / "benchmarks" / "results" / "testbed_slow.jsonl"
#: Where each plan appends its runs by default.
PLAN_RESULTS = {"blend": BLEND_RESULTS, "slow": SLOW_RESULTS}
#: The fifth attempt's pattern: switch share 1/16 (docs/testbed.md).
SLOW_SHARE = 0.0625
SEEDS = tuple(range(10))


def plan(name: str) -> list[tuple[str, Condition, int]]:
    """The (model, condition, seed) runs of a plan, most important first."""
    if name == "sweep":  # the eps sweep alone, seed by seed (the full plan runs it after AE)
        sweep = [Condition("structural", eps) for eps in (0.05, 0.175, 0.3)]
        return [("beta_vae", c, s) for s in SEEDS for c in sweep]
    if name == "base":  # beta-VAE at eps 0.1 on another blob (--sigma-y): a third attempt
        conditions = [Condition("original")]
        conditions += [Condition(k, 0.1) for k in ("structural", "noise", "shuffled")]
        return [("beta_vae", c, s) for s in SEEDS for c in conditions]
    if name == "blend":
        return blend_plan()
    if name == "slow":
        return slow_plan()
    original = Condition("original")
    at = {
        eps: [Condition(k, eps) for k in ("structural", "noise", "shuffled")]
        for eps in (0.1, 0.175)
    }
    cosine = [Condition(k, 0.175, profile="cosine") for k in ("structural", "shuffled")]
    sweep = [Condition("structural", 0.05), Condition("structural", 0.3)]
    sweep.append(Condition("structural", 0.1, pattern=1))

    def block(model: str, conditions: list[Condition]) -> list[tuple[str, Condition, int]]:
        return [(model, c, s) for s in SEEDS for c in conditions]

    runs = block("beta_vae", [original, *at[0.1]]) + block("beta_vae", at[0.175])
    runs += block("pcl", [original, *at[0.1]]) + block("beta_vae", cosine)
    runs += block("ae", [original, *at[0.1]]) + block("beta_vae", sweep)
    runs += block("pcl", at[0.175])
    return runs


def blend_plan() -> list[tuple[str, Condition, int]]:
    """The fourth attempt's runs (module docstring), most important first."""
    original = Condition("original")
    controls = ("structural", "noise", "shuffled")
    at = {eps: [Condition(k, eps, form="blend") for k in controls] for eps in (0.1, 0.175)}
    push = [Condition(k, 0.1) for k in controls]
    second = [Condition("structural", 0.1, pattern=1, form="blend")]
    sweep = [Condition("structural", eps, form="blend") for eps in (0.05, 0.3)]

    def block(model: str, conditions: list[Condition]) -> list[tuple[str, Condition, int]]:
        return [(model, c, s) for s in SEEDS for c in conditions]

    runs = block("beta_vae", [original, *at[0.1]]) + block("pcl", [original, *at[0.1]])
    runs += block("beta_vae", at[0.175]) + block("pcl", at[0.175])
    runs += block("ae", [original, *at[0.1]]) + block("pcl", push)
    runs += block("beta_vae", second) + block("pcl", second) + block("beta_vae", sweep)
    return runs


def twin(
    kind: str,
    eps: float,
    form: str = "push",
    share: float = MAX_SWITCH_SHARE,
    pattern: int = 0,
) -> Condition:
    """The study's condition ``kind``; the switch share applies to the patterned twins only
    (the original and the noise twin have no pattern)."""
    if kind == "original":
        return Condition("original")
    shared = {} if kind == "noise" else {"switch_share": share}
    return Condition(kind, eps, pattern=pattern, form=form, **shared)


def slow_plan() -> list[tuple[str, Condition, int]]:
    """The fifth attempt's runs (module docstring), most important first."""

    def slow(kind: str, eps: float = 0.175, pattern: int = 0) -> Condition:
        return twin(kind, eps, "blend", SLOW_SHARE, pattern)

    def block(model: str, conditions: list[Condition]) -> list[tuple[str, Condition, int]]:
        return [(model, c, s) for s in SEEDS for c in conditions]

    original = Condition("original")
    every = [original, slow("structural"), slow("noise"), slow("shuffled")]
    second = [slow("structural", pattern=1), slow("shuffled", pattern=1)]
    sweep = [slow("structural", 0.1), slow("noise", 0.1), slow("shuffled", 0.1)]
    sweep.append(slow("structural", 0.3))
    runs = block("beta_vae", every) + block("pcl", every)
    runs += block("ae", every[:3]) + block("beta_tc_vae", every[:3])
    runs += block("beta_vae", second) + block("pcl", second)
    runs += block("ae", every[3:]) + block("beta_tc_vae", every[3:])
    runs += block("beta_vae", sweep)
    return runs


def key(model: str, label: str, seed: int) -> tuple[str, str, int]:
    return model, label, int(seed)


def done_runs(path: Path) -> set[tuple[str, str, int]]:
    if not path.exists():
        return set()
    done = set()
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:  # a line cut short by a crash: run it again
            continue
        done.add(key(row["model"], row["label"], row["seed"]))
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--plan", choices=("full", "blend", "slow", "sweep", "base"), default="full"
    )
    parser.add_argument("--sigma-y", type=float, default=None, help="the blob's sigma_y")
    parser.add_argument("--shard", default="0/1", help="i/n: run every n-th job from the i-th")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=None, help="override the plan's steps")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.out is None:
        args.out = PLAN_RESULTS.get(args.plan, RESULTS)
    index, count = (int(part) for part in args.shard.split("/"))
    torch.set_num_threads(args.threads)
    jobs = plan(args.plan)[index::count]
    done = done_runs(args.out)
    todo = [job for job in jobs if key(job[0], job[1].label, job[2]) not in done]
    print(f"{len(jobs)} runs in this shard, {len(jobs) - len(todo)} already done", flush=True)
    base = Blob() if args.sigma_y is None else Blob(sigma_y=args.sigma_y)
    commit, cpu = git_commit(), cpu_model()
    started = time.perf_counter()
    for number, (model, condition, seed) in enumerate(todo, 1):
        extra = {} if args.steps is None else {"steps": args.steps}
        row = run_one(model, condition, seed, base=base, **extra)
        row.update(sigma_y=base.sigma_y, threads=args.threads, cpu=cpu, commit=commit)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with open(args.out, "a") as handle:  # one short line per write: appends do not interleave
            handle.write(json.dumps(row) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        elapsed = time.perf_counter() - started
        eta = elapsed / number * (len(todo) - number)
        print(
            f"[{number}/{len(todo)}] {model} {condition.label} seed {seed}: MIG {row['mig']:.3f} "
            f"phase R^2 {row['phase_r2']:.2f} ({row['train_seconds']:.0f} s; "
            f"ETA {eta / 60:.0f} min)",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
