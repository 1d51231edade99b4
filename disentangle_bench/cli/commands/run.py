"""``bench run --gin FILE ...``: train and evaluate the runs a config describes."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, TextIO

from disentangle_bench.util.device import DEVICE_CHOICES


def register(subparsers: argparse._SubParsersAction) -> None:
    run = subparsers.add_parser("run", help="train and evaluate the runs a gin config describes")
    run.add_argument(
        "--gin",
        action="append",
        required=True,
        metavar="FILE",
        help="gin config file (repeatable; later files override earlier ones)",
    )
    run.add_argument(
        "--bind",
        action="append",
        default=[],
        metavar="BINDING",
        help="extra gin binding such as 'train.steps = 100' (repeatable)",
    )
    run.add_argument(
        "--out", metavar="DIR", help="output directory (default: bench_runs/<experiment.name>)"
    )
    run.add_argument(
        "--device",
        default="auto",
        choices=DEVICE_CHOICES,
        help="where to train (default: auto = cuda, then mps, then cpu)",
    )
    run.add_argument(
        "--overwrite", action="store_true", help="replace runs of a different config in --out"
    )
    run.add_argument(
        "--wait",
        action="store_true",
        help="if another bench run is writing --out, wait for it to finish instead of exiting",
    )
    run.add_argument(
        "--jobs",
        type=jobs_argument,
        default=None,
        metavar="N",
        help="runs trained at once on CPU worker processes, each with cores/N threads, or auto "
        "(one per core, at most one per run); default: the config's experiment.jobs, else 1",
    )
    run.set_defaults(handler=run_command)


def jobs_argument(text: str) -> int | str:
    """``--jobs``: a positive integer or ``auto``."""
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer or 'auto', got {text!r}")
    return value


def run_command(args: argparse.Namespace) -> None:
    from disentangle_bench.pipeline.running import run_experiment
    from disentangle_bench.util.writing import WRITE_ERRNOS, WriteError, failure_reason

    try:
        run_experiment(
            args.gin,
            args.bind,
            out_dir=args.out,
            device=args.device,
            overwrite=args.overwrite,
            wait=args.wait,
            after_results=build_runs_leaderboard,
            jobs=args.jobs,
        )
    except OSError as error:  # an unwritable or full output folder, met while writing a run
        where = args.out or "bench_runs/<experiment.name>"
        doing = "cannot write" if error.errno in WRITE_ERRNOS else "file error in"
        raise WriteError(f"{doing} the runs in {where}: {failure_reason(error)}") from None


def build_runs_leaderboard(out: Path, spec: Any, stream: TextIO) -> None:
    """``OUT/leaderboard/`` from the runs, when the experiment has perturbed twins."""
    if spec.perturbations:
        from disentangle_bench.leaderboard import build_leaderboard_for_runs

        build_leaderboard_for_runs(out, stream=stream)
