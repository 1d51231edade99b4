"""Synthetic ``bench run`` records and submissions for the leaderboard tests (no tests here).

The records are built by :func:`disentangle_bench.pipeline.record.build_run_record`, as
``bench run`` builds them, so they have its schema; their fingerprints are made up, so they are
for tests where the fingerprint check against the registry is not under test (the real-run tests
cover that).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from disentangle_bench.leaderboard.submission import build_submission, submission_path
from disentangle_bench.pipeline.record import (
    RUN_RECORD_FILE,
    DatasetRecord,
    ModelRecord,
    PerturbationRecord,
    RunRecord,
    TrainingRecord,
    WallSeconds,
    build_run_record,
    display_name,
)

DISTRIBUTION = "disentangle-bench 0.1.0"


def fake_fingerprint(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def run_record(
    *,
    model: str = "beta_vae",
    dataset: str = "dsprites_small",
    condition: str = "original",
    seed: int = 0,
    scores: dict[str, dict[str, float]] | None = None,
    eps: float = 0.1,
    steps: int = 1500,
    device: str = "cpu",
    beta: float = 4.0,
) -> RunRecord:
    perturbation = None
    if condition != "original":
        perturbation = PerturbationRecord(
            name=condition,
            plugin="builtin",
            distribution=DISTRIBUTION,
            parameters={"eps": eps, "seed": 0},
        )
    return build_run_record(
        run_id=f"{dataset}-{condition}-{model}-seed{seed}",
        seed=seed,
        evaluation_seed=0,
        dataset=DatasetRecord(
            name=display_name(dataset, None if condition == "original" else condition),
            base=dataset,
            condition=condition,
            plugin="builtin",
            distribution=DISTRIBUTION,
            parameters={"cache": True},
            perturbation=perturbation,
            fingerprint=fake_fingerprint(dataset, condition, eps),
            factor_names=["shape", "scale"],
            factors_num_values=[3, 3],
        ),
        model=ModelRecord(
            name=model,
            plugin="builtin",
            distribution=DISTRIBUTION,
            hyperparameters={"beta": beta, "num_latent": 5},
            num_parameters=1000,
        ),
        training=TrainingRecord(
            steps=steps,
            batch_size=64,
            steps_completed=steps,
            resumed_from_step=0,
            final_losses={"loss": 10.0},
            learning_rate=0.001,  # more train.* settings, kept as they are
            checkpoint_every=500,
            log_every=100,
        ),
        metrics=scores if scores is not None else {"mig": {"discrete_mig": 0.3}},
        metric_parameters={"mig": {"num_train": 10000, "batch_size": 16}},
        operative_gin=f"{model}.beta = {beta}\n",
        device=device,
        wall_seconds=WallSeconds(data=0.5, train=10.0, evaluation={"mig": 1.0}),
        run_versions={"disentangle_bench": "0.1.0", "python": "3.11.7"},
    )


def study_records(
    mig: dict[str, list[float]],
    *,
    model: str = "beta_vae",
    dataset: str = "dsprites_small",
    **kwargs: Any,
) -> list[dict[str, Any]]:
    """Records of one method: ``mig[condition][i]`` is the discrete_mig of seed i."""
    return [
        run_record(
            model=model,
            dataset=dataset,
            condition=condition,
            seed=seed,
            scores={"mig": {"discrete_mig": value}},
            **kwargs,
        )
        for condition, values in mig.items()
        for seed, value in enumerate(values)
    ]


def write_submission(board: Path, name: str, records: list[dict[str, Any]]) -> Path:
    """Build a submission of ``records`` named ``name`` into ``board/submissions/``."""
    path = submission_path(board, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(build_submission(records, name), indent=2), encoding="utf-8")
    return path


def write_run_dirs(out: Path, records: list[dict[str, Any]]) -> Path:
    """A ``bench run`` output directory holding ``records`` as ``runs/<run_id>/run.json``."""
    for record in records:
        run_dir = out / "runs" / record["run_id"]
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / RUN_RECORD_FILE).write_text(json.dumps(record), encoding="utf-8")
    return out


#: A method that keeps its score (VAE-like "robust") and one that loses it.
ROBUST = {
    "original": [0.40, 0.42, 0.44],
    "oblique": [0.38, 0.40, 0.42],
    "noise": [0.39, 0.41, 0.43],
}
FRAGILE = {
    "original": [0.50, 0.52, 0.54],
    "oblique": [0.10, 0.12, 0.14],
    "noise": [0.49, 0.50, 0.50],
}
