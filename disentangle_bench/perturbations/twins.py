"""Registered perturbed twins: each base dataset with the structural perturbation and the
matched-noise control at the study's two strengths.

Names read ``<base>_<perturbation>_<eps>`` with eps in hundredths or thousandths:
``dsprites_oblique_010`` is dSprites with the oblique perturbation at eps 0.10,
``shapes3d_noise_0175`` Shapes3D with matched noise at eps 0.175 (the strengths used for dSprites
and Shapes3D in a reproduction of Zietlow et al. 2021). Every hyperparameter stays bindable from
gin under the twin's name (``dsprites_oblique_010.seed = 3``); any other strength is one
``experiment.perturbations`` entry away (``oblique.eps = 0.05``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from disentangle_bench.perturbations.base import PerturbedData
from disentangle_bench.perturbations.noise import MatchedNoise
from disentangle_bench.perturbations.oblique import ObliqueStripes

STRENGTHS = {"010": 0.1, "0175": 0.175}
PERTURBATIONS = {"oblique": ObliqueStripes, "noise": MatchedNoise}
BASES = ("dsprites", "shapes3d")


def make_twin(
    name: str, base: Callable[[], Any], perturbation: type, eps: float
) -> Callable[..., PerturbedData]:
    """A dataset factory named ``name``: ``perturbation(eps, seed).apply(base())``."""

    def twin(eps: float = eps, seed: int = 0) -> PerturbedData:
        return perturbation(eps=eps, seed=seed).apply(base())

    twin.name = name  # type: ignore[attr-defined]
    twin.__name__ = twin.__qualname__ = name
    twin.__doc__ = f"{base.name} with the {perturbation.name} perturbation (eps {eps})."
    return twin


def twins(bases: dict[str, Callable[[], Any]]) -> list[Callable[..., PerturbedData]]:
    """Every twin of the ``bases`` (name -> dataset factory) that exist."""
    made = []
    for base_name in BASES:
        if base_name not in bases:
            continue
        for perturbation_name, perturbation in PERTURBATIONS.items():
            for suffix, eps in STRENGTHS.items():
                name = f"{base_name}_{perturbation_name}_{suffix}"
                made.append(make_twin(name, bases[base_name], perturbation, eps))
    return made
