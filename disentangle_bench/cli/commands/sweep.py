"""``bench sweep --gin STUDY.gin``: run a study's grid locally or on a Ray cluster."""

from __future__ import annotations

import argparse

from disentangle_bench.util.device import DEVICE_CHOICES


def register(subparsers: argparse._SubParsersAction) -> None:
    sweep = subparsers.add_parser(
        "sweep", help="run a study (a grid of runs) locally or on a Ray cluster"
    )
    sweep.add_argument(
        "--gin",
        action="append",
        required=True,
        metavar="FILE",
        help="study gin file (repeatable; later files override earlier ones)",
    )
    sweep.add_argument(
        "--bind",
        action="append",
        default=[],
        metavar="BINDING",
        help="extra gin binding such as 'study.seeds = 2' (repeatable)",
    )
    sweep.add_argument(
        "--out", metavar="DIR", help="output directory (default: bench_runs/<study.name>)"
    )
    sweep.add_argument(
        "--executor",
        default="local",
        metavar="local|ray",
        help="where runs execute (default: local worker processes)",
    )
    sweep.add_argument(
        "--jobs", type=int, metavar="N", help="parallel runs (default: one per visible GPU, else 1)"
    )
    sweep.add_argument(
        "--retries",
        type=int,
        default=1,
        metavar="K",
        help="retries of a failed run per invocation (default: 1)",
    )
    sweep.add_argument(
        "--ray-address",
        metavar="ADDR",
        help="join this Ray cluster (host:port, ray://host:port or auto) "
        "instead of starting a local one",
    )
    sweep.add_argument(
        "--device",
        default="auto",
        choices=DEVICE_CHOICES,
        help="device of every run (default: auto)",
    )
    sweep.add_argument(
        "--dry-run", action="store_true", help="list the runs and the estimated cost; run nothing"
    )
    sweep.add_argument(
        "--steps-per-second",
        type=float,
        metavar="R",
        help="training speed for the cost estimate (default: measured CPU speed)",
    )
    sweep.set_defaults(handler=sweep_command)  # fmt: skip


def sweep_command(args: argparse.Namespace) -> None:
    from disentangle_bench.sweeping.sweep import run_sweep

    run_sweep(
        args.gin,
        args.bind,
        out_dir=args.out,
        executor=args.executor,
        jobs=args.jobs,
        retries=args.retries,
        dry_run=args.dry_run,
        ray_address=args.ray_address,
        device=args.device,
        steps_per_second=args.steps_per_second,
    )
