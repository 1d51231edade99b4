"""Alignment of the encoder's latent axes with the data's local principal directions: a
mechanistic diagnostic of why a VAE fails on a perturbed dataset.

A VAE's latent axes follow the local principal directions of the data, not the generative factors
as such (Rolinek, Zietlow and Martius, CVPR 2019). On dSprites and Shapes3D those directions
coincide with the factor axes; a structural perturbation turns them away while every factor stays
decodable (Zietlow, Rolinek and Martius, ICML 2021). This diagnostic measures which of the two a
trained encoder follows.

At ``N`` sampled base configurations ``w`` (as the variance diagnostic samples them,
:mod:`disentangle_bench.diagnostics.steps`):

- the data's local principal directions are the eigenvectors ``V`` (K x K, columns) of the Gram
  matrix ``G = D^T D`` of the one-grid-step finite differences ``d_k = x(w + e_k) - x(w)``;
- the encoder's local response is ``C`` (L x K), ``C[j, k] = mu_j(x(w + e_k)) - mu_j(x(w))`` over
  the L active latents (posterior means); row ``j`` is the direction in factor space that latent
  ``j`` reads.

For an orthonormal basis ``B`` of factor space, the share of each latent's response that falls on
its single best basis direction, pooled over latents and points (weighted by response energy):

    alignment(B) = sum_{w, j} max_k (C B)[j, k]^2 / sum_{w, j} ||C[j]||^2,

between ``1/K`` (every latent reads an even mixture) and 1 (every latent reads one direction).
``principal_alignment`` is ``alignment(V)``, ``factor_alignment`` is ``alignment(I)``. A model that
is high on the first and low on the second follows the variance structure instead of the factors:
the failure mode the perturbed datasets expose. On unperturbed data ``V`` is close to ``I`` and the
two agree. Where the Gram spectrum is nearly degenerate the principal directions are not defined;
``gram_eigenvalue_ratio_median`` (largest over smallest eigenvalue) reports it.

Active latents as in ``jacobian_orthogonality``: ``Var_w[mu_j(x(w))] > active_variance_threshold``
over the sampled base configurations (Burda et al., ICLR 2016). Not part of disentanglement_lib.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from disentangle_bench.data.ground_truth import GroundTruthData
from disentangle_bench.diagnostics.steps import axis_steps, principal_directions
from disentangle_bench.metrics.utils import (
    RepresentationFunction,
    _check_non_negative,
    _check_positive_int,
    _warn,
    obtain_representation,
)

__all__ = ["PrincipalAlignment", "alignment_to_basis", "principal_alignment"]


def alignment_to_basis(responses: np.ndarray, bases: np.ndarray | None = None) -> float:
    """``sum max_k (C B)[j, k]^2 / sum ||C||^2`` over (N, L, K) ``responses`` C and (N, K, K)
    orthonormal ``bases`` B (columns; the identity when None). nan when every response is 0."""
    projected = responses if bases is None else np.einsum("nlk,nkm->nlm", responses, bases)
    total = float(np.sum(responses**2))
    if total == 0.0:
        return float("nan")
    return float(np.sum(np.max(projected**2, axis=2)) / total)


def principal_alignment(code_differences: np.ndarray, directions: np.ndarray) -> dict[str, float]:
    """The array core: alignment of latent responses with principal directions and factor axes.

    Args:
        code_differences: (N, L, K) change of each active latent for one step along each factor.
        directions: (N, K, K) local principal directions in factor space, as orthonormal columns
            (the eigenvectors from ``diagnostics.steps.principal_directions``).

    Returns:
        ``principal_alignment`` and ``factor_alignment`` (see the module docstring), nan with a
        warning when no latent responds to any step.
    """
    code_differences = np.asarray(code_differences, dtype=np.float64)
    directions = np.asarray(directions, dtype=np.float64)
    if code_differences.ndim != 3 or code_differences.shape[0] < 1:
        raise ValueError(
            "code_differences must be a non-empty (points, latents, factors) array, got shape "
            f"{code_differences.shape}"
        )
    n, _, k = code_differences.shape
    if directions.shape != (n, k, k):
        raise ValueError(
            f"directions must have shape {(n, k, k)} (one K x K basis per point), got "
            f"{directions.shape}"
        )
    if not (np.all(np.isfinite(code_differences)) and np.all(np.isfinite(directions))):
        raise ValueError("code_differences and directions must be finite")
    identity = np.broadcast_to(np.eye(k), directions.shape)
    if not np.allclose(np.einsum("nkl,nkm->nlm", directions, directions), identity, atol=1e-6):
        raise ValueError("directions must hold orthonormal columns")
    if not np.any(code_differences):
        _warn("no latent responds to a step along any factor; the alignments are nan")
    return {
        "principal_alignment": alignment_to_basis(code_differences, directions),
        "factor_alignment": alignment_to_basis(code_differences),
    }


class PrincipalAlignment:
    """The diagnostic plugin ``principal_alignment(num_points, active_variance_threshold,
    batch_size, factors)``.

    Samples ``num_points`` base configurations and their one-step neighbours along each selected
    factor (default: every ordered factor with more than one value), encodes them ``batch_size``
    at a time and returns ``principal_alignment``, ``factor_alignment``, ``num_active_dims`` and
    ``gram_eigenvalue_ratio_median``. Needs only the representation function (any encoder).
    """

    name = "principal_alignment"
    result_keys = (
        "principal_alignment",
        "factor_alignment",
        "num_active_dims",
        "gram_eigenvalue_ratio_median",
    )

    def __init__(
        self,
        num_points: int = 100,
        active_variance_threshold: float = 0.01,
        batch_size: int = 64,
        factors: Sequence[str] | None = None,
    ) -> None:
        self.num_points = _check_positive_int(num_points, "num_points")
        self.active_variance_threshold = _check_non_negative(
            active_variance_threshold, "active_variance_threshold"
        )
        self.batch_size = _check_positive_int(batch_size, "batch_size")
        if isinstance(factors, str):
            raise ValueError(f"factors must be a list of factor names, got the string {factors!r}")
        self.factors = None if factors is None else tuple(factors)

    def __call__(
        self,
        ground_truth_data: GroundTruthData,
        representation_function: RepresentationFunction,
        random_state: np.random.RandomState,
    ) -> dict[str, float]:
        steps = axis_steps(ground_truth_data, self.num_points, random_state, self.factors)
        origin = obtain_representation(steps.origin, representation_function, self.batch_size)
        stepped = [
            obtain_representation(observations, representation_function, self.batch_size)
            for observations in steps.stepped
        ]
        if any(codes.shape[1] != origin.shape[1] for codes in stepped):
            raise ValueError("representation_function returned different numbers of dimensions")
        eigenvalues, directions = principal_directions(steps.differences())
        ratio = float(np.median(eigenvalues[:, -1] / np.maximum(eigenvalues[:, 0], 1e-12)))
        active = np.var(origin, axis=0) > self.active_variance_threshold
        if not active.any():
            _warn("no active latent dimension; the alignments are nan")
            return {
                "principal_alignment": float("nan"),
                "factor_alignment": float("nan"),
                "num_active_dims": 0,
                "gram_eigenvalue_ratio_median": ratio,
            }
        responses = np.stack([codes - origin for codes in stepped], axis=2)[:, active, :]
        return {
            **principal_alignment(responses, directions),
            "num_active_dims": int(active.sum()),
            "gram_eigenvalue_ratio_median": ratio,
        }

    def __repr__(self) -> str:
        return (
            f"PrincipalAlignment(num_points={self.num_points}, "
            f"active_variance_threshold={self.active_variance_threshold}, "
            f"batch_size={self.batch_size}, factors={self.factors})"
        )
