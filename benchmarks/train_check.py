"""Train every built-in model for a fixed number of steps and report steps/s and final losses.

Usage (``benchmarks/gpu_train_check.sh`` wraps it)::

    python benchmarks/train_check.py [--steps N] [--device auto|cpu|cuda|mps]
        [--mixed-precision bf16|fp16] [--models beta_vae,factor_vae] [--batch-size 64]
        [--threads N]

Each model trains through the real trainer (:func:`disentangle_bench.pipeline.training.train`:
sampler,
optimisers, logging, one checkpoint at the end) on ``--dataset`` (default ``dsprites_small``)
with the standard conv architecture and 10 latents. A few warm-up steps run first (allocations,
cuDNN autotuning); steps/s is measured over the following ``--steps`` steps, final checkpoint
included. Defaults: 2,000 steps on a GPU, 20 on a CPU. The results, with the date, the git
commit and the hardware, go to ``benchmarks/results/train_check-<date>-<device>.{json,md}``
(``$OUT`` when it is set). It runs on the bare GPU image (no gin-config: ``gpu_common.py``); the
commit comes from ``$DISENTANGLE_BENCH_COMMIT`` there (``.git`` does not travel).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

# gpu_common installs a stand-in for gin-config where it is absent (the bare GPU image): models
# and datasets are built from their classes here, without the registry.
from gpu_common import FACTORIES, resolve_commit  # noqa: E402
from provenance import cpu_model  # noqa: E402

from disentangle_bench.data.blob import Blob  # noqa: E402
from disentangle_bench.data.dsprites import (  # noqa: E402
    ProceduralDSprites,
    ProceduralDSpritesSmall,
)
from disentangle_bench.data.shapes3d import ProceduralShapes3DSmall  # noqa: E402
from disentangle_bench.models.plugin import BUILTIN  # noqa: E402
from disentangle_bench.pipeline.training import TrainingConfig, train  # noqa: E402
from disentangle_bench.util.device import describe_device, resolve_device  # noqa: E402

DATASETS = {
    "dsprites_small": ProceduralDSpritesSmall,
    "dsprites": ProceduralDSprites,
    "shapes3d_small": ProceduralShapes3DSmall,
    "blob": Blob,
}


def hardware(device: torch.device) -> dict:
    info = {
        "device": describe_device(device),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    if device.type == "cuda":
        info["cuda"] = torch.version.cuda
        info["gpu_memory_gib"] = round(
            torch.cuda.get_device_properties(device).total_memory / 2**30, 1
        )
    return info


def check_model(name, data, device, args) -> dict:
    torch.manual_seed(0)
    model = FACTORIES[name](observation_shape=tuple(data.observation_shape))
    common = dict(
        batch_size=args.batch_size,
        learning_rate=1e-4,
        mixed_precision=args.mixed_precision,
        log_every=max(1, args.steps),
        checkpoint_every=args.warmup + args.steps,
    )
    with tempfile.TemporaryDirectory() as run_dir:
        warm = train(
            model,
            data,
            TrainingConfig(steps=args.warmup, **common),
            run_dir=Path(run_dir),
            seed=0,
            device=device,
            label=f"{name} warm-up",
        )
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        started = time.perf_counter()
        result = train(
            model,
            data,
            TrainingConfig(steps=args.warmup + args.steps, **common),
            run_dir=Path(run_dir),
            seed=0,
            device=device,
            label=f"{name}",
        )
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - started
    del warm
    return {
        "model": name,
        "sample_kind": getattr(model, "sample_kind", "single"),
        "parameters": sum(p.numel() for p in model.parameters()),
        "steps": args.steps,
        "seconds": round(seconds, 3),
        "steps_per_second": round(args.steps / seconds, 2),
        "final_losses": {k: round(v, 5) for k, v in result.final_losses.items()},
    }


def to_markdown(report: dict) -> str:
    s = report["settings"]
    lines = [
        f"# train_check {report['date']}",
        "",
        f"commit `{report['commit']}`; {report['hardware']['device']}; CPU "
        f"{report['hardware']['cpu']} ({report['hardware']['cpu_count']} cores, torch threads "
        f"{report['hardware']['torch_threads']}, load average "
        f"{report['hardware']['load_average_1min']} at the start); torch "
        f"{report['hardware']['torch']}",
        "",
        f"dataset `{s['dataset']}`, batch {s['batch_size']}, {s['steps']} timed steps after "
        f"{s['warmup']} warm-up steps, mixed precision {s['mixed_precision']}, "
        f"wall time {report['wall_seconds']:.0f} s",
        "",
        "| model | samples | parameters | steps/s | final losses |",
        "|---|---|---|---|---|",
    ]
    for row in report["models"]:
        losses = ", ".join(f"{k}={v:.4g}" for k, v in row["final_losses"].items())
        lines.append(
            f"| {row['model']} | {row['sample_kind']} | {row['parameters']:,} | "
            f"{row['steps_per_second']:.1f} | {losses} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--steps", type=int, default=None, help="2000 on a GPU, 20 on a CPU")
    parser.add_argument("--warmup", type=int, default=None, help="20 on a GPU, 3 on a CPU")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--models", default=",".join(cls.name for cls in BUILTIN))
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="dsprites_small")
    parser.add_argument("--mixed-precision", choices=["bf16", "fp16"], default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument(
        "--out", default=os.environ.get("OUT") or str(ROOT / "benchmarks" / "results")
    )
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    accelerated = device.type != "cpu"
    args.steps = args.steps or (2000 if accelerated else 20)
    args.warmup = args.warmup if args.warmup is not None else (20 if accelerated else 3)

    started = time.perf_counter()
    machine = hardware(device)  # before the work, so the load average is other processes'
    data = DATASETS[args.dataset]()
    rows = []
    for name in [n.strip() for n in args.models.split(",") if n.strip()]:
        row = check_model(name, data, device, args)
        rows.append(row)
        losses = " ".join(f"{k}={v:.4g}" for k, v in row["final_losses"].items())
        print(f"{name:13s} {row['steps_per_second']:8.1f} steps/s | {losses}", flush=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    report = {
        "date": now.isoformat(timespec="seconds"),
        "commit": resolve_commit(),
        "hardware": machine,
        "settings": {
            "dataset": args.dataset,
            "batch_size": args.batch_size,
            "steps": args.steps,
            "warmup": args.warmup,
            "mixed_precision": args.mixed_precision,
        },
        "wall_seconds": round(time.perf_counter() - started, 1),
        "models": rows,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"train_check-{now:%Y%m%d-%H%M%S}-{device.type}"
    (out / f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / f"{stem}.md").write_text(to_markdown(report))
    print(to_markdown(report))
    print(f"written: {out / stem}.json and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
