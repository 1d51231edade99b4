"""The leaderboard's test-bed entries, made from the test-bed study's runs.

    python benchmarks/testbed_submissions.py [--plan slow|blend|push] [--study FILE]
        [--leaderboard leaderboard] [--scratch DIR] [--eps EPS] [--pattern 0]

The study (``benchmarks/testbed_study.py``) appends one JSON line per finished run. ``--plan``
names the study plan the entries come from, with its file, form, switch share and default
strength (:data:`PLANS`): ``slow`` (the default: the fifth attempt, ``testbed_slow.jsonl``, the
blend with switch share 1/16 at eps 0.175), ``blend`` (the fourth, ``testbed_blend.jsonl``, eps
0.1) or ``push`` (the first, ``testbed_study.jsonl``, eps 0.1). For each of its models
(``disentangle_bench.evidence.testbed.MODELS``: beta_vae, pcl, ae, beta_tc_vae) this script takes
the runs on the original ``blob``, its structural twin (``oblique_blend``, or ``oblique`` for
``push``) and its noise twin (norm-matched to that structural twin) at strength ``--eps`` and
pattern seed ``--pattern``, keeps every seed present in all three (a paired design), and writes
each as the
run record ``bench run`` would have written (``OUT/runs/<run_id>/run.json``, built by
``disentangle_bench.pipeline.record.build_run_record``) into a scratch directory:

- the dataset part from the registry (``blob`` with its defaults, the registered perturbation
  with ``eps`` and ``seed`` = the pattern seed), checked to have the fingerprint of the dataset
  the study trained on (``Condition.build``);
- the model's hyperparameters: its registered defaults overridden by the study's
  (``MODELS``); the number of parameters from the model built as the study builds it;
- training as the study ran it: the row's steps, batch 64, Adam with learning rate 1e-3 and
  disentanglement_lib's betas and epsilon (``TrainingConfig``'s defaults), no resumption;
- the score ``{"mig": {"discrete_mig": row["mig"]}}`` with MIG's default parameters and
  evaluation seed 0 (``run_one`` scores with ``MIG()`` and ``RandomState(0)``);
- the commit the row records in ``versions["commit"]``, and in the operative gin text (as
  comments) the commit, the CPU and threads, the study condition, its phase-probe R^2 and what
  the wall time covers; the device is ``cpu (<CPU model>, <threads> thread(s))``.

Then it measures the chance levels (``disentangle_bench.leaderboard.chance``) into
``disentangle_bench/leaderboard/chance_levels.py``, runs ``bench submit`` on each model's runs
(every check, fingerprints included) into a scratch leaderboard, replaces the test-bed entries of
``--leaderboard``'s ``submissions/`` (the files this script wrote before, and the retired
quickstart entry) by the new ones, and rebuilds the pages (``bench leaderboard build
--strict``). The method names say the scale, e.g. ``beta-VAE (test bed: blob, CPU, 3,000 steps,
10 seeds)``. Rerunning it on a grown study file regenerates everything from the file alone.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import gin  # noqa: E402
from testbed_study import twin  # noqa: E402

from disentangle_bench.cli import main as bench  # noqa: E402
from disentangle_bench.data.blob import Blob  # noqa: E402
from disentangle_bench.evidence.testbed import (  # noqa: E402
    FORMS,
    MODELS,
    NUM_LATENT,
    Condition,
    build_model,
)
from disentangle_bench.leaderboard import chance  # noqa: E402
from disentangle_bench.leaderboard.aggregate import COMMIT_KEY  # noqa: E402
from disentangle_bench.perturbations.oblique import MAX_SWITCH_SHARE  # noqa: E402
from disentangle_bench.pipeline.config import effective_parameters  # noqa: E402
from disentangle_bench.pipeline.record import (  # noqa: E402
    RUN_RECORD_FILE,
    ModelRecord,
    RunRecord,
    TrainingRecord,
    WallSeconds,
    build_dataset,
    build_run_record,
    versions,
)
from disentangle_bench.pipeline.training import TrainingConfig  # noqa: E402
from disentangle_bench.registry import Registry  # noqa: E402
from disentangle_bench.registry.contract import KINDS  # noqa: E402
from disentangle_bench.util.files import atomic_write_json, atomic_write_text  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
#: Per study plan: its runs file, the pattern's form and switch share, the default strength.
PLANS: dict[str, dict[str, Any]] = {
    "slow": {
        "study": RESULTS / "testbed_slow.jsonl",
        "form": "blend",
        "share": 0.0625,
        "eps": 0.175,
    },
    "blend": {
        "study": RESULTS / "testbed_blend.jsonl",
        "form": "blend",
        "share": None,
        "eps": 0.1,
    },
    "push": {"study": RESULTS / "testbed_study.jsonl", "form": "push", "share": None, "eps": 0.1},
}
LEADERBOARD = ROOT / "leaderboard"
CHANCE_MODULE = ROOT / "disentangle_bench" / "leaderboard" / "chance_levels.py"
GENERATOR = "benchmarks/testbed_submissions.py"
BASE = "blob"
METRIC, KEY = "mig", "discrete_mig"
EVALUATION_SEED = 0
BATCH_SIZE = 64
LEARNING_RATE = 1e-3
#: The conditions the entries hold (the shuffled control is the study report's, not theirs).
SUBMITTED = ("original", "structural", "noise")
DISPLAY = {"beta_vae": "beta-VAE", "pcl": "PCL", "ae": "AE", "beta_tc_vae": "beta-TCVAE"}
#: The first comment line of every record's operative gin: marks the entries this script owns.
MARKER = f"# A run of the CPU test-bed study, recorded by {GENERATOR}"
#: Entries retired by this script (they measured an old construction and were never re-run).
RETIRED = ("beta-vae-quickstart-config-cpu-1-500-steps.json",)


# -- the study file ------------------------------------------------------------------------------


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The study's finished runs (a line cut short by a crash is skipped; of two lines for one
    run, the first counts, as the study's own resume logic treats it)."""
    rows, seen = [], set()
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        key = (row["model"], row["label"], int(row["seed"]))
        if key in seen:
            continue
        seen.add(key)
        rows.append(row)
    return rows


def paired(
    rows: list[dict[str, Any]],
    model: str,
    eps: float,
    pattern: int,
    form: str = "blend",
    share: float | None = None,
) -> dict[str, dict[int, dict[str, Any]]]:
    """``kind -> seed -> row`` for the submitted conditions, restricted to the seeds every one
    of them has."""
    labels = {kind: condition(kind, eps, pattern, form, share).label for kind in SUBMITTED}
    by_kind: dict[str, dict[int, dict[str, Any]]] = {kind: {} for kind in SUBMITTED}
    for row in rows:
        for kind, label in labels.items():
            if row["model"] == model and row["label"] == label:
                by_kind[kind][int(row["seed"])] = row
    seeds = set.intersection(*(set(by_seed) for by_seed in by_kind.values()))
    return {kind: {s: by_kind[kind][s] for s in sorted(seeds)} for kind in SUBMITTED}


def condition(
    kind: str, eps: float, pattern: int, form: str = "blend", share: float | None = None
) -> Condition:
    """The study's condition; ``share`` (None: the pattern's default) for the patterned twins."""
    return twin(kind, eps, form, MAX_SWITCH_SHARE if share is None else share, pattern)


def perturbation_name(kind: str, form: str) -> str | None:
    """The registered perturbation that makes the condition ``kind`` (None: the original)."""
    return None if kind == "original" else FORMS[form][kind].name


# -- run records ---------------------------------------------------------------------------------


class Datasets:
    """The registry's datasets of the study's conditions, built once each and checked to be
    the very datasets the study trained on."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.built: dict[tuple, tuple[Any, dict[str, Any]]] = {}
        self.study_base = Blob()

    def get(
        self, kind: str, eps: float, pattern: int, form: str, share: float | None = None
    ) -> tuple[Any, dict[str, Any]]:
        wanted = condition(kind, eps, pattern, form, share)
        key = wanted.label
        if key not in self.built:
            perturbation = perturbation_name(kind, form)
            parameters = None if perturbation is None else {"eps": eps, "seed": pattern}
            if parameters is not None and wanted.kind != "noise" and share is not None:
                parameters["switch_share"] = share
            built = build_dataset(
                self.registry, BASE, perturbation, perturbation_parameters=parameters
            )
            record = built.record(self.registry)
            study = wanted.build(self.study_base)
            if study.fingerprint != record["fingerprint"]:
                raise SystemExit(
                    f"the registry's {record['name']} (eps {eps}, seed {pattern}) is not the "
                    f"dataset the study's Condition.build makes: fingerprints "
                    f"{record['fingerprint'][:12]} and {study.fingerprint[:12]}"
                )
            self.built[key] = (built.data, record)
        return self.built[key]


def model_record(registry: Registry, model: str, data: Any) -> ModelRecord:
    entry = registry.get("models", model)
    hyperparameters = effective_parameters(
        entry.factory, f"models.{model}", KINDS["models"].runtime_arguments
    )
    unknown = sorted(set(MODELS[model]) - set(hyperparameters))
    if unknown:
        raise SystemExit(f"{model} has no hyperparameter(s) {', '.join(unknown)}")
    hyperparameters.update(MODELS[model])
    network = build_model(model, data, seed=0)
    return ModelRecord(
        name=model,
        plugin=entry.plugin,
        distribution=entry.distribution,
        hyperparameters=hyperparameters,
        num_parameters=sum(p.numel() for p in network.parameters()),
    )


def training_config(steps: int) -> TrainingConfig:
    """The study's training (``evidence.testbed.run_one``)."""
    return TrainingConfig(
        steps=steps,
        batch_size=BATCH_SIZE,
        learning_rate=LEARNING_RATE,
        checkpoint_every=steps,
        log_every=steps,
    )


def device_of(row: dict[str, Any]) -> str:
    threads = int(row.get("threads", 1))
    return f"cpu ({row.get('cpu', 'unknown CPU')}, {threads} thread{'s' if threads != 1 else ''})"


def run_id(model: str, kind: str, seed: int, form: str = "blend") -> str:
    """``bench run``'s id: ``<dataset>-<condition>-<model>-seed<seed>``."""
    return f"{BASE}-{perturbation_name(kind, form) or 'original'}-{model}-seed{seed}"


def _gin_value(value: Any) -> str:
    return repr(value)


def _constructor_bindings(
    name: str, factory: Any, parameters: dict[str, Any]
) -> list[tuple[str, Any]]:
    accepted = inspect.signature(factory).parameters
    return [(f"{name}.{k}", v) for k, v in sorted(parameters.items()) if k in accepted]


def operative_gin(
    study: Path,
    row: dict[str, Any],
    registry: Registry,
    model: ModelRecord,
    dataset: dict[str, Any],
    training: dict[str, Any],
    metric_parameters: dict[str, Any],
) -> str:
    """The run's configuration as gin bindings, with its provenance as comments."""
    perturbation = dataset["perturbation"]
    comments = [
        MARKER,
        f"# from {study_name(study)}: benchmarks/testbed_study.py trained and",
        "# scored it with disentangle_bench.evidence.testbed.run_one.",
        f"# commit: {row.get('commit', 'unknown')}",
        f"# cpu: {row.get('cpu', 'unknown')}; torch threads: {row.get('threads', 'unknown')}",
        f"# study condition: {row['label']}; phase-probe R^2: {row['phase_r2']!r}",
        "# wall seconds: model construction and training (the study's train_seconds); building",
        "# the data and scoring were not timed.",
    ]
    bindings: list[tuple[str, Any]] = [
        ("experiment.name", "testbed"),
        ("experiment.model", model["name"]),
        ("experiment.datasets", [BASE]),
        ("experiment.perturbations", [perturbation["name"]] if perturbation else []),
        ("experiment.metrics", [METRIC]),
        ("experiment.seeds", [int(row["seed"])]),
        ("experiment.evaluation_seed", EVALUATION_SEED),
    ]
    bindings += [(f"{model['name']}.{k}", v) for k, v in sorted(model["hyperparameters"].items())]
    bindings += [(f"{BASE}.{k}", v) for k, v in sorted(dataset["parameters"].items())]
    if perturbation:
        factory = registry.get("perturbations", perturbation["name"]).factory
        bindings += _constructor_bindings(perturbation["name"], factory, perturbation["parameters"])
    bindings += [(f"train.{k}", v) for k, v in sorted(training.items())]
    bindings += [(f"{METRIC}.{k}", v) for k, v in sorted(metric_parameters.items())]
    bindings.append(("discretizer.num_bins", default_num_bins()))
    lines = comments + [""] + [f"{key} = {_gin_value(value)}" for key, value in bindings]
    return "\n".join(lines) + "\n"


def study_name(study: Path) -> str:
    """The study file as the repository names it (its plain name when it is elsewhere)."""
    path = study.resolve()
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else path.name


def default_num_bins() -> int:
    """The ``discretizer``'s default number of bins (MIG's default discretisation)."""
    from disentangle_bench.metrics.utils import make_discretizer

    return inspect.signature(make_discretizer).parameters["num_bins"].default


def run_record(
    study: Path,
    form: str,
    share: float | None,
    row: dict[str, Any],
    kind: str,
    registry: Registry,
    datasets: Datasets,
    models: dict[str, ModelRecord],
    metric_parameters: dict[str, Any],
    environment: dict[str, str],
) -> RunRecord:
    model_name = row["model"]
    data, dataset = datasets.get(kind, float(row["eps"]), int(row["pattern"]), form, share)
    if model_name not in models:
        models[model_name] = model_record(registry, model_name, data)
    model = models[model_name]
    steps = int(row["steps"])
    training = training_config(steps).as_dict()
    seed = int(row["seed"])
    commit = str(row.get("commit", ""))
    return build_run_record(
        run_id=run_id(model_name, kind, seed, form),
        seed=seed,
        evaluation_seed=EVALUATION_SEED,
        dataset=dataset,
        model=model,
        training=TrainingRecord(
            **training, steps_completed=steps, resumed_from_step=0, final_losses={}
        ),
        metrics={METRIC: {KEY: float(row["mig"])}},
        metric_parameters={METRIC: metric_parameters},
        operative_gin=operative_gin(
            study, row, registry, model, dataset, training, metric_parameters
        ),
        device=device_of(row),
        wall_seconds=WallSeconds(data=0.0, train=float(row["train_seconds"]), evaluation={}),
        run_versions={**environment, **({COMMIT_KEY: commit} if commit else {})},
    )


def method_name(model: str, steps: int, seeds: int) -> str:
    count = f"{seeds} seed{'s' if seeds != 1 else ''}"
    return f"{DISPLAY.get(model, model)} (test bed: {BASE}, CPU, {steps:,} steps, {count})"


# -- the leaderboard ----------------------------------------------------------------------------


def measured_chance_levels(registry: Registry) -> list[chance.ChanceLevel]:
    """The levels the leaderboard uses: MIG of codes independent of ``blob``'s factors, with
    the test bed's number of latents."""
    return [chance.measure(BASE, METRIC, KEY, num_latent=NUM_LATENT, registry=registry)]


def write_chance_levels(registry: Registry, path: Path) -> str:
    (level,) = measured_chance_levels(registry)
    text = chance.module_text([level], GENERATOR)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        atomic_write_text(path, text)
        module = sys.modules.get("disentangle_bench.leaderboard.chance_levels")
        if module is not None and path.resolve() == CHANCE_MODULE.resolve():
            importlib.reload(module)  # the build below reads the new levels
    return f"chance level of {level.score} on {BASE}: {level.level:.6f} ({level.draws} draws)"


def owned(path: Path) -> bool:
    """Whether ``path`` is an entry this script wrote (its runs' gin starts with MARKER)."""
    if path.name in RETIRED:
        return True
    try:
        submission = json.loads(path.read_text(encoding="utf-8"))
        return any(
            str(run.get("operative_gin", "")).startswith(MARKER) for run in submission["runs"]
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plan", choices=tuple(PLANS), default="slow")
    parser.add_argument("--study", type=Path, default=None, help="default: --plan's study file")
    parser.add_argument("--leaderboard", type=Path, default=LEADERBOARD)
    parser.add_argument("--scratch", type=Path, default=None, help="keep the run records here")
    parser.add_argument("--eps", type=float, default=None, help="default: --plan's strength")
    parser.add_argument("--pattern", type=int, default=0)
    parser.add_argument(
        "--chance-module",
        type=Path,
        default=CHANCE_MODULE,
        help="where the measured chance levels are written (the leaderboard reads the default)",
    )
    parser.add_argument(
        "--skip-chance", action="store_true", help="keep the committed chance levels as they are"
    )
    args = parser.parse_args(argv)
    plan = PLANS[args.plan]
    args.study = plan["study"] if args.study is None else args.study
    args.eps = plan["eps"] if args.eps is None else args.eps
    form, share = plan["form"], plan["share"]
    gin.clear_config()
    registry = Registry()
    rows = read_rows(args.study)
    print(f"{args.study}: {len(rows)} finished runs", flush=True)
    if not args.skip_chance:
        print(write_chance_levels(registry, args.chance_module), flush=True)

    datasets = Datasets(registry)
    models: dict[str, ModelRecord] = {}
    metric_parameters = effective_parameters(
        registry.get("metrics", METRIC).factory, f"metrics.{METRIC}"
    )
    environment = versions()
    with tempfile.TemporaryDirectory(prefix="testbed-submissions-") as temporary:
        scratch = args.scratch if args.scratch is not None else Path(temporary)
        board = scratch / "board"
        if board.exists():
            shutil.rmtree(board)
        (board / "submissions").mkdir(parents=True)
        for model in MODELS:
            by_kind = paired(rows, model, args.eps, args.pattern, form, share)
            seeds = sorted(by_kind["original"])
            if not seeds:
                print(f"{model}: no seed has all of {', '.join(SUBMITTED)} yet; no entry")
                continue
            steps = Counter(int(r["steps"]) for k in SUBMITTED for r in by_kind[k].values())
            if len(steps) != 1:
                raise SystemExit(f"{model}: runs of several lengths ({sorted(steps)})")
            out = scratch / f"runs-{model}"
            if out.exists():
                shutil.rmtree(out)
            for kind in SUBMITTED:
                for row in by_kind[kind].values():
                    record = run_record(
                        args.study,
                        form,
                        share,
                        row,
                        kind,
                        registry,
                        datasets,
                        models,
                        metric_parameters,
                        environment,
                    )
                    path = out / "runs" / record["run_id"] / RUN_RECORD_FILE
                    path.parent.mkdir(parents=True, exist_ok=True)
                    atomic_write_json(path, record)
            name = method_name(model, next(iter(steps)), len(seeds))
            print(f"{model}: seeds {seeds} -> {name!r}", flush=True)
            if bench(["submit", str(out), "--name", name, "--to", str(board)]) != 0:
                return 2
        written = sorted((board / "submissions").glob("*.json"))

        folder = args.leaderboard / "submissions"
        folder.mkdir(parents=True, exist_ok=True)
        fresh = {path.name for path in written}
        for old in sorted(folder.glob("*.json")):
            if owned(old) and old.name not in fresh:
                print(f"removing {old}")
                old.unlink()
        for path in written:
            atomic_write_text(folder / path.name, path.read_text(encoding="utf-8"))
            print(f"wrote {folder / path.name}")
    return bench(["leaderboard", "build", "--dir", str(args.leaderboard), "--strict"])


if __name__ == "__main__":
    raise SystemExit(main())
