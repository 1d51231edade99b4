"""K models per training step: torch.func (vmap) against grouped layers and K sequential runs.

Usage::

    python benchmarks/batched_speed.py [--rounds 20] [--threads 1] [--quick]
        [--cases beta_vae,ae,pcl] [--no-conv] [--results DIR]

One training step of K models (forward, backward, Adam), on batches sampled beforehand (the
host-side sampling costs the same in every design: one sampler call per model), timed three ways
in the same run:

- ``sequential``: K separate models, each stepped as the single-model trainer steps it
  (:func:`disentangle_bench.pipeline.training.optimization_step`); the baseline;
- ``torch.func``: the batched trainer's step
  (:class:`disentangle_bench.pipeline.batched.BatchedModels`: ``stack_module_state`` +
  ``functional_call`` + ``vmap`` of ``grad``);
- ``grouped layers``: the beta-VAE written out by hand as one network for K models (dense layers
  as batched matmuls, convolutions as grouped convolutions, K blocks side by side), with
  autograd and one Adam over the stacked tensors. Its losses are checked against the
  sequential models' on the same batch and noise before timing.

Cases: the MLP beta-VAE (``architecture='mlp'``, 32x32x1, batch 64, K = 10) and the conv
beta-VAE (64x64x1, batch 64, K = 4); ``ae`` and ``pcl`` (MLP) with ``torch.func`` against
sequential. Each design runs once per round, in turn (so that other work on a shared machine
disturbs every design alike); the table gives the fastest and the median round of each, and
the ratio of the sequential time to each (fastest to fastest, median to median). Results,
with the date, commit, CPU, threads and load average, go to
``benchmarks/results/batched_speed-<date>.{json,md}``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from provenance import cpu_model, git_commit  # noqa: E402

from disentangle_bench.pipeline.batched import BatchedModels, noise_generators  # noqa: E402
from disentangle_bench.pipeline.training import (  # noqa: E402
    TrainingConfig,
    configure_optimizers,
    optimization_step,
)

CPU = torch.device("cpu")
CONFIG = TrainingConfig(learning_rate=1e-4)
BETA = 4.0


def build(model_class, shape, seeds, **hyperparameters):
    """The K models as ``bench run`` seeds them, and each one's generator state afterwards."""
    models, states = [], []
    for seed in seeds:
        torch.manual_seed(seed)
        models.append(model_class(shape, **hyperparameters))
        states.append(torch.get_rng_state())
    return models, states


def observations(model, k, batch_size, shape, generator):
    """(K, ...) random binary observations in the model's input layout (NCHW, pairs for PCL)."""
    height, width, channels = shape
    size = (k, batch_size, channels, height, width)
    if model.sample_kind != "single":
        size = (k, 2, batch_size, channels, height, width)
    return (torch.rand(size, generator=generator) > 0.7).float()


class Sequential:
    """K separate models, each stepped by the single-model trainer's step."""

    def __init__(self, models, states):
        self.models = models
        self.optimizers = [configure_optimizers(model, CONFIG) for model in models]
        self.states = states

    def step(self, batch, step):
        for k, (model, optimizers) in enumerate(zip(self.models, self.optimizers, strict=True)):
            torch.set_rng_state(self.states[k])  # model k's own noise stream
            optimization_step(model, batch[k], step, optimizers)
            self.states[k] = torch.get_rng_state()


class GroupedBetaVAE:
    """The beta-VAE of K models as one network: K weight blocks per layer, side by side."""

    def __init__(self, models, states):
        self.k = len(models)
        self.architecture = models[0].architecture
        self.parameters = {
            name: torch.stack([m.get_parameter(name).detach() for m in models]).requires_grad_()
            for name, _ in models[0].named_parameters()
        }
        self.optimizer = torch.optim.Adam(
            list(self.parameters.values()), lr=CONFIG.learning_rate, eps=CONFIG.epsilon
        )
        self.models = models
        self.generators = noise_generators(range(self.k), states, CPU)

    def dense(self, x, name):  # x (K, N, in) -> (K, N, out)
        weight, bias = self.parameters[f"{name}.weight"], self.parameters[f"{name}.bias"]
        return torch.baddbmm(bias.unsqueeze(1), x, weight.transpose(1, 2))

    def conv(self, x, name, stride, padding, transposed=False):  # x (N, K*C, H, W)
        weight = self.parameters[f"{name}.weight"].flatten(0, 1)
        bias = self.parameters[f"{name}.bias"].flatten()
        function = F.conv_transpose2d if transposed else F.conv2d
        return function(x, weight, bias, stride=stride, padding=padding, groups=self.k)

    def losses(self, x, eps):
        """(K,) beta-VAE losses for observations (K, N, C, H, W) and noise (K, N, D)."""
        k, n, channels, height, width = x.shape
        if self.architecture == "mlp":
            h = self.dense(x.flatten(2), "encoder.features.1").relu()
            h = self.dense(h, "encoder.features.3").relu()
        else:
            h = x.transpose(0, 1).reshape(n, k * channels, height, width)
            for index, padding in ((0, 1), (2, 1), (4, 0), (6, 0)):
                h = self.conv(h, f"encoder.features.{index}", 2, padding).relu()
            h = h.view(n, k, -1).transpose(0, 1)
            h = self.dense(h, "encoder.features.9").relu()
        mean, log_var = self.dense(h, "encoder.means"), self.dense(h, "encoder.log_var")
        z = mean + torch.exp(0.5 * log_var) * eps
        if self.architecture == "mlp":
            out = self.dense(self.dense(z, "decoder.net.0").relu(), "decoder.net.2").relu()
            out = self.dense(out, "decoder.net.4").view(k, n, channels, height, width)
        else:
            out = self.dense(self.dense(z, "decoder.dense.0").relu(), "decoder.dense.2").relu()
            out = out.transpose(0, 1).reshape(n, k * 64, 4, 4)
            for index in (0, 2, 4):
                out = self.conv(out, f"decoder.deconv.{index}", 2, 1, transposed=True).relu()
            out = self.conv(out, "decoder.deconv.6", 2, 1, transposed=True)
            out = out.view(n, k, channels, height, width).transpose(0, 1)
        cross_entropy = F.binary_cross_entropy_with_logits(out, x, reduction="none")
        reconstruction = cross_entropy.flatten(2).sum(-1).mean(-1)
        kl = (0.5 * (mean.square() + log_var.exp() - log_var - 1.0)).sum(-1).mean(-1)
        return reconstruction + BETA * kl

    def noise(self, batch):
        return torch.stack(
            [
                model.draw_noise(batch[k], self.generators[k])["eps"]
                for k, model in enumerate(self.models)
            ]
        )

    def step(self, batch, step):
        loss = self.losses(batch, self.noise(batch)).sum()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()


def grouped_loss_error(models, states, batch):
    """Max relative difference between the grouped network's losses and the K models' own, on
    the same batch and noise (a check that the hand-written design computes the same thing)."""
    grouped = GroupedBetaVAE(models, list(states))
    with torch.no_grad():
        eps = grouped.noise(batch)
        ours = grouped.losses(batch, eps)
        theirs = torch.stack(
            [m.loss(batch[k], 0, {"eps": eps[k]})[0] for k, m in enumerate(models)]
        )
    return float(((ours - theirs).abs() / theirs.abs()).max())


def time_designs(designs, batch, rounds):
    """Seconds per step of each design: every round runs each design once, in turn."""
    for design in designs.values():  # warm-up (allocations, one-off dispatch)
        design.step(batch, 0)
    seconds = {name: [] for name in designs}
    for step in range(1, rounds + 1):
        for name, design in designs.items():
            started = time.perf_counter()
            design.step(batch, step)
            seconds[name].append(time.perf_counter() - started)
    return seconds


def run_case(label, model_class, shape, k, batch_size, rounds, grouped, **hyperparameters):
    seeds = list(range(k))
    designs = {}
    models, states = build(model_class, shape, seeds, **hyperparameters)
    designs["sequential"] = Sequential(models, list(states))
    fresh, states = build(model_class, shape, seeds, **hyperparameters)
    designs["torch.func"] = BatchedModels(fresh, CONFIG, CPU, noise_generators(seeds, states, CPU))
    check = None
    batch = observations(models[0], k, batch_size, shape, torch.Generator().manual_seed(0))
    if grouped:
        fresh, states = build(model_class, shape, seeds, **hyperparameters)
        check = grouped_loss_error(fresh, states, batch)
        fresh, states = build(model_class, shape, seeds, **hyperparameters)
        designs["grouped layers"] = GroupedBetaVAE(fresh, states)
    seconds = time_designs(designs, batch, rounds)
    best = min(seconds["sequential"])
    median = statistics.median(seconds["sequential"])
    rows = [
        {
            "case": label,
            "design": name,
            "k": k,
            "best_ms": 1e3 * min(values),
            "median_ms": 1e3 * statistics.median(values),
            "speedup_best": best / min(values),
            "speedup_median": median / statistics.median(values),
            "model_steps_per_s_median": k / statistics.median(values),
        }
        for name, values in seconds.items()
    ]
    return rows, check


def markdown(rows, checks, info):
    lines = [
        "# Batched training: K models per step on the CPU",
        "",
        f"- date: {info['date']}",
        f"- commit: {info['commit']}",
        f"- CPU: {info['cpu']} ({info['cores']} cores), torch {info['torch']}, "
        f"{info['threads']} thread(s)",
        f"- load average (1 min) before / after: {info['load_before']} / {info['load_after']} "
        "(a shared machine: other jobs ran at the same time)",
        f"- rounds: {info['rounds']} (fastest and median round per design)",
        f"- command: {info['command']}",
        "",
        "| case | design | K | ms/step, best | ms/step, median | model-steps/s (median) | "
        "speed-up vs sequential, best | speed-up, median |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['case']} | {row['design']} | {row['k']} | {row['best_ms']:.1f} | "
            f"{row['median_ms']:.1f} | {row['model_steps_per_s_median']:.1f} | "
            f"{row['speedup_best']:.2f}x | {row['speedup_median']:.2f}x |"
        )
    lines += ["", "Grouped layers vs the models' own losses (max relative difference):", ""]
    lines += [f"- {case}: {value:.1e}" for case, value in checks.items()]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="tiny shapes, for a smoke test")
    parser.add_argument(
        "--cases", default="beta_vae,ae,pcl", help="models to measure (comma-separated)"
    )
    parser.add_argument("--no-conv", action="store_true", help="skip the conv beta-VAE")
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from disentangle_bench.models import PCL, Autoencoder, BetaVAE

    load_before = round(os.getloadavg()[0], 2)
    batch = 8 if args.quick else 64
    mlp_shape = (8, 8, 1) if args.quick else (32, 32, 1)
    mlp = {"architecture": "mlp", "num_latent": 10}
    side = "x".join(str(s) for s in mlp_shape[:2])
    cases = [
        (f"beta_vae mlp {side}", BetaVAE, mlp_shape, 10, True, {**mlp, "beta": BETA}),
        ("beta_vae conv 64x64", BetaVAE, (64, 64, 1), 2 if args.quick else 4, True, {"beta": BETA}),
        (f"ae mlp {side}", Autoencoder, mlp_shape, 10, False, mlp),
        (f"pcl mlp {side}", PCL, mlp_shape, 10, False, mlp),
    ]
    wanted = set(args.cases.split(","))
    cases = [
        case
        for case in cases
        if case[0].split()[0] in wanted and not (args.no_conv and "conv" in case[0])
    ]
    rows, checks = [], {}
    for label, model_class, shape, k, grouped, hyperparameters in cases:
        print(f"{label}, K = {k} ...", file=sys.stderr, flush=True)
        case_rows, check = run_case(
            label, model_class, shape, k, batch, args.rounds, grouped, **hyperparameters
        )
        rows += case_rows
        if check is not None:
            checks[label] = check
    info = {
        "date": datetime.date.today().isoformat(),
        "commit": git_commit(),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "threads": args.threads,
        "rounds": args.rounds,
        "batch_size": batch,
        "load_before": load_before,
        "load_after": round(os.getloadavg()[0], 2),
        "command": "python benchmarks/batched_speed.py " + " ".join(argv or sys.argv[1:]),
    }
    text = markdown(rows, checks, info)
    print(text)
    args.results.mkdir(parents=True, exist_ok=True)
    stem = f"batched_speed-{info['date']}" + ("-quick" if args.quick else "")
    (args.results / f"{stem}.md").write_text(text, encoding="utf-8")
    payload = {"info": info, "rows": rows, "grouped_loss_check": checks}
    (args.results / f"{stem}.json").write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
