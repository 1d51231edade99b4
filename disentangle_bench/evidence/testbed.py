"""The CPU test bed of the paper's claim: models, conditions and one scored run.

The base is ``blob`` (an anisotropic Gaussian blob on a 16 x 16 grid; docs/testbed.md says how it
was chosen). Every model is an MLP on the 32 x 32 image, with 4 latents for the autoencoders (two to
spare) and 2 for PCL (as many as there are sources, as its identifiability assumes: Hyvarinen and
Morioka 2017; with 4 it does not disentangle, docs/testbed.md), trained as ``bench run`` trains it
(:func:`disentangle_bench.pipeline.training.train`, Adam 1e-3, batch 64, torch seeded with the run's
seed before the model is built). The conditions of one study:

- ``original``;
- ``structural`` (``oblique`` at strength ``eps`` with pattern seed ``pattern``);
- ``noise`` (``matched_noise``: uniform noise of the same mean change norm as ``structural``);
- ``shuffled`` (``oblique_shuffled``: the structural pattern images on permuted configurations).

``profile`` selects the oblique pattern's shape (``square``, the default, or ``cosine``) for the
structural and shuffled conditions, ``switch_share`` how fast it switches along the factors
(:data:`~disentangle_bench.perturbations.oblique.MAX_SWITCH_SHARE`, the default, or slower: the
fifth attempt's 1/16), ``form`` how it enters the image: ``push`` (``oblique``, the inward push)
or ``blend`` (``oblique_blend``, ``x' = (1 - eps) x + eps m(w)``, with its own shuffled and
norm-matched noise controls). The noise control's change norm does not depend on the profile's
switch share, so a noise condition has none.

Every run is scored with MIG (disentanglement_lib's defaults, evaluation seed 0); with what the
code keeps of each factor (``code_r2``: held-out R^2 of a linear map from the codes to the
factor's grid index; ``active_latents``: code dimensions whose spread over the configurations is
at least :data:`ACTIVE_SHARE` of the largest one's); and with the *phase probe*: the held-out
R^2 of a linear map from the model's representation of every configuration to
``(cos theta, sin theta)``, the oblique pattern's phase. A model that kept the factors on its
latents and encoded the pattern as a separate circular variable would score a high phase R^2;
the phase is far from linear in the factors (several turns across the grid), so a code of the
factors alone scores near 0.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from disentangle_bench.data.blob import Blob
from disentangle_bench.data.ground_truth import GroundTruthData
from disentangle_bench.diagnostics.probe import all_observations, held_out_split
from disentangle_bench.metrics.mig import MIG
from disentangle_bench.perturbations.blend import (
    BlendMatchedNoise,
    ObliqueBlend,
    ShuffledObliqueBlend,
)
from disentangle_bench.perturbations.matching import NormMatchedNoise
from disentangle_bench.perturbations.oblique import (
    MAX_SWITCH_SHARE,
    ObliqueStripes,
    ShuffledOblique,
)
from disentangle_bench.pipeline.representation import model_representation
from disentangle_bench.pipeline.training import TrainingConfig, train
from disentangle_bench.registry import Registry

CPU = torch.device("cpu")
STEPS = 3000
NUM_LATENT = 4
#: The study's models and hyperparameters (each beta from the calibration in docs/testbed.md:
#: beta-TCVAE's 16 against 6, 3 seeds each, on the original).
MODELS: dict[str, dict[str, Any]] = {
    "beta_vae": {"num_latent": NUM_LATENT, "beta": 16.0, "architecture": "mlp"},
    "ae": {"num_latent": NUM_LATENT, "architecture": "mlp"},
    "pcl": {"num_latent": 2, "architecture": "mlp"},
    "beta_tc_vae": {"num_latent": NUM_LATENT, "beta": 16.0, "architecture": "mlp"},
}
VARIATIONAL = ("beta_vae", "beta_tc_vae")
CONDITIONS = ("original", "structural", "noise", "shuffled")
#: How the pattern enters the image: the perturbation of each condition, per form.
FORMS: dict[str, dict[str, type]] = {
    "push": {
        "structural": ObliqueStripes,
        "noise": NormMatchedNoise,
        "shuffled": ShuffledOblique,
    },
    "blend": {
        "structural": ObliqueBlend,
        "noise": BlendMatchedNoise,
        "shuffled": ShuffledObliqueBlend,
    },
}
#: A code dimension is active when its standard deviation over the configurations is at least
#: this share of the largest dimension's (a collapsed VAE latent sits near the prior's mean).
ACTIVE_SHARE = 0.1


@dataclass(frozen=True)
class Condition:
    """One dataset of the study: ``kind`` in :data:`CONDITIONS`, strength, pattern seed, the
    pattern's profile, its form (:data:`FORMS`) and its switch share."""

    kind: str
    eps: float = 0.0
    pattern: int = 0
    profile: str = "square"
    form: str = "push"
    switch_share: float = MAX_SWITCH_SHARE

    def __post_init__(self) -> None:
        if self.kind not in CONDITIONS:
            raise ValueError(f"condition kind must be one of {', '.join(CONDITIONS)}")
        if self.form not in FORMS:
            raise ValueError(f"form must be one of {', '.join(FORMS)}, got {self.form!r}")
        if self.switch_share != MAX_SWITCH_SHARE and self.kind in ("original", "noise"):
            raise ValueError(f"the {self.kind} condition has no pattern, hence no switch share")

    @property
    def label(self) -> str:
        if self.kind == "original":
            return "original"
        shape = "" if self.profile == "square" else f",profile={self.profile}"
        form = "" if self.form == "push" else f",form={self.form}"
        share = "" if self.switch_share == MAX_SWITCH_SHARE else f",share={self.switch_share:g}"
        return f"{self.kind}@eps={self.eps:g},pattern={self.pattern}{shape}{form}{share}"

    @property
    def perturbation(self) -> type | None:
        """The perturbation class of this condition (None for the original)."""
        return None if self.kind == "original" else FORMS[self.form][self.kind]

    def build(self, base: GroundTruthData) -> GroundTruthData:
        if self.perturbation is None:
            return base
        if self.kind == "noise":
            if self.profile != "square":
                raise ValueError("the matched-noise control matches the square profile only")
            return self.perturbation(eps=self.eps, seed=self.pattern).apply(base)
        return self.perturbation(
            eps=self.eps, seed=self.pattern, profile=self.profile, switch_share=self.switch_share
        ).apply(base)


def phase_targets(base: GroundTruthData, pattern: int, eps: float = 0.1) -> np.ndarray:
    """(cos theta, sin theta) of the oblique pattern (seed ``pattern``) at every configuration."""
    factors, _ = all_observations(base)
    theta = ObliqueStripes(eps=eps, seed=pattern).phase(base, factors)
    return np.stack([np.cos(theta), np.sin(theta)], axis=1)


def linear_r2(codes: np.ndarray, targets: np.ndarray, seed: int = 0) -> float:
    """Held-out R^2 (30 % of the configurations) of a least-squares map with intercept from
    ``codes`` to ``targets``, averaged over the targets' columns."""
    train_index, test_index = held_out_split(len(codes), 0.3, seed)
    design = np.hstack([codes, np.ones((len(codes), 1))])
    weights, *_ = np.linalg.lstsq(design[train_index], targets[train_index], rcond=None)
    residual = targets[test_index] - design[test_index] @ weights
    total = targets[test_index] - targets[test_index].mean(axis=0)
    return float(
        np.mean(1.0 - (residual**2).sum(axis=0) / np.maximum((total**2).sum(axis=0), 1e-12))
    )


def active_latents(codes: np.ndarray, share: float = ACTIVE_SHARE) -> int:
    """The number of code dimensions whose standard deviation is at least ``share`` of the
    largest one's."""
    spread = codes.std(axis=0)
    return int((spread >= share * spread.max()).sum()) if spread.max() > 0 else 0


#: ``measure(model, data, observations)``: a run's extra measurements of the trained model on
#: every configuration (``observations``, in :func:`all_observations` order), merged into its row.
Measure = Callable[[torch.nn.Module, GroundTruthData, np.ndarray], dict[str, Any]]


def build_model(
    name: str, data: GroundTruthData, seed: int, hyperparameters: dict[str, Any] | None = None
) -> torch.nn.Module:
    """The model ``name`` with the study's hyperparameters (or ``hyperparameters``),
    initialised as ``bench run`` does."""
    torch.manual_seed(seed)
    factory = Registry().get("models", name).factory
    chosen = MODELS[name] if hyperparameters is None else hyperparameters
    return factory(observation_shape=data.observation_shape, **chosen)


def run_one(
    model_name: str,
    condition: Condition,
    seed: int,
    *,
    steps: int = STEPS,
    base: GroundTruthData | None = None,
    hyperparameters: dict[str, Any] | None = None,
    measure: Measure | None = None,
) -> dict[str, Any]:
    """Train one model on one condition and score it (see the module docstring); the model's
    hyperparameters are :data:`MODELS`' unless given."""
    base = base if base is not None else Blob()
    chosen = dict(MODELS[model_name] if hyperparameters is None else hyperparameters)
    data = condition.build(base)
    start = time.perf_counter()
    model = build_model(model_name, data, seed, chosen)
    config = TrainingConfig(
        steps=steps, batch_size=64, learning_rate=1e-3, checkpoint_every=steps, log_every=steps
    )
    with tempfile.TemporaryDirectory() as workdir:
        train(model, data, config, run_dir=Path(workdir), seed=seed, device=CPU, label="")
    seconds = time.perf_counter() - start
    representation = model_representation(model, CPU)
    mig = MIG()(data, representation, np.random.RandomState(0))["discrete_mig"]
    factors, observations = all_observations(data)
    codes = representation(observations)
    row = {
        "model": model_name,
        "condition": condition.kind,
        "eps": condition.eps,
        "pattern": condition.pattern,
        "profile": condition.profile,
        "form": condition.form,
        "switch_share": condition.switch_share,
        "label": condition.label,
        "num_latent": chosen["num_latent"],
        "hyperparameters": chosen,
        "seed": seed,
        "steps": steps,
        "mig": float(mig),
        "code_r2": {
            name: linear_r2(codes, factors[:, [k]].astype(np.float64))
            for k, name in enumerate(data.factor_names)
        },
        "active_latents": active_latents(codes),
        "phase_r2": linear_r2(codes, phase_targets(base, condition.pattern)),
        "train_seconds": round(seconds, 1),
    }
    if measure is not None:
        row.update(measure(model, data, observations))
    return row
