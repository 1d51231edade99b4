"""Calibrate the CPU test bed: does an MLP model disentangle the unperturbed ``blob`` reliably?

    python benchmarks/testbed_calibration.py --seeds 0-9 --steps 3000 --beta 8 \
        [--model beta_vae|beta_tc_vae|factor_vae|pcl --gamma 10 --transition-rate 1.0] \
        [--sigma-x 2.5 --sigma-y 5.0 --num-positions 16 --num-latent 4 --threads 1]

Trains one model per seed (the ``mlp`` architecture, Adam 1e-3, batch 64; beta-VAE or beta-TCVAE
with a Bernoulli decoder and ``--beta``, FactorVAE with ``--gamma``, or PCL on natural pairs with
``--transition-rate``) on ``blob`` with the given parameters, scores MIG (disentanglement_lib's
defaults) and appends one JSON line per run (setting, seed, MIG, seconds, threads, CPU, commit) to
``benchmarks/results/testbed_calibration.jsonl``. docs/testbed.md summarises the lines: the
choice of the test bed's settings rests on them.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from provenance import cpu_model, git_commit  # noqa: E402

from disentangle_bench.data.blob import Blob  # noqa: E402
from disentangle_bench.metrics.mig import MIG  # noqa: E402
from disentangle_bench.pipeline.representation import model_representation  # noqa: E402
from disentangle_bench.pipeline.training import TrainingConfig, train  # noqa: E402
from disentangle_bench.registry import Registry  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "testbed_calibration.jsonl"
CPU = torch.device("cpu")
#: The hyperparameter each model is calibrated on (its command-line option).
TUNED = {"beta_vae": "beta", "beta_tc_vae": "beta", "factor_vae": "gamma", "pcl": "transition_rate"}


def seeds_of(text: str) -> list[int]:
    if "-" in text:
        low, high = (int(part) for part in text.split("-"))
        return list(range(low, high + 1))
    return [int(part) for part in text.split(",")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0-9")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--model", choices=tuple(TUNED), default="beta_vae")
    parser.add_argument("--beta", type=float, default=8.0)
    parser.add_argument("--gamma", type=float, default=10.0)
    parser.add_argument("--transition-rate", type=float, default=1.0)
    parser.add_argument("--num-latent", type=int, default=4)
    parser.add_argument("--sigma-x", type=float, default=2.5)
    parser.add_argument("--sigma-y", type=float, default=5.0)
    parser.add_argument("--num-positions", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    data = Blob(sigma_x=args.sigma_x, sigma_y=args.sigma_y, num_positions=args.num_positions)
    tuned = TUNED[args.model]
    setting = {
        "model": args.model,
        "sigma_x": args.sigma_x,
        "sigma_y": args.sigma_y,
        "num_positions": args.num_positions,
        tuned: getattr(args, tuned),
        "num_latent": args.num_latent,
        "steps": args.steps,
        "learning_rate": args.learning_rate,
    }
    commit, cpu = git_commit(), cpu_model()
    for seed in seeds_of(args.seeds):
        start = time.perf_counter()
        torch.manual_seed(seed)
        model = (
            Registry()
            .get("models", args.model)
            .factory(
                observation_shape=data.observation_shape,
                num_latent=args.num_latent,
                architecture="mlp",
                **{tuned: setting[tuned]},
            )
        )
        config = TrainingConfig(
            steps=args.steps,
            batch_size=64,
            learning_rate=args.learning_rate,
            checkpoint_every=args.steps,
            log_every=args.steps,
        )
        with tempfile.TemporaryDirectory() as workdir:
            train(model, data, config, run_dir=Path(workdir), seed=seed, device=CPU, label="")
        seconds = time.perf_counter() - start
        representation = model_representation(model, CPU)
        mig = MIG()(data, representation, np.random.RandomState(0))["discrete_mig"]
        row = {
            **setting,
            "seed": seed,
            "mig": round(float(mig), 4),
            "train_seconds": round(seconds, 1),
            "threads": args.threads,
            "cpu": cpu,
            "commit": commit,
        }
        print(json.dumps(row), flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("a") as handle:
            handle.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
