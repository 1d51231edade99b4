"""Training throughput on one device: the naive loop, one optimised model, K models at once.

    python benchmarks/gpu_throughput.py [--device auto] [--seconds 60] [--models-at-once K]
        [--precision fp32|tf32|bf16] [--dataset dsprites|dsprites_small] [--out DIR] [--smoke]

beta-VAE (the paper's dSprites hyperparameters, batch 64, Adam 1e-4) is trained in one process:
after a warm-up the cases take turns, a few steps each per round, for ``--seconds`` in all, and
each case's steps/s is its median over rounds, so the ratios compare runs on the same machine at
the same time:

- ``naive``: the loop as it was written before the device work: host sampling and conversion
  (NHWC to NCHW on the CPU, then a pageable copy), Adam neither fused nor capturable, every loss
  term read on the host and every random state snapshotted at every step;
- ``single``: one model, optimised: batches gathered on the device from the resident dataset with
  device-drawn factors (``disentangle_bench/data/resident.py``), fused Adam on CUDA, the loss
  terms summed on the device (no host synchronisation per step), the ``--precision`` mode;
- ``batched_device`` / ``batched_host``: K models at once (``BatchedModels``, the batched
  trainer's step; K seeds on the same dataset) with device-drawn factors / with the host
  samplers' factors (what ``gpu_study.py`` uses by default: ``bench run``'s exact batches).

Reported: steps/s, model-steps/s and their ratios to ``naive``; the paper study's cost (7
methods x 2 datasets x 3 variants x 10 seeds x 300,000 steps = 126M model-steps) at the best
measured model-steps/s (beta-VAE's rate; the other methods' steps cost about the same); and,
beside them and not asserted, the targets on one H200: 3,000 steps/s for one model, 12,000
model-steps/s batched, the whole study in at most 3 GPU-hours. It runs on a CPU too (the same
cases and ratios); ``--smoke`` is a tiny run for the tests. Results go to ``throughput.json``
and ``throughput.md`` in ``--out`` (default ``$OUT``, else
``benchmarks/results/gpu_throughput-<date>``). ``gpu_study.py --throughput S`` runs this first,
in the same command.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from gpu_common import (  # noqa: E402  (installs the gin stand-in where gin-config is absent)
    FACTORIES,
    ResidentGroup,
    default_out,
    hardware,
    paper_hyperparameters,
    resolve_commit,
    set_precision,
    synchronize,
    write_json,
    write_text,
)

from disentangle_bench.data.dsprites import (  # noqa: E402
    ProceduralDSprites,
    ProceduralDSpritesSmall,
)
from disentangle_bench.data.ground_truth import GroundTruthData  # noqa: E402
from disentangle_bench.data.resident import DeviceFactors, ResidentData  # noqa: E402
from disentangle_bench.data.sampling import make_sampler  # noqa: E402
from disentangle_bench.pipeline.training import (  # noqa: E402
    TrainingConfig,
    _Precision,
    _TermSums,
    backward,
    compute_losses,
    configure_optimizers,
    draw_noise,
)
from disentangle_bench.util.device import resolve_device  # noqa: E402

MODEL = "beta_vae"
#: The paper study: methods x datasets x variants x seeds x steps.
PAPER_STUDY = {"methods": 7, "datasets": 2, "variants": 3, "seeds": 10, "steps": 300_000}
PAPER_MODEL_STEPS = int(np.prod(list(PAPER_STUDY.values())))
TARGETS = {
    "single_steps_per_second": 3000.0,
    "batched_model_steps_per_second": 12000.0,
    "paper_study_gpu_hours": 3.0,
}


def _build(data: GroundTruthData, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return FACTORIES[MODEL](
        observation_shape=data.observation_shape, **paper_hyperparameters(MODEL)
    )


def naive_step(data: GroundTruthData, device: torch.device, batch_size: int) -> Callable[[], None]:
    """One step of the loop as written before: host work and a host synchronisation per step."""
    model = _build(data).to(device)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, foreach=False)
    sampler = make_sampler(model, data)
    random_state = np.random.RandomState(0)
    step = [0]

    def run() -> None:
        observations = sampler(batch_size, random_state)
        x = torch.from_numpy(observations).permute(0, 3, 1, 2).contiguous().to(device)
        loss, terms = model.loss(x, step[0])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        _ = {name: float(value.detach()) for name, value in terms.items()}  # read each step
        _ = (random_state.get_state(), torch.get_rng_state())  # snapshot every step
        if device.type == "cuda":
            _ = torch.cuda.get_rng_state_all()
        step[0] += 1

    return run


def single_step(
    data: GroundTruthData,
    resident: ResidentData,
    device: torch.device,
    batch_size: int,
    mixed_precision: str | None,
) -> Callable[[], None]:
    """One step of one model on resident data: no host work and no synchronisation per step."""
    model = _build(data).to(device)
    model.train()
    config = TrainingConfig(batch_size=batch_size, mixed_precision=mixed_precision)
    optimizers = configure_optimizers(model, config)  # fused Adam on CUDA
    names = list(optimizers)
    precision = _Precision(mixed_precision, device)
    factors = DeviceFactors(data, getattr(model, "sample_kind", "single"), 1, device, seed=0)
    sums = _TermSums(device)
    step = [0]

    def run() -> None:
        x = resident.observations(factors(batch_size))[0]
        noise = draw_noise(model, x)
        with precision.autocast():
            losses, terms = compute_losses(model, x, step[0], names, noise)
        backward(losses, optimizers, precision)
        precision.step(optimizers)
        sums.add(terms, MODEL)
        step[0] += 1

    return run


def batched_step(
    data: GroundTruthData,
    resident: ResidentData,
    device: torch.device,
    batch_size: int,
    mixed_precision: str | None,
    models: int,
    sampling: str,
) -> Callable[[], None]:
    """One step of ``models`` models at once (the study's :class:`ResidentGroup`)."""
    config = TrainingConfig(batch_size=batch_size, mixed_precision=mixed_precision, log_every=10**9)
    group = ResidentGroup(
        MODEL,
        paper_hyperparameters(MODEL),
        [("original", seed) for seed in range(models)],
        {"original": resident},
        config,
        device,
        sampling=sampling,
    )
    return lambda: group.train(group.step + 1)


def time_cases(
    steps: dict[str, Callable[[], None]],
    device: torch.device,
    warmup: int,
    seconds: float,
    chunk: int,
) -> dict[str, list[float]]:
    """Per case, the steps/s of each round: every case runs ``chunk`` steps in turn, round after
    round, until ``seconds`` have passed (at least one round), after ``warmup`` steps each; the
    device is synchronised around every chunk. Taking turns spreads a changing load on the
    machine over every case alike."""
    for step in steps.values():
        for _ in range(warmup):
            step()
    synchronize(device)
    rates: dict[str, list[float]] = {case: [] for case in steps}
    started = time.perf_counter()
    while not rates[next(iter(rates))] or time.perf_counter() - started < seconds:
        for case, step in steps.items():
            begun = time.perf_counter()
            for _ in range(chunk):
                step()
            synchronize(device)
            rates[case].append(chunk / (time.perf_counter() - begun))
    return rates


def measure(
    data: GroundTruthData,
    resident: ResidentData,
    device: torch.device,
    *,
    seconds: float,
    smoke: bool = False,
    precision: str = "tf32",
    models_at_once: int | None = None,
    batch_size: int | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Every case of the module docstring, timed in turn; the report as a dict."""
    mixed = set_precision(device, precision)
    k = models_at_once or (2 if smoke else 40 if device.type == "cuda" else 4)
    batch = batch_size or (8 if smoke else 64)
    warmup, chunk = (1, 1) if smoke else (5, 20 if device.type == "cuda" else 2)
    builders = {
        "naive": lambda: naive_step(data, device, batch),
        "single": lambda: single_step(data, resident, device, batch, mixed),
        "batched_device": lambda: batched_step(data, resident, device, batch, mixed, k, "device"),
        "batched_host": lambda: batched_step(data, resident, device, batch, mixed, k, "host"),
    }
    rates = time_cases(
        {case: build() for case, build in builders.items()}, device, warmup, seconds, chunk
    )
    rows = []
    for case, per_round in rates.items():
        models = k if case.startswith("batched") else 1
        rate = float(np.median(per_round))
        rows.append(
            {
                "case": case,
                "models": models,
                "rounds": len(per_round),
                "steps": len(per_round) * chunk,
                "steps_per_second": rate,
                "model_steps_per_second": rate * models,
                "steps_per_second_fastest_round": float(np.max(per_round)),
            }
        )
        log(
            f"throughput {case}: {models} model(s), {rate:.2f} steps/s, "
            f"{rate * models:.1f} model-steps/s (median of {len(per_round)} rounds)"
        )
    naive = rows[0]["model_steps_per_second"]
    for row in rows:
        row["model_steps_vs_naive"] = row["model_steps_per_second"] / naive
    best = max(row["model_steps_per_second"] for row in rows)
    hours = PAPER_MODEL_STEPS / best / 3600
    single = next(row for row in rows if row["case"] == "single")
    batched = max(
        row["model_steps_per_second"] for row in rows if row["case"].startswith("batched")
    )
    return {
        "date": datetime.date.today().isoformat(),
        "commit": resolve_commit(),
        "hardware": hardware(device),
        "settings": {
            "model": MODEL,
            "dataset": getattr(data, "name", type(data).__name__),
            "batch_size": batch,
            "models_at_once": k,
            "precision": precision,
            "seconds": seconds,
            "steps_per_round": chunk,
            "warmup_steps": warmup,
            "smoke": smoke,
        },
        "rows": rows,
        "ratios": {
            "single_vs_naive": single["steps_per_second"] / rows[0]["steps_per_second"],
            "batched_vs_single_model_steps": batched / single["model_steps_per_second"],
            "batched_vs_naive_model_steps": batched / naive,
        },
        "paper_study": {
            **PAPER_STUDY,
            "model_steps": PAPER_MODEL_STEPS,
            "at_model_steps_per_second": best,
            "hours": hours,
        },
        "targets": TARGETS,
        "measured_against_targets": {
            "single_steps_per_second": single["steps_per_second"],
            "batched_model_steps_per_second": batched,
            "paper_study_gpu_hours": hours,
        },
    }


def markdown(report: dict[str, Any]) -> str:
    s, hw = report["settings"], report["hardware"]
    lines = [
        f"# gpu_throughput {report['date']}",
        "",
        f"commit `{report['commit']}`; {hw.get('gpu', hw['device'])}; CPU {hw['cpu']} "
        f"({hw['cpu_count']} cores, torch threads {hw['torch_threads']}, load average "
        f"{hw['load_average_1min']}); torch {hw['torch']}",
        "",
        f"{s['model']} on {s['dataset']}, batch {s['batch_size']}, {s['models_at_once']} models "
        f"at once, precision {s['precision']}; after {s['warmup_steps']} warm-up steps each, the "
        f"cases take turns, {s['steps_per_round']} steps each per round, for {s['seconds']:g} s; "
        "steps/s is the median over rounds",
        "",
        "| case | models | steps/s | model-steps/s | model-steps/s vs naive |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in report["rows"]:
        lines.append(
            f"| {row['case']} | {row['models']} | {row['steps_per_second']:.2f} | "
            f"{row['model_steps_per_second']:.1f} | {row['model_steps_vs_naive']:.2f}x |"
        )
    study, measured, targets = (
        report["paper_study"],
        report["measured_against_targets"],
        report["targets"],
    )
    lines += [
        "",
        "| quantity | measured | target on one H200 (not asserted) |",
        "|---|---:|---:|",
        f"| one model, steps/s | {measured['single_steps_per_second']:.1f} | "
        f"{targets['single_steps_per_second']:,.0f} |",
        f"| K models, model-steps/s | {measured['batched_model_steps_per_second']:.1f} | "
        f"{targets['batched_model_steps_per_second']:,.0f} |",
        f"| paper study ({study['model_steps'] / 1e6:.0f}M model-steps), hours | "
        f"{measured['paper_study_gpu_hours']:,.1f} | {targets['paper_study_gpu_hours']:g} |",
    ]
    return "\n".join(lines) + "\n"


def write(report: dict[str, Any], out: Path) -> None:
    write_json(out / "throughput.json", report)
    write_text(out / "throughput.md", markdown(report))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seconds", type=float, default=60.0, help="for all four cases together")
    parser.add_argument("--models-at-once", type=int, default=None, help="40 on CUDA, 4 on CPU")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--precision", choices=("fp32", "tf32", "bf16"), default="tf32")
    parser.add_argument(
        "--dataset",
        choices=("dsprites", "dsprites_small"),
        default=None,
        help="default: dsprites on CUDA, dsprites_small elsewhere",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--out", default=None)
    parser.add_argument("--smoke", action="store_true", help="a tiny run for the tests")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    name = args.dataset or (
        "dsprites" if device.type == "cuda" and not args.smoke else "dsprites_small"
    )
    data = {"dsprites": ProceduralDSprites, "dsprites_small": ProceduralDSpritesSmall}[name](
        cache=False
    )
    resident = ResidentData.build(data, device, workers=8)
    seconds = 0.0 if args.smoke and args.seconds == 60.0 else args.seconds
    report = measure(
        data,
        resident,
        device,
        seconds=seconds,
        smoke=args.smoke,
        precision=args.precision,
        models_at_once=args.models_at_once,
        batch_size=args.batch_size,
    )
    out = Path(args.out) if args.out else default_out("gpu_throughput")
    write(report, out)
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
