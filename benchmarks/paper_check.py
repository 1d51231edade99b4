"""Evidence at image scale: does beta-VAE lose its MIG on the structural twin, and not on the
controls? (Zietlow, Rolinek and Martius, ICML 2021, Table 1, at a scale this machine can afford.)

For each model, ``bench run`` trains it on the original dataset and on three twins:

- ``oblique``: the structural perturbation (eps as given);
- ``noise``: matched-noise control, its eps chosen so that the mean change norm equals the
  structural twin's (clipping accounted for);
- ``oblique_shuffled``: the structural pattern images assigned to other configurations.

It prints and writes (``benchmarks/results/paper_check_<setting>.md`` and ``.json``) a table of
MIG per condition: mean, sd, every run, and a one-sided Mann-Whitney U test of "lower than on
the original". Runs live under ``--out`` and are resumed / reused when the command is repeated.

Settings: ``reduced`` (dsprites_small, 2,000 steps: meant to fit about ten minutes on one GPU with
the default 20 seeds and two models, which needs about 550 steps/s summed; not yet timed on a
GPU) and ``full`` (the full dSprites grid, the paper's 300,000 steps). ``--steps`` and
``--seeds`` override either. On this project's 2-core CPU a reduced run trains at about 10
steps/s (one thread), so 5 seeds of one model take about 75 minutes.

    python benchmarks/paper_check.py --setting reduced --seeds 20 --models beta_vae,ae
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch
from provenance import cpu_model, git_commit
from scipy.stats import mannwhitneyu

from disentangle_bench.perturbations import ObliqueStripes
from disentangle_bench.perturbations.matching import matched_noise_eps, mean_change_norm
from disentangle_bench.pipeline.running import run_experiment
from disentangle_bench.registry import Registry

SETTINGS = {
    "reduced": {"dataset": "dsprites_small", "steps": 2000, "learning_rate": 5e-4},
    "full": {"dataset": "dsprites", "steps": 300_000, "learning_rate": 1e-4},
}
MODEL_BINDINGS = {
    "beta_vae": ["beta_vae.beta = 8.0"],  # the paper's dSprites value
    "ae": [],
    "pcl": [],
}
CONDITIONS = ("original", "oblique", "noise", "oblique_shuffled")
ROOT = Path(__file__).resolve().parents[1]


def config_text(
    model: str,
    dataset: str,
    seeds: list[int],
    steps: int,
    learning_rate: float,
    eps: float,
    noise_eps: float,
    num_latent: int,
) -> str:
    lines = [
        f"experiment.name = 'paper_check_{model}'",
        f"experiment.model = '{model}'",
        f"experiment.datasets = ['{dataset}']",
        "experiment.perturbations = ['oblique', 'noise', 'oblique_shuffled']",
        "experiment.metrics = ['mig']",
        f"experiment.seeds = {seeds}",
        f"{model}.num_latent = {num_latent}",
        *MODEL_BINDINGS.get(model, []),
        f"oblique.eps = {eps}",
        f"oblique_shuffled.eps = {eps}",
        f"noise.eps = {noise_eps:.6f}",
        f"train.steps = {steps}",
        "train.batch_size = 64",
        f"train.learning_rate = {learning_rate}",
        f"train.checkpoint_every = {max(steps // 4, 1)}",
        f"train.log_every = {max(steps // 20, 1)}",
    ]
    return "\n".join(lines) + "\n"


def mig_by_condition(records: list[dict]) -> dict[str, list[float]]:
    table: dict[str, list[float]] = {c: [] for c in CONDITIONS}
    for record in sorted(records, key=lambda r: r["seed"]):
        table[record["dataset"]["condition"]].append(record["metrics"]["mig"]["discrete_mig"])
    return table


def summary_rows(model: str, table: dict[str, list[float]]) -> list[dict]:
    rows = []
    original = table["original"]
    for condition in CONDITIONS:
        values = table[condition]
        if not values:
            continue
        p_value = None
        if condition != "original" and len(values) > 1 and len(original) > 1:
            p_value = float(mannwhitneyu(values, original, alternative="less").pvalue)
        rows.append(
            {
                "model": model,
                "condition": condition,
                "n": len(values),
                "mean": float(np.mean(values)),
                "sd": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
                "values": values,
                "p_lower_than_original": p_value,
            }
        )
    return rows


def markdown(rows: list[dict], header: dict) -> str:
    lines = [f"# paper_check ({header['setting']})", ""]
    lines += [f"- {key}: {value}" for key, value in header.items()]
    lines += [
        "",
        "MIG per condition (mean, sd, every run). p: one-sided Mann-Whitney U, "
        "condition < original.",
        "",
        "| model | condition | n | mean | sd | p | runs |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        p = "-" if row["p_lower_than_original"] is None else f"{row['p_lower_than_original']:.3g}"
        runs = ", ".join(f"{v:.2f}" for v in row["values"])
        lines.append(
            f"| {row['model']} | {row['condition']} | {row['n']} | {row['mean']:.3f} "
            f"| {row['sd']:.3f} | {p} | {runs} |"
        )
    return "\n".join(lines) + "\n"


def hardware(device: str) -> str:
    if device != "cpu" and torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"CPU ({cpu_model()}, {torch.get_num_threads()} threads)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setting", choices=sorted(SETTINGS), default="reduced")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--steps", type=int, help="override the setting's training steps")
    parser.add_argument("--models", default="beta_vae,ae", help="comma-separated model names")
    parser.add_argument("--eps", type=float, default=0.1)
    parser.add_argument("--num-latent", type=int, default=5)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", default="bench_runs/paper_check")
    parser.add_argument("--results", default=str(ROOT / "benchmarks" / "results"))
    args = parser.parse_args(argv)

    setting = dict(SETTINGS[args.setting])
    steps = args.steps or setting["steps"]
    registry = Registry()
    base = registry.build("datasets", setting["dataset"])
    structural_norm = mean_change_norm(base, ObliqueStripes(eps=args.eps).apply(base))
    noise_eps = matched_noise_eps(base, structural_norm)
    print(
        f"structural mean change norm {structural_norm:.3f}; matched noise eps {noise_eps:.4f}",
        flush=True,
    )

    started = time.time()
    commit = (
        git_commit()
    )  # the code this invocation runs (runs reused from earlier ones keep theirs)
    rows = []
    device = "cpu"
    for model in [m.strip() for m in args.models.split(",") if m.strip()]:
        text = config_text(
            model,
            setting["dataset"],
            list(range(args.seeds)),
            steps,
            setting["learning_rate"],
            args.eps,
            noise_eps,
            args.num_latent,
        )
        with tempfile.NamedTemporaryFile("w", suffix=".gin", delete=False) as handle:
            handle.write(text)
        outcome = run_experiment(
            [handle.name],
            out_dir=Path(args.out) / args.setting / model,
            device=args.device,
            registry=registry,
        )
        device = outcome.records[0]["device"]
        rows += summary_rows(model, mig_by_condition(outcome.records))

    header = {
        "setting": args.setting,
        "dataset": setting["dataset"],
        "steps": steps,
        "seeds": args.seeds,
        "eps": args.eps,
        "matched noise eps": round(noise_eps, 4),
        "structural mean change norm": round(structural_norm, 3),
        "device": device,
        "hardware": hardware(device),
        "wall time (s, this invocation)": round(time.time() - started, 1),
        "date": date.today().isoformat(),
        "commit at start": commit,
        "command": "python benchmarks/paper_check.py "
        + " ".join(sys.argv[1:] if argv is None else argv),
    }
    text = markdown(rows, header)
    print(text)
    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    stem = f"paper_check_{args.setting}_{'gpu' if device.startswith('cuda') else 'cpu'}"
    (results / f"{stem}.md").write_text(text)
    (results / f"{stem}.json").write_text(json.dumps({"header": header, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
