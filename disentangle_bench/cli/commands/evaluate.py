"""``bench evaluate RUN_DIR_OR_MODEL --metric NAME ...``: re-score a run or a TorchScript model."""

from __future__ import annotations

import argparse

from disentangle_bench.util.device import DEVICE_CHOICES


def register(subparsers: argparse._SubParsersAction) -> None:
    evaluate = subparsers.add_parser(
        "evaluate",
        help="score an existing run (or every run of an experiment) or a TorchScript encoder",
        description=(
            "Score a run directory written by 'bench run' (or every run of an experiment "
            "directory) or a TorchScript encoder with the named metrics. Results are appended "
            "to <run>/evaluations/<metric>.json (earlier results are kept)."
        ),
    )
    evaluate.add_argument(
        "target",
        metavar="RUN_DIR_OR_MODEL",
        help="run directory, experiment directory or TorchScript file",
    )
    evaluate.add_argument(
        "--metric",
        action="append",
        default=[],
        metavar="NAME",
        help="metric to compute (repeatable; see 'bench plugins list')",
    )
    evaluate.add_argument(
        "--gin",
        action="append",
        default=[],
        metavar="FILE",
        help="gin file with metric hyperparameters; disentanglement_lib's metric configs work "
        "as is (repeatable)",
    )
    evaluate.add_argument(
        "--bind",
        action="append",
        default=[],
        metavar="BINDING",
        help="extra gin binding such as 'dci.num_train = 1000' (repeatable)",
    )
    evaluate.add_argument(
        "--dataset", metavar="NAME", help="dataset to score a TorchScript encoder on"
    )
    evaluate.add_argument(
        "--perturbation", metavar="NAME", help="score a TorchScript encoder on this perturbed twin"
    )
    evaluate.add_argument(
        "--seed",
        type=int,
        help="metric seed (default: evaluation.random_seed from gin, else the run's "
        "evaluation seed, else 0)",
    )
    evaluate.add_argument(
        "--device", default="auto", choices=DEVICE_CHOICES, help="where the encoder runs"
    )
    evaluate.add_argument(
        "--batch-size",
        type=int,
        default=256,
        help="most observations per forward pass (default 256)",
    )
    evaluate.add_argument(
        "--input-layout",
        default="NCHW",
        choices=("NCHW", "NHWC"),
        help="image layout a TorchScript encoder expects (default NCHW)",
    )
    evaluate.add_argument("--out", metavar="DIR", help="write <metric>.json files here instead")
    evaluate.set_defaults(handler=evaluate_command)


def evaluate_command(args: argparse.Namespace) -> None:
    from disentangle_bench.pipeline.evaluation import evaluate
    from disentangle_bench.util.errors import ConfigError

    if args.batch_size < 1:
        raise ConfigError(f"--batch-size must be positive, got {args.batch_size}")
    evaluate(
        args.target,
        args.metric,
        gin_files=args.gin,
        bindings=args.bind,
        dataset=args.dataset,
        perturbation=args.perturbation,
        seed=args.seed,
        device=args.device,
        batch_size=args.batch_size,
        input_layout=args.input_layout,
        out_dir=args.out,
    )
