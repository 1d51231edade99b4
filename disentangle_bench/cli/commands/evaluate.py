"""``bench evaluate TARGET --metric NAME ...``: re-score a run, or score any PyTorch encoder.

TARGET is a run directory, an experiment directory, a TorchScript file or a ``module:callable``
entry point (an encoder). With ``--submit NAME`` an encoder is scored on every registered
dataset it fits and on their twins, and the scores become a validated leaderboard submission.
With ``--dlib-output DIR`` the results are also written in disentanglement_lib's layout.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from disentangle_bench.util.device import DEVICE_CHOICES


def register(subparsers: argparse._SubParsersAction) -> None:
    evaluate = subparsers.add_parser(
        "evaluate",
        help="score a run (or every run of an experiment) or any PyTorch encoder",
        description=(
            "Score a run directory written by 'bench run' (or every run of an experiment "
            "directory), a TorchScript encoder or a 'module:callable' encoder with the named "
            "metrics. A run's metrics take the bindings of its operative config, then --gin and "
            "--bind (--metric-defaults: the metrics' defaults instead). Results are appended to "
            "<run>/evaluations/<metric>.json (earlier results are kept). An encoder file or "
            "entry point is the user's own code and runs as such."
        ),
    )
    evaluate.add_argument(
        "target",
        metavar="TARGET",
        help="run directory, experiment directory, TorchScript file or module:callable",
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
        help="gin file with metric hyperparameters; disentanglement_lib's metric and "
        "postprocessing configs work as is (repeatable)",
    )
    evaluate.add_argument(
        "--bind",
        action="append",
        default=[],
        metavar="BINDING",
        help="extra gin binding such as 'dci.num_train = 1000' (repeatable)",
    )
    evaluate.add_argument(
        "--metric-defaults",
        action="store_true",
        help="score a run with the metrics' defaults (plus --gin/--bind) instead of the "
        "bindings in the run's operative config, which are used by default",
    )
    evaluate.add_argument(
        "--dataset",
        action="append",
        default=[],
        metavar="NAME",
        help="dataset to score an encoder on (repeatable with --submit; default with --submit: "
        "every registered dataset it fits)",
    )
    evaluate.add_argument(
        "--perturbation",
        action="append",
        default=[],
        metavar="NAME",
        help="score an encoder on this perturbed twin (with --submit: the twins of each "
        "dataset, repeatable; default oblique and noise)",
    )
    evaluate.add_argument(
        "--submit",
        metavar="NAME",
        help="score the encoder on every dataset it fits and their twins, and write a "
        "validated leaderboard submission under this name",
    )
    evaluate.add_argument(
        "--to",
        default=".",
        metavar="DIR",
        help="with --submit, the file goes to DIR/submissions/ (default: ./submissions/, as "
        "'bench submit' does; --to leaderboard adds it to the repository's leaderboard)",
    )
    evaluate.add_argument(
        "--overwrite", action="store_true", help="replace an existing submission of that name"
    )
    evaluate.add_argument(
        "--max-configurations",
        type=int,
        default=None,
        metavar="N",
        help="with --submit and no --dataset: skip datasets with more factor configurations "
        "(default 10000; 0: no limit)",
    )
    evaluate.add_argument(
        "--dlib-output",
        metavar="DIR",
        help="also write the results in disentanglement_lib's layout under DIR (and DIR/"
        "results.json, its aggregate); without a metric, a run's recorded scores",
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
        default=None,
        choices=("NCHW", "NHWC"),
        help="image layout an encoder expects (default: what a representation file says, "
        "else NCHW)",
    )
    evaluate.add_argument("--out", metavar="DIR", help="write <metric>.json files here instead")
    evaluate.set_defaults(handler=evaluate_command)


def evaluate_command(args: argparse.Namespace) -> None:
    from disentangle_bench.pipeline import dlib_compat  # noqa: F401 - its gin names
    from disentangle_bench.pipeline.encoders import is_entry_point
    from disentangle_bench.util.errors import ConfigError

    if args.batch_size < 1:
        raise ConfigError(f"--batch-size must be positive, got {args.batch_size}")
    if args.max_configurations is not None and args.submit is None:
        raise ConfigError("--max-configurations is for --submit")
    target = Path(args.target)
    entry_point = is_entry_point(args.target)
    if not (entry_point or target.is_file()):
        if args.submit is not None:
            raise ConfigError(
                "--submit scores an encoder (a TorchScript file or module:callable); submit "
                "runs with 'bench submit'"
            )
        _evaluate_runs(args)
    elif not entry_point and _legacy_torchscript(args, target):
        _evaluate_torchscript(args)
    else:
        _evaluate_encoder(args)


def _legacy_torchscript(args: argparse.Namespace, target: Path) -> bool:
    """A TorchScript file on at most one named dataset: pipeline.evaluation's own path."""
    from disentangle_bench.pipeline.dlib_compat import read_representation_metadata

    if args.submit is not None or len(args.dataset) > 1 or len(args.perturbation) > 1:
        return False
    if args.dataset:
        return True
    return not (read_representation_metadata(target) or {}).get("dataset") and not _gin_dataset(
        args
    )


def _gin_dataset(args: argparse.Namespace) -> str | None:
    """``dataset.name`` of the gin files, unless ``"auto"``."""
    from disentangle_bench.pipeline.dlib_compat import AUTO, dataset_binding
    from disentangle_bench.pipeline.evaluation import parse_evaluation_gin

    parse_evaluation_gin(args.gin, args.bind)
    name = dataset_binding()
    return None if name == AUTO else name


def _metric_dir_name(metrics: list[str]) -> str | None:
    """``evaluation.name`` of the gin config when one metric is scored (its result directory
    in disentanglement_lib's layout), else None (each metric's own name)."""
    from disentangle_bench.pipeline.evaluation import evaluation_settings

    _, _, name = evaluation_settings()
    return name if name and len(metrics) == 1 else None


def _evaluate_runs(args: argparse.Namespace) -> None:
    from disentangle_bench.pipeline import dlib_results
    from disentangle_bench.pipeline.dlib_compat import postprocessing
    from disentangle_bench.pipeline.evaluation import evaluate, find_targets, parse_evaluation_gin
    from disentangle_bench.registry import Registry
    from disentangle_bench.util.device import resolve_device
    from disentangle_bench.util.errors import ConfigError

    registry = Registry()
    if args.dlib_output and not args.metric and not args.gin:  # export the recorded scores
        if args.dataset or args.perturbation:
            raise ConfigError("--dataset and --perturbation are for encoders")
        device = resolve_device(args.device)
        for item in find_targets(args.target):
            path = dlib_results.export_run(
                args.dlib_output, item.path, registry=registry, device=device
            )
            print(f"wrote {path}", flush=True)
        _aggregate(args.dlib_output)
        return
    parse_evaluation_gin(args.gin, args.bind)
    postprocess = postprocessing()
    records = evaluate(
        args.target,
        args.metric,
        gin_files=args.gin,
        bindings=args.bind,
        dataset=args.dataset[0] if args.dataset else None,
        perturbation=args.perturbation[0] if args.perturbation else None,
        seed=args.seed,
        device=args.device,
        batch_size=args.batch_size,
        input_layout=args.input_layout or "NCHW",
        out_dir=args.out,
        registry=registry,
        metric_defaults=args.metric_defaults,
    )
    if args.dlib_output:
        _write_run_evaluations(args, records, registry, postprocess)


def _write_run_evaluations(
    args: argparse.Namespace,
    records: list[dict[str, Any]],
    registry: Any,
    postprocess: dict[str, Any],
) -> None:
    from disentangle_bench.pipeline import dlib_results
    from disentangle_bench.pipeline.evaluation import run_dataset, run_model
    from disentangle_bench.pipeline.record import load_run_record
    from disentangle_bench.util.device import resolve_device

    device = resolve_device(args.device)
    root = Path(args.dlib_output)
    metric_dir = _metric_dir_name(sorted({r["metric"] for r in records}))
    done: set[str] = set()
    for evaluation in records:
        run_dir = Path(evaluation["source"]["path"])
        record = load_run_record(run_dir / "run.json")
        name = str(record["run_id"])
        if name not in done:
            data = run_dataset(record, registry)
            model = run_model(record, run_dir, data, registry, device)
            dlib_results.write_run_model(root, record, model, tuple(data.observation_shape))
            done.add(name)
        path = dlib_results.write_evaluation(
            root, name, evaluation, metric_dir=metric_dir, postprocess_name=postprocess["name"]
        )
        print(f"  written to {path}", flush=True)
    _aggregate(root)


def _aggregate(root: str | Path) -> None:
    from disentangle_bench.pipeline import dlib_results

    path = dlib_results.aggregate_results_to_json(root)
    print(f"disentanglement_lib aggregate: {path}", flush=True)


def _evaluate_torchscript(args: argparse.Namespace) -> None:
    """One TorchScript file on one dataset, through pipeline.evaluation (layout auto-read)."""
    from disentangle_bench.pipeline.dlib_compat import read_representation_metadata
    from disentangle_bench.pipeline.evaluation import evaluate

    layout = args.input_layout
    if layout is None:
        layout = (read_representation_metadata(args.target) or {}).get("input_layout", "NCHW")
    records = evaluate(
        args.target,
        args.metric,
        gin_files=args.gin,
        bindings=args.bind,
        dataset=args.dataset[0] if args.dataset else None,
        perturbation=args.perturbation[0] if args.perturbation else None,
        seed=args.seed,
        device=args.device,
        batch_size=args.batch_size,
        input_layout=layout,
        out_dir=args.out,
    )
    if args.dlib_output:
        from disentangle_bench.pipeline.encoders import load_encoder

        encoder = load_encoder(args.target, "cpu", layout)
        for evaluation in records:
            _write_encoder_evaluation(args, encoder, evaluation, evaluation["dataset"]["name"])
        _aggregate(args.dlib_output)


def _write_encoder_evaluation(
    args: argparse.Namespace, encoder: Any, evaluation: dict[str, Any], dataset_name: str
) -> None:
    """An encoder's evaluation in disentanglement_lib's layout, under
    ``<encoder>-<dataset>`` (train and postprocess steps record the encoder and the dataset)."""
    from disentangle_bench.pipeline import dlib_results
    from disentangle_bench.pipeline.dlib_compat import postprocessing

    postprocess = postprocessing()
    name = f"{encoder.name}-{dataset_name.replace('+', '-')}"
    record = {
        "run_id": name,
        "seed": evaluation.get("random_seed", 0),
        "dataset": {"name": dataset_name},
        "model": {"name": encoder.name, "hyperparameters": _encoder_hyperparameters(encoder)},
        "training": {},
    }
    dlib_results.write_train(args.dlib_output, name, record)
    dlib_results.write_postprocess(
        args.dlib_output,
        name,
        dataset_name,
        random_seed=postprocess["random_seed"],
        postprocess_name=postprocess["name"],
    )
    dlib_results.write_evaluation(
        args.dlib_output,
        name,
        evaluation,
        metric_dir=_metric_dir_name([evaluation["metric"]]),
        postprocess_name=postprocess["name"],
    )


def _encoder_hyperparameters(encoder: Any) -> dict[str, Any]:
    """What identifies an encoder in a record: its file's sha256 or its entry point, and the
    input layout."""
    keep = ("kind", "sha256", "entry_point", "input_layout")
    return {key: encoder.source[key] for key in keep if key in encoder.source}


def _evaluate_encoder(args: argparse.Namespace) -> None:
    """An encoder on the planned conditions (``--submit``), the named datasets, or the dataset
    its representation file (or ``dataset.name``) names."""
    from disentangle_bench.leaderboard.encoders import Entry, run_record, write_submission
    from disentangle_bench.pipeline import encoders
    from disentangle_bench.pipeline.dlib_compat import postprocessing
    from disentangle_bench.pipeline.evaluation import metrics_to_run, parse_evaluation_gin
    from disentangle_bench.pipeline.record import versions as record_versions
    from disentangle_bench.registry import Registry
    from disentangle_bench.util.device import describe_device, resolve_device
    from disentangle_bench.util.errors import ConfigError

    registry = Registry()
    parse_evaluation_gin(args.gin, args.bind)
    postprocessing()  # refuses a sampled representation before any work
    metrics, gin_seed = metrics_to_run(args.metric, registry)
    for name in metrics:
        registry.build("metrics", name)
    seed = int(args.seed if args.seed is not None else gin_seed if gin_seed is not None else 0)
    device = resolve_device(args.device)
    encoder = encoders.load_encoder(args.target, device, args.input_layout)
    represent = encoders.representation_of(encoder, device, args.batch_size)

    if args.submit is not None:
        limit = args.max_configurations
        plan = encoders.plan_conditions(
            registry,
            represent,
            datasets=args.dataset or None,
            perturbations=args.perturbation or encoders.DEFAULT_PERTURBATIONS,
            max_configurations=encoders.DEFAULT_MAX_CONFIGURATIONS if limit is None else limit,
            observation_shape=(encoder.metadata or {}).get("observation_shape"),
        )
        for line in plan.skipped:
            print(f"skipped {line}", file=sys.stderr, flush=True)
        conditions = plan.conditions
        if not conditions:
            raise ConfigError("the encoder fits no registered dataset (see the skipped lines)")
    else:
        conditions = _named_conditions(args, encoder, registry)

    out = _encoder_out_dir(args, encoder)
    versions = record_versions()
    records = []
    evaluations = []
    for condition in conditions:
        print(f"evaluating {encoder.name} on {condition.name}", flush=True)
        scored = encoders.score_condition(registry, represent, condition, metrics, seed)
        for item in scored:
            evaluation = encoders.evaluation_record(
                item, condition, encoder.source, device, versions
            )
            folder = out if len(conditions) == 1 and args.submit is None else out / condition.name
            encoders.append_evaluation(folder / f"{item.metric}.json", evaluation)
            evaluations.append(evaluation)
        records.append(
            run_record(
                Entry(condition, represent, seed=0, steps=0),
                scored,
                model={
                    "name": encoder.name,
                    "plugin": encoder.source["kind"],
                    "distribution": _encoder_distribution(encoder),
                    "hyperparameters": _encoder_hyperparameters(encoder),
                },
                protocol="fixed_encoder",
                evaluation_seed=seed,
                device=describe_device(device),
                operative_gin=evaluations[-1]["operative_gin"] if evaluations else "",
            )
        )
    print(f"evaluations written to {out}", flush=True)
    if args.dlib_output:
        for evaluation in evaluations:
            _write_encoder_evaluation(args, encoder, evaluation, evaluation["dataset"]["name"])
        _aggregate(args.dlib_output)
    if args.submit is not None:
        path = write_submission(records, args.submit, args.to, overwrite=args.overwrite)
        bases = sorted({condition.base for condition in conditions})
        print(f"wrote {path}: {len(records)} runs on {', '.join(bases)} and their twins")
        print(
            "to add it to a leaderboard, copy it into LEADERBOARD/submissions/ (or submit with "
            "--to LEADERBOARD), then run: bench leaderboard build --dir LEADERBOARD",
            flush=True,
        )


def _encoder_distribution(encoder: Any) -> str:
    if encoder.source["kind"] == "entry_point":
        return f"entry point {encoder.source['entry_point']}"
    return f"TorchScript file sha256:{encoder.source['sha256'][:12]}"


def _encoder_out_dir(args: argparse.Namespace, encoder: Any) -> Path:
    from disentangle_bench.pipeline.evaluation import EVALUATIONS_DIR

    if args.out is not None:
        return Path(args.out)
    if encoder.source["kind"] == "torchscript":
        path = Path(encoder.source["path"])
        return path.with_name(f"{path.stem}.{EVALUATIONS_DIR}")
    return Path(f"{encoder.name}.{EVALUATIONS_DIR}")


def _named_conditions(args: argparse.Namespace, encoder: Any, registry: Any) -> list[Any]:
    """``--dataset`` (with ``--perturbation``), else ``dataset.name``, else the dataset the
    representation file was exported from (rebuilt and checked against its fingerprint)."""
    from disentangle_bench.pipeline import encoders
    from disentangle_bench.pipeline.evaluation import run_dataset
    from disentangle_bench.pipeline.record import dataset_record
    from disentangle_bench.util.errors import ConfigError

    perturbation = args.perturbation[0] if args.perturbation else None
    names = list(args.dataset)
    if not names and _gin_dataset(args):
        names = [_gin_dataset(args)]
    if names:
        return [encoders.single_condition(registry, name, perturbation) for name in names]
    recorded = (encoder.metadata or {}).get("dataset")
    if not recorded:
        raise ConfigError("an encoder needs --dataset NAME (the data to score it on) or --submit")
    if perturbation is not None:
        raise ConfigError("--perturbation needs --dataset (the representation file names its own)")
    data = run_dataset({"dataset": recorded}, registry)
    record = dataset_record(registry, recorded["base"], data, parameters=recorded["parameters"])
    keep = ("name", "condition", "perturbation", "fingerprint")
    record.update({key: recorded[key] for key in keep if key in recorded})
    return [encoders.Condition(recorded["base"], recorded["condition"], data, record)]
