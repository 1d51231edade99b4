"""The oblique pattern blended into the image: ``x' = (1 - eps) x + eps m(w)``.

``oblique`` pushes each pixel inward by ``eps`` where its block is on, so its change
``eps * inward(x) * m(w)`` is a product of the clean image and the pattern: a linear readout of
the factors sees the pattern through the blob and loses accuracy (docs/perturbations.md, "Factors
kept"). The blend applies the same pattern ``m`` (the same phase lattice, switch shares, blocks,
profile and shuffle; :class:`~disentangle_bench.perturbations.oblique.ObliqueStripes`) as a
convex combination instead:

    x' = (1 - eps) x + eps m(w),   i.e. the field  m(w) - x  at strength eps.

- *Additive in the pattern.* The change is a contrast scaling by ``1 - eps``, the same for every
  configuration (it scales every factor's local variance alike and leaves the principal
  directions where they were), plus ``eps m(w)``, which does not depend on the clean image. For
  the cosine profile ``m`` lies in a fixed three-dimensional span (the constant, cosine and sine
  images), for the square profile in the span of the block indicators: a linear readout can
  project the pattern out.
- *Nothing clipped.* ``x'`` is a convex combination of two images in [0, 1].
- *Factors kept.* For binary images and ``eps < 1/2``, thresholding ``x'`` at 1/2 returns ``x``
  (a clean 0 stays at most ``eps``, a clean 1 at least ``1 - eps``), as for the inward push.

``oblique_blend_shuffled`` is its control (the pattern images on a fixed random permutation of the
configurations) and ``blend_matched_noise`` the uniform noise whose mean change norm matches it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from disentangle_bench.data.ground_truth import GroundTruthData
from disentangle_bench.perturbations.matching import NormMatchedNoise
from disentangle_bench.perturbations.oblique import MAX_SWITCH_SHARE, ObliqueStripes


class ObliqueBlend(ObliqueStripes):
    """``x' = (1 - eps) x + eps m(w)`` with the oblique pattern ``m`` (see the module
    docstring); the hyperparameters are ``oblique``'s."""

    name = "oblique_blend"

    def field(
        self, data: GroundTruthData, factors: np.ndarray, observations: np.ndarray
    ) -> np.ndarray:
        pattern = self.pattern(data, factors)[..., None]  # the same pattern in every channel
        return pattern - observations.astype(np.float32)


class ShuffledObliqueBlend(ObliqueBlend):
    """The control for :class:`ObliqueBlend`: its pattern images, assigned to a fixed random
    permutation of the configurations."""

    name = "oblique_blend_shuffled"

    def __init__(
        self,
        eps: float = 0.1,
        seed: int = 0,
        switch_share: float = MAX_SWITCH_SHARE,
        block: int | None = None,
        factors: Sequence[str] | None = None,
        shuffle: bool = True,
        profile: str = "square",
    ) -> None:
        super().__init__(eps, seed, switch_share, block, factors, shuffle, profile)


class BlendMatchedNoise(NormMatchedNoise):
    """Uniform noise fixed per image whose mean change norm matches ``oblique_blend``'s (with
    this ``eps`` and ``seed``): :class:`NormMatchedNoise` with the blend as its structural
    twin."""

    name = "blend_matched_noise"

    def structural(self) -> ObliqueBlend:
        return ObliqueBlend(eps=self.structural_eps, seed=self.seed)

    def parameters(self) -> dict:
        return {**super().parameters(), "match": ObliqueBlend.name}
