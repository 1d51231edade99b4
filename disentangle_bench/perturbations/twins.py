"""Registered perturbed twins: each base dataset with the structural perturbation and its two
controls at the study's two strengths.

Names read ``<base>_<perturbation>_<eps>`` with eps in hundredths or thousandths:

- ``dsprites_oblique_010``: dSprites with the oblique perturbation at eps 0.10;
- ``dsprites_matched_noise_010``: uniform noise fixed per image whose mean change norm matches
  ``dsprites_oblique_010``'s (the name's eps is the structural twin's; the noise amplitude is
  found on the data and recorded in the fingerprint's parameters);
- ``dsprites_oblique_shuffled_010``: ``dsprites_oblique_010``'s pattern images assigned to a fixed
  random permutation of the configurations;
- ``dsprites_oblique_blend_010``, ``dsprites_blend_matched_noise_010``,
  ``dsprites_oblique_blend_shuffled_010``: the same three with the pattern blended into the image
  (``x' = (1 - eps) x + eps m(w)``, :mod:`disentangle_bench.perturbations.blend`) instead of
  pushed inward.

The strengths 0.1 and 0.175 are those used for dSprites and Shapes3D in a reproduction of
Zietlow et al. 2021. Every hyperparameter stays bindable from gin under the twin's name
(``dsprites_oblique_010.seed = 3``); any other strength or dataset is one
``experiment.perturbations`` entry away (``oblique.eps = 0.05``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from disentangle_bench.perturbations.base import PerturbedData
from disentangle_bench.perturbations.blend import (
    BlendMatchedNoise,
    ObliqueBlend,
    ShuffledObliqueBlend,
)
from disentangle_bench.perturbations.matching import NormMatchedNoise
from disentangle_bench.perturbations.oblique import ObliqueStripes, ShuffledOblique

STRENGTHS = {"010": 0.1, "0175": 0.175}
PERTURBATIONS = {
    "oblique": ObliqueStripes,
    "matched_noise": NormMatchedNoise,
    "oblique_shuffled": ShuffledOblique,
    "oblique_blend": ObliqueBlend,
    "blend_matched_noise": BlendMatchedNoise,
    "oblique_blend_shuffled": ShuffledObliqueBlend,
}
BASES = ("dsprites", "shapes3d", "blob")


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
