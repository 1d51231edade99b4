"""The paper-scale study in one GPU window: beta-VAE, PCL and AE on dSprites and its twins.

One command for the lent GPU machine (``benchmarks/gpu_study.sh`` wraps it; docs/gpu.md gives
the exact device call). It runs on that machine's bare ``python3`` (no gin-config, datasets or
jsonschema, the package not installed: see ``benchmarks/gpu_common.py``), within ``--deadline``
seconds (540 by default, inside the device tool's 10-minute command limit):

1. *Data*: dSprites (the procedural full grid, 737,280 images) and its twins at ``--eps`` (0.1),
   the registered ``dsprites_oblique_010`` (structural), ``dsprites_matched_noise_010`` (noise,
   norm-matched) and ``dsprites_oblique_shuffled_010`` (shuffled), each computed once and held on
   the device (``disentangle_bench/data/resident.py``, ``perturbations/resident.py``; every
   twin is checked against the host twin on sampled configurations).
2. *Self-check* (``self_check.json``): the resident batches equal the host samplers' batches
   exactly, and for every model K = 2 seeds trained at once follow the two separate runs of the
   single-model trainer (``pipeline/training.py``, as ``bench run`` trains) over a few steps, in
   float32 with TF32 off. On failure the results say so and the script stops (exit 1).
3. *Calibration*: a few steps of every group (one group per model: every condition x seed, K =
   4 x ``--seeds`` models trained at once by the batched trainer's ``BatchedModels``) give each
   group's steps/s; the number of training steps is the largest multiple of 100 (at most
   ``--max-steps``) whose training, evaluation and the test bed fit the deadline, unless
   ``--steps`` fixes it. The calibration steps are the first training steps.
4. *Training*: beta-VAE, PCL, AE with the paper's hyperparameters
   (``gin_configs/models/paper/<model>_dsprites.gin``), disentanglement_lib's training (Adam
   1e-4, batch 64), at least 10 seeds, seed ``s`` initialised, noised and (with ``--sampling
   host``, the default) fed exactly as ``bench run`` with seed ``s``.
5. *Evaluation*: MIG (disentanglement_lib's 10,000 points in its sampling order with
   ``np.random.RandomState(0)``, the array core of ``metrics/mig.py``) on posterior means encoded
   on the device; the statistics of ``disentangle_bench.evidence.statistics.claim_table`` (the
   CPU study's: beta-VAE against the PCL reference).
6. *The CPU test bed* (``disentangle_bench.evidence.testbed``: blob, its ``MODELS``, its
   conditions at eps 0.1, 3,000 steps, MIG and the phase probe) when it costs at most
   ``--testbed-share`` of the training time.

Files (at most 8, rewritten after every finished group, so a run killed at its limit still
returns what it finished), in ``--out`` (default ``$OUT``, else
``benchmarks/results/gpu_study-<date>``): ``results.json``, ``results.md``, ``losses.json`` (every
logged loss term of every model), ``self_check.json``, ``log.txt``, and with ``--throughput S``
``throughput.json`` / ``throughput.md`` (``benchmarks/gpu_throughput.py``, about S seconds, run
first). ``--device cpu --smoke`` runs a tiny version (dsprites_small, 2 seeds, 2 steps, 200 MIG
points) and checks the files against the device tool's limits; CI runs it with gin, datasets and
jsonschema blocked from import (``tests/test_gpu_study.py``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

PROCESS_STARTED = time.monotonic()  # the deadline counts the imports too
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from gpu_common import (  # noqa: E402  (installs the gin stand-in where gin-config is absent)
    FACTORIES,
    ResidentGroup,
    check_out_limits,
    default_out,
    encode_all,
    hardware,
    paper_hyperparameters,
    resolve_commit,
    set_precision,
    synchronize,
    write_json,
    write_text,
)

from disentangle_bench.data.blob import Blob  # noqa: E402
from disentangle_bench.data.dsprites import (  # noqa: E402
    ProceduralDSprites,
    ProceduralDSpritesSmall,
)
from disentangle_bench.data.resident import HostFactors, ResidentData, dlib_factors  # noqa: E402
from disentangle_bench.data.sampling import make_sampler  # noqa: E402
from disentangle_bench.evidence import testbed  # noqa: E402
from disentangle_bench.evidence.statistics import claim_table, format_markdown  # noqa: E402
from disentangle_bench.metrics.mig import mig  # noqa: E402
from disentangle_bench.perturbations.matching import NormMatchedNoise  # noqa: E402
from disentangle_bench.perturbations.oblique import ObliqueStripes, ShuffledOblique  # noqa: E402
from disentangle_bench.perturbations.resident import make_resident  # noqa: E402
from disentangle_bench.pipeline.training import TrainingConfig, train  # noqa: E402
from disentangle_bench.util.device import resolve_device  # noqa: E402

CONDITIONS = ("original", "structural", "noise", "shuffled")
TWINS = {"structural": ObliqueStripes, "noise": NormMatchedNoise, "shuffled": ShuffledOblique}
#: The registered twin each condition is (``disentangle_bench/perturbations/twins.py``).
TWIN_NAMES = {"structural": "oblique", "noise": "matched_noise", "shuffled": "oblique_shuffled"}
MODELS = ("beta_vae", "pcl", "ae")  # the claim's VAE and its reference first
VAES, REFERENCE = ("beta_vae",), "pcl"
LOG_EVERY = 100
PAPER_STEPS = 300_000


class Log:
    """Lines with the seconds since the start, to stdout and ``log.txt``."""

    def __init__(self, path: Path, started: float) -> None:
        self.path = path
        self.started = started
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("", encoding="utf-8")

    def __call__(self, message: str) -> None:
        line = f"[{time.monotonic() - self.started:7.1f} s] {message}"
        print(line, flush=True)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")


def settings_for(args: argparse.Namespace) -> dict[str, Any]:
    """The study's settings: the full study, or the tiny ``--smoke`` version."""
    if args.smoke:
        return {
            "dataset": "dsprites_small",
            "seeds": 2,
            "steps": args.steps or 2,
            "batch_size": 8,
            "log_every": 1,
            "mig_points": 200,
            "calibration": (1, 1),
            "check_steps": 2,
            "testbed_steps": 2,
            "testbed_seeds": 2,
        }
    return {
        "dataset": args.dataset,
        "seeds": args.seeds,
        "steps": args.steps,
        "batch_size": args.batch_size,
        "log_every": LOG_EVERY,
        "mig_points": args.mig_points,
        "calibration": (3, 20),  # warm-up steps, timed steps
        "check_steps": 3,
        "testbed_steps": testbed.STEPS,
        "testbed_seeds": args.seeds,
    }


def build_datasets(
    name: str, eps: float, device: torch.device, workers: int, log: Log
) -> tuple[dict[str, Any], dict[str, ResidentData], dict[str, Any]]:
    """Host datasets, their resident copies and a description, by condition."""
    base = {"dsprites": ProceduralDSprites, "dsprites_small": ProceduralDSpritesSmall}[name]
    original = base(cache=False)
    host = {"original": original}
    for condition, perturbation in TWINS.items():
        host[condition] = perturbation(eps=eps, seed=0).apply(original)
    residents: dict[str, ResidentData] = {}
    described: dict[str, Any] = {}
    for condition, data in host.items():
        started = time.monotonic()
        if condition == "original":
            residents[condition] = ResidentData.build(data, device, workers=workers)
        else:
            residents[condition] = make_resident(data, device, base=residents["original"])
        synchronize(device)
        resident = residents[condition]
        described[condition] = {
            "dataset": name if condition == "original" else f"{name}_{TWIN_NAMES[condition]}_010",
            "perturbation": None if condition == "original" else data.perturbation.parameters(),
            "storage": "uint8 codes" if resident.is_coded else "float32",
            "bytes": resident.nbytes,
            "seconds": round(time.monotonic() - started, 2),
        }
        log(
            f"data {condition}: {described[condition]['dataset']}, "
            f"{resident.num_configurations} images as {described[condition]['storage']} "
            f"({resident.nbytes / 2**30:.2f} GiB) in {described[condition]['seconds']} s"
        )
    return host, residents, described


def _parameters(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1).double().cpu() for p in model.parameters()])


def self_check(
    host: dict[str, Any],
    residents: dict[str, ResidentData],
    models: list[str],
    hyperparameters: dict[str, dict[str, Any]],
    device: torch.device,
    settings: dict[str, Any],
    log: Log,
) -> dict[str, Any]:
    """The checks of step 2 (module docstring); ``passed`` is True when every check passed."""
    started = time.monotonic()
    checks: list[dict[str, Any]] = []
    batch_size, seeds = settings["batch_size"], [0, 1]
    # Resident batches against the host samplers, for every sample kind the study uses.
    for name in models:
        probe = FACTORIES[name](
            observation_shape=host["original"].observation_shape, **hyperparameters[name]
        )
        kind = getattr(probe, "sample_kind", "single")
        for condition, data in host.items():
            sampler = make_sampler(probe, data)
            options = dict(getattr(probe, "sample_options", None) or {})
            factors = HostFactors(data, kind, seeds, device, options)
            states = [np.random.RandomState(s) for s in seeds]
            equal = True
            for _ in range(2):
                batch = residents[condition].observations(factors(batch_size)).cpu()
                for k, state in enumerate(states):
                    expected = torch.from_numpy(np.ascontiguousarray(sampler(batch_size, state)))
                    equal &= torch.equal(batch[k], expected.movedim(-1, -3))
            checks.append(
                {
                    "check": f"resident {kind} batches = host sampler ({condition}, {name})",
                    "passed": bool(equal),
                }
            )
    # K = 2 batched models against two separate runs of the single-model trainer.
    steps = settings["check_steps"]
    learning_rate = 1e-4
    config = TrainingConfig(
        steps=steps,
        batch_size=batch_size,
        learning_rate=learning_rate,
        log_every=1,
        checkpoint_every=steps,
    )
    condition = "structural"
    for name in models:
        group = ResidentGroup(
            name,
            hyperparameters[name],
            [(condition, s) for s in seeds],
            residents,
            config,
            device,
            sampling="host",
        )
        group.train(steps)
        batched = [_parameters(m) for m in group.models()]
        separate, logs = [], []
        with tempfile.TemporaryDirectory() as directory:
            for seed in seeds:
                torch.manual_seed(seed)
                model = FACTORIES[name](
                    observation_shape=host[condition].observation_shape, **hyperparameters[name]
                )
                run_dir = Path(directory) / str(seed)
                train(
                    model,
                    host[condition],
                    config,
                    run_dir=run_dir,
                    seed=seed,
                    device=device,
                    label=f"self-check {name} seed {seed}",
                )
                separate.append(_parameters(model))
                lines = (run_dir / "losses.jsonl").read_text().splitlines()
                logs.append([json.loads(line) for line in lines])
        differences = torch.cat([(a - b).abs() for a, b in zip(batched, separate, strict=True)])
        within = float((differences <= learning_rate / 10).double().mean())
        largest = float(differences.max())
        first_step = max(  # relative, and absolute for terms near 0 (the KL at the start)
            abs(group.log[0][1][term][k] - logs[k][0][term]) / max(abs(logs[k][0][term]), 1.0)
            for k in range(len(seeds))
            for term in group.log[0][1]
        )
        passed = within >= 0.999 and largest <= 2 * learning_rate * steps + 1e-6
        passed = passed and first_step <= 1e-4
        checks.append(
            {
                "check": f"batched = separate runs ({name}, {condition}, seeds {seeds}, "
                f"{steps} steps)",
                "passed": bool(passed),
                "parameters_within_lr_over_10": within,
                "largest_parameter_difference": largest,
                "first_step_loss_relative_difference": first_step,
                "criteria": "99.9% of parameters within lr/10, all within 2 lr steps; "
                "first-step loss terms within 1e-4 relative (absolute below 1)",
            }
        )
        log(
            f"self-check {name}: {'passed' if passed else 'FAILED'} "
            f"(largest parameter difference {largest:.3g}, first-step loss {first_step:.3g})"
        )
    return {
        "passed": all(check["passed"] for check in checks),
        "checks": checks,
        "precision": "float32, TF32 off",
        "seconds": round(time.monotonic() - started, 1),
    }


def evaluate(
    group: ResidentGroup,
    residents: dict[str, ResidentData],
    factors: np.ndarray,
    extra: Any = None,
) -> list[dict[str, Any]]:
    """MIG of every member (and ``extra(model, resident, condition)`` fields)."""
    runs = []
    index = {
        c: residents[c].index_of(torch.as_tensor(factors, device=residents[c].device))
        for c in residents
    }
    for model, (condition, seed) in zip(group.models(), group.members, strict=True):
        codes = encode_all(model, residents[condition], index[condition])
        row = {
            "model": group.name,
            "condition": condition,
            "seed": seed,
            "steps": group.step,
            "mig": float(mig(codes, factors)["discrete_mig"]),
        }
        if extra is not None:
            row.update(extra(model, residents[condition], condition))
        runs.append(row)
    return runs


def scores_by_model(runs: list[dict[str, Any]], key: str = "mig") -> dict[str, dict[str, list]]:
    """``{model: {condition: [score per seed, in seed order]}}`` of the finished runs."""
    table: dict[str, dict[str, dict[int, float]]] = {}
    for run in runs:
        table.setdefault(run["model"], {}).setdefault(run["condition"], {})[run["seed"]] = run[key]
    return {
        model: {c: [by_seed[s] for s in sorted(by_seed)] for c, by_seed in conditions.items()}
        for model, conditions in table.items()
    }


def statistics(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """``claim_table`` of the finished runs (beta-VAE vs the PCL reference), or why not yet."""
    scores = scores_by_model(runs)
    missing = [m for m in (*VAES, REFERENCE) if m not in scores]
    if missing:
        return {"pending": f"no runs of {', '.join(missing)} yet"}
    try:
        table = claim_table(scores, vaes=list(VAES), reference=REFERENCE)
    except ValueError as error:
        return {"error": str(error)}
    return {
        "rows": table.rows,
        "decisions": dict(table.decisions),
        "verdicts": dict(table.verdicts),
        "markdown": format_markdown(table.rows, table.verdicts),
    }


def mig_table(runs: list[dict[str, Any]], key: str = "mig") -> str:
    scores = scores_by_model(runs, key)
    lines = [
        f"| model | seeds | steps | {' | '.join(CONDITIONS)} |",
        "|---|---|---|" + "---|" * len(CONDITIONS),
    ]
    for model, by_condition in scores.items():
        steps = sorted({run["steps"] for run in runs if run["model"] == model})
        cells = []
        for condition in CONDITIONS:
            values = np.asarray(by_condition.get(condition, []), dtype=float)
            sd = f" ({values.std(ddof=1):.3f})" if len(values) > 1 else ""
            cells.append(f"{values.mean():.3f}{sd}" if len(values) else "-")
        seeds = max(len(v) for v in by_condition.values())
        lines.append(f"| {model} | {seeds} | {', '.join(map(str, steps))} | {' | '.join(cells)} |")
    return "\n".join(lines) + "\n"


class Report:
    """``results.json``, ``results.md`` and ``losses.json``, rewritten whenever asked."""

    def __init__(self, out: Path, header: dict[str, Any]) -> None:
        self.out = out
        self.data: dict[str, Any] = {"status": "running", **header}
        self.losses: dict[str, Any] = {}

    def write(self) -> None:
        self.data["written"] = datetime.datetime.now().isoformat(timespec="seconds")
        for study in ("dsprites", "testbed"):
            if study in self.data and self.data[study].get("runs"):
                self.data[study]["statistics"] = statistics(self.data[study]["runs"])
        write_json(self.out / "results.json", self.data)
        write_json(self.out / "losses.json", self.losses)
        write_text(self.out / "results.md", self.markdown())

    def markdown(self) -> str:
        d = self.data
        hw = d.get("hardware", {})
        lines = [
            f"# gpu_study {d.get('date', '')}",
            "",
            f"- status: {d['status']}",
            f"- commit: `{d.get('commit')}`",
            f"- device: {hw.get('gpu', hw.get('device'))}; torch {hw.get('torch')}; "
            f"CPU {hw.get('cpu')} ({hw.get('cpu_count')} cores)",
            f"- settings: {d.get('settings')}",
        ]
        if "plan" in d:
            lines.append(f"- plan: {d['plan']}")
        lines.append(f"- command: `{d.get('command')}`")
        for study, title in (("dsprites", "dSprites"), ("testbed", "CPU test bed (blob)")):
            section = d.get(study)
            if not section or not section.get("runs"):
                continue
            lines += ["", f"## {title}: MIG, mean (sd) over seeds", "", mig_table(section["runs"])]
            if study == "testbed":
                lines += ["Phase-probe R^2, mean (sd):", "", mig_table(section["runs"], "phase_r2")]
            stats = section.get("statistics", {})
            lines += ["", f"### {title}: claim_table (beta-VAE vs the PCL reference)", ""]
            lines.append(stats.get("markdown") or stats.get("pending") or stats.get("error", ""))
        return "\n".join(lines) + "\n"


def calibrate(group: ResidentGroup, warmup: int, timed: int, device: torch.device) -> float:
    """Steps/s of ``group`` over ``timed`` steps after ``warmup`` (both real training steps)."""
    group.train(group.step + warmup)
    synchronize(device)
    started = time.perf_counter()
    group.train(group.step + timed)
    synchronize(device)
    return timed / (time.perf_counter() - started)


def plan_steps(
    settings: dict[str, Any],
    rates: dict[str, float],
    seconds_left: float,
    eval_seconds: float,
    testbed_seconds: float | None,
    testbed_share: float,
    max_steps: int,
    done: int,
) -> dict[str, Any]:
    """The number of training steps that fits ``seconds_left`` (module docstring, step 3)."""
    margin = 10.0 + 0.02 * seconds_left
    budget = seconds_left - margin - eval_seconds
    with_testbed = testbed_seconds is not None and testbed_seconds <= testbed_share * budget
    if with_testbed:
        budget -= testbed_seconds
    per_step = sum(1.0 / rate for rate in rates.values())
    log_every = settings["log_every"]
    if settings["steps"]:
        steps = int(settings["steps"])
    else:
        steps = int(max(budget, 0.0) / per_step) // log_every * log_every
        steps = min(max(steps, done), max_steps)
    return {
        "steps": max(steps, done),
        "seconds_per_step_all_groups": round(per_step, 5),
        "training_seconds_planned": round(per_step * max(steps - done, 0), 1),
        "evaluation_seconds_planned": round(eval_seconds, 1),
        "testbed": bool(with_testbed),
        "testbed_seconds_planned": None if testbed_seconds is None else round(testbed_seconds, 1),
        "margin_seconds": round(margin, 1),
    }


def estimate_evaluation(
    group: ResidentGroup, resident: ResidentData, factors: np.ndarray, models: int
) -> float:
    """Seconds to evaluate ``models`` models like the first member of ``group``."""
    started = time.perf_counter()
    model = group.models()[0]
    index = resident.index_of(torch.as_tensor(factors, device=resident.device))
    mig(encode_all(model, resident, index), factors)
    return (time.perf_counter() - started) * models


def testbed_groups(
    settings: dict[str, Any], device: torch.device, precision: str | None, sampling: str
) -> tuple[dict[str, ResidentGroup], dict[str, ResidentData], Any]:
    base = Blob()
    conditions = {
        kind: testbed.Condition(kind, 0.0 if kind == "original" else 0.1)
        for kind in testbed.CONDITIONS
    }
    residents = {}
    for kind, condition in conditions.items():
        data = condition.build(base)
        residents[kind] = make_resident(data, device, base=residents.get("original"))
    config = TrainingConfig(
        steps=settings["testbed_steps"],
        batch_size=64,
        learning_rate=1e-3,
        log_every=min(settings["log_every"], settings["testbed_steps"]),
        mixed_precision=precision,
    )
    members = [(kind, s) for kind in conditions for s in range(settings["testbed_seeds"])]
    groups = {
        name: ResidentGroup(
            name, dict(testbed.MODELS[name]), members, residents, config, device, sampling=sampling
        )
        for name in MODELS
    }
    return groups, residents, base


def run(args: argparse.Namespace) -> int:
    started = PROCESS_STARTED
    stop_at = started + args.deadline
    out = Path(args.out) if args.out else default_out("gpu_study")
    out.mkdir(parents=True, exist_ok=True)
    log = Log(out / "log.txt", started)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    settings = settings_for(args)
    header = {
        "date": datetime.date.today().isoformat(),
        "commit": resolve_commit(),
        "command": "python benchmarks/gpu_study.py " + " ".join(args.argv),
        "hardware": hardware(device),
        "settings": {
            **settings,
            "eps": args.eps,
            "precision": args.precision,
            "sampling": args.sampling,
            "deadline": args.deadline,
            "models": list(args.models),
            "calibration": list(settings["calibration"]),
        },
    }
    report = Report(out, header)
    timeline: dict[str, float] = {}
    report.data["timeline"] = timeline
    report.write()
    log(
        f"gpu_study on {header['hardware'].get('gpu', device)}; commit {header['commit']}; "
        f"deadline {args.deadline:.0f} s; out {out}"
    )
    try:
        return _study(args, settings, device, out, log, report, timeline, started, stop_at)
    except Exception as error:  # the results say what broke; what finished stays written
        log("".join(traceback.format_exception(error)).rstrip())
        report.data["status"] = f"error: {type(error).__name__}: {error}"
        report.write()
        return 1


def _study(args, settings, device, out, log, report, timeline, started, stop_at) -> int:
    models = list(args.models)
    hyperparameters = {name: paper_hyperparameters(name, "dsprites") for name in models}
    report.data["hyperparameters"] = hyperparameters
    workers = args.workers or os.cpu_count() or 1
    host, residents, described = build_datasets(settings["dataset"], args.eps, device, workers, log)
    report.data["datasets"] = described
    timeline["data"] = round(time.monotonic() - started, 1)

    set_precision(device, "fp32")
    check = self_check(host, residents, models, hyperparameters, device, settings, log)
    write_json(out / "self_check.json", check)
    timeline["self_check"] = round(time.monotonic() - started, 1)
    if not check["passed"]:
        report.data["status"] = "self-check failed: nothing trained (self_check.json)"
        report.write()
        log("self-check failed; stopping")
        return 1
    precision = set_precision(device, args.precision)

    if args.throughput > 0:
        import gpu_throughput

        report_t = gpu_throughput.measure(
            host["original"],
            residents["original"],
            device,
            seconds=args.throughput,
            smoke=args.smoke,
            precision=args.precision,
            log=log,
        )
        gpu_throughput.write(report_t, out)
        timeline["throughput"] = round(time.monotonic() - started, 1)

    config = TrainingConfig(
        steps=max(settings["steps"] or PAPER_STEPS, 1),
        batch_size=settings["batch_size"],
        log_every=settings["log_every"],
        mixed_precision=precision,
    )
    members = [(c, s) for c in CONDITIONS for s in range(settings["seeds"])]
    groups = {
        name: ResidentGroup(
            name, hyperparameters[name], members, residents, config, device, sampling=args.sampling
        )
        for name in models
    }
    warmup, timed = settings["calibration"]
    rates = {name: calibrate(group, warmup, timed, device) for name, group in groups.items()}
    for name, rate in rates.items():
        log(
            f"calibration {name}: {len(groups[name])} models at once, {rate:.2f} steps/s "
            f"({rate * len(groups[name]):.0f} model-steps/s)"
        )
    factors = dlib_factors(host["original"], settings["mig_points"], seed=0)
    first = next(iter(groups.values()))
    eval_seconds = estimate_evaluation(
        first, residents["original"], factors, sum(len(g) for g in groups.values())
    )
    testbed_seconds = None
    tb = None
    if args.testbed:
        tb_groups, tb_residents, tb_base = testbed_groups(
            settings, device, precision, args.sampling
        )
        tb_rates = {n: calibrate(g, *settings["calibration"], device) for n, g in tb_groups.items()}
        tb_factors = dlib_factors(tb_base, settings["mig_points"], seed=0)
        tb_steps = settings["testbed_steps"]
        testbed_seconds = sum(tb_steps / rate for rate in tb_rates.values()) + estimate_evaluation(
            next(iter(tb_groups.values())),
            tb_residents["original"],
            tb_factors,
            sum(len(g) for g in tb_groups.values()),
        )
        tb = (tb_groups, tb_residents, tb_base, tb_factors, tb_rates)
    done = min(group.step for group in groups.values())
    plan = plan_steps(
        settings,
        rates,
        stop_at - time.monotonic(),
        eval_seconds,
        testbed_seconds,
        args.testbed_share,
        args.max_steps,
        done,
    )
    plan["rates_steps_per_second"] = {n: round(r, 3) for n, r in rates.items()}
    plan["models_per_group"] = {n: len(g) for n, g in groups.items()}
    report.data["plan"] = plan
    timeline["calibration"] = round(time.monotonic() - started, 1)
    log(
        f"plan: {plan['steps']} steps per model ({plan['training_seconds_planned']} s of "
        f"training), test bed {'included' if plan['testbed'] else 'left out'}"
    )
    report.write()

    study = report.data.setdefault("dsprites", {"runs": []})
    per_model = eval_seconds / sum(len(g) for g in groups.values())
    later_testbed = (testbed_seconds or 0.0) if plan["testbed"] else 0.0
    names = list(groups)
    for position, (name, group) in enumerate(groups.items()):
        # Stop in time to evaluate this group and every later one (and run the test bed).
        later = sum(len(groups[n]) for n in names[position:])
        group.train(
            plan["steps"], stop_at=stop_at - per_model * later - later_testbed - 5.0, progress=log
        )
        group.flush()
        synchronize(device)
        log(
            f"trained {name}: {len(group)} models to step {group.step} in "
            f"{group.seconds:.1f} s of training"
        )
        study["runs"] += evaluate(group, residents, factors)
        report.losses[f"dsprites/{name}"] = group.loss_curves()
        timeline[f"dsprites_{name}"] = round(time.monotonic() - started, 1)
        report.write()
        log(f"evaluated {name}: MIG written")

    if tb is not None and plan["testbed"]:
        tb_groups, tb_residents, tb_base, tb_factors, _ = tb
        targets = testbed.phase_targets(tb_base, 0)
        every = torch.arange(tb_base.num_configurations, device=device)

        def phase(model, resident, condition):
            codes = encode_all(model, resident, every)
            return {"phase_r2": testbed.linear_r2(codes, targets)}

        section = report.data.setdefault(
            "testbed", {"runs": [], "hyperparameters": testbed.MODELS, "eps": 0.1}
        )
        for name, group in tb_groups.items():
            group.train(settings["testbed_steps"], stop_at=stop_at - 5.0, progress=log)
            group.flush()
            section["runs"] += evaluate(group, tb_residents, tb_factors, phase)
            report.losses[f"testbed/{name}"] = group.loss_curves()
            report.write()
            log(f"test bed {name}: {len(group)} models to step {group.step}")
        timeline["testbed"] = round(time.monotonic() - started, 1)

    report.data["status"] = "complete"
    report.data["wall_seconds"] = round(time.monotonic() - started, 1)
    report.write()
    problems = check_out_limits(out)
    log(
        f"done in {report.data['wall_seconds']} s; files: "
        f"{', '.join(sorted(p.name for p in out.iterdir() if p.is_file()))}"
    )
    if problems:
        log("the output breaks the device tool's limits: " + "; ".join(problems))
        return 2 if args.smoke else 0
    print(report.markdown())
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="auto, cuda or cpu")
    parser.add_argument(
        "--deadline",
        type=float,
        default=540.0,
        help="seconds for everything, from the start (default 540)",
    )
    parser.add_argument("--out", default=None, help="default: $OUT, else benchmarks/results/")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument(
        "--models", default=",".join(MODELS), type=lambda text: [m for m in text.split(",") if m]
    )
    parser.add_argument("--dataset", choices=("dsprites", "dsprites_small"), default="dsprites")
    parser.add_argument("--eps", type=float, default=0.1)
    parser.add_argument("--steps", type=int, default=None, help="fix the training steps")
    parser.add_argument("--max-steps", type=int, default=PAPER_STEPS)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--mig-points", type=int, default=10_000)
    parser.add_argument("--precision", choices=("fp32", "tf32", "bf16"), default="tf32")
    parser.add_argument("--sampling", choices=("host", "device"), default="host")
    parser.add_argument("--testbed", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--testbed-share", type=float, default=0.1)
    parser.add_argument(
        "--throughput",
        type=float,
        default=0.0,
        help="seconds of benchmarks/gpu_throughput.py to run first (0: none)",
    )
    parser.add_argument("--workers", type=int, default=None, help="threads that render dSprites")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--smoke", action="store_true", help="the tiny CI version")
    args = parser.parse_args(argv)
    args.argv = argv
    unknown = [m for m in args.models if m not in MODELS]
    if unknown:
        parser.error(f"unknown models {unknown}; the study trains {', '.join(MODELS)}")
    if args.smoke and args.steps is None:
        args.steps = 2
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
