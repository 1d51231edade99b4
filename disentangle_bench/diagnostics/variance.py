"""The local variance structure of a ground-truth dataset, and how well it singles out the factors.

Two views, both at sampled base configurations ``w`` (variance-structure reference; Rolinek,
Zietlow and Martius, CVPR 2019; Zietlow, Rolinek and Martius, ICML 2021):

1. **Linearised (Gram).** The finite differences ``d_k = x(w + e_k) - x(w)`` along every factor
   with more than one value form ``D``; the eigenvectors ``V`` of ``G = D^T D`` are the local
   principal directions in factor space. Aligned data have ``V`` close to a signed permutation
   (:func:`distance_to_signed_permutation`, 0 for a perfect match) and distinct eigenvalues (a
   degenerate spectrum makes every rotation equally good). ``diag(G)`` is the per-factor local
   variance (squared change per grid step).
2. **Non-linear (direction scan).** Sharp images are not locally linear in the factors, so the
   cost of a one-step move ``v = cos(t) e_k + sin(t) e_l`` is measured directly, at angles ``t``
   around each plane of two factors, in the model's own loss: the summed per-pixel Jensen-Shannon
   divergence between ``Bernoulli(x(w))`` and ``Bernoulli(x(w + v))`` for images (Bernoulli
   decoders), the squared distance otherwise. A VAE's latents follow the cheapest directions; the
   *axis offset* is the angle between the cheapest direction and the nearest factor axis (0 degrees:
   aligned, 45: as oblique as possible). Off-grid moves need a dataset that renders fractional
   factor positions (``observations_at``; ``off_grid_factors`` names the factors it can move, and
   only planes of two such factors are scanned); otherwise the scan uses the grid moves at 0, 45,
   90 and 135 degrees (one step along an axis, one step along each diagonal).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import xlogy

from disentangle_bench.data.ground_truth import GroundTruthData
from disentangle_bench.diagnostics.steps import axis_steps, principal_directions
from disentangle_bench.metrics.jacobian import distance_to_signed_permutation
from disentangle_bench.perturbations.base import PerturbedData

GRID_ANGLES = (0.0, 45.0, 90.0, 135.0)


def bernoulli_js(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Jensen-Shannon divergence (nats) between Bernoulli(p) and Bernoulli(q), summed per item."""
    p = np.clip(p.astype(np.float64), 0.0, 1.0)
    q = np.clip(q.astype(np.float64), 0.0, 1.0)
    m = 0.5 * (p + q)

    def kl(a: np.ndarray) -> np.ndarray:
        return xlogy(a, a) - xlogy(a, m) + xlogy(1 - a, 1 - a) - xlogy(1 - a, 1 - m)

    per_pixel = 0.5 * kl(p) + 0.5 * kl(q)
    return per_pixel.reshape(len(p), -1).sum(axis=1)


def squared_distance(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    diff = (p.astype(np.float64) - q.astype(np.float64)).reshape(len(p), -1)
    return (diff**2).sum(axis=1)


COSTS = {"bernoulli": bernoulli_js, "gaussian": squared_distance}


def observations_at(data: GroundTruthData, positions: np.ndarray) -> np.ndarray | None:
    """Observations at fractional factor positions, or None if ``data`` cannot render them."""
    if isinstance(data, PerturbedData):
        if not data.perturbation.defined_off_grid:
            return None
        clean = observations_at(data.base, positions)
        return None if clean is None else data.perturb(positions, clean)
    render = getattr(data, "observations_at", None)
    return None if render is None else np.asarray(render(positions), dtype=np.float32)


@dataclass
class VarianceStructure:
    """The diagnostic's numbers for one dataset (see the module docstring)."""

    dataset: str
    factor_names: list[str]
    cost: str
    per_factor_variance: np.ndarray  # (K,) mean squared change per grid step
    mean_gram: np.ndarray  # (K, K) mean Gram matrix of the finite differences
    axis_distance: np.ndarray  # (points,) distance of V to a signed permutation, per point
    eigenvalue_ratio: np.ndarray  # (points,) largest / smallest Gram eigenvalue, per point
    angles: np.ndarray  # (A,) degrees
    direction_costs: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    continuous: bool = True

    def plane_summary(self) -> dict[str, dict[str, float]]:
        """Per factor plane: where the cheapest and dearest moves sit, how anisotropic the cost
        is (``max / min - 1``), and the *oblique advantage*: how much cheaper the best move is
        than the best move along an axis (``min(c(0), c(90)) / min c - 1``; 0 when an axis is the
        cheapest direction)."""
        summary = {}
        on_axis = np.isin(self.angles % 90.0, 0.0)
        for (a, b), costs in self.direction_costs.items():
            cheapest = float(self.angles[int(np.argmin(costs))])
            summary[f"{a}/{b}"] = {
                "cheapest_angle": cheapest,
                "dearest_angle": float(self.angles[int(np.argmax(costs))]),
                "axis_offset": axis_offset(cheapest),
                "anisotropy": float(costs.max() / max(costs.min(), 1e-12) - 1.0),
                "oblique_advantage": float(costs[on_axis].min() / max(costs.min(), 1e-12) - 1.0),
            }
        return summary

    def summary(self) -> dict[str, Any]:
        planes = self.plane_summary()
        k = len(self.factor_names)

        def mean_of(key: str) -> float:
            values = [plane[key] for plane in planes.values()]
            return float(np.mean(values)) if values else float("nan")

        return {
            "dataset": self.dataset,
            "cost": self.cost,
            "factors": self.factor_names,
            "per_factor_variance": dict(zip(self.factor_names, self.per_factor_variance.tolist())),
            "gram_axis_distance": float(np.mean(self.axis_distance)),
            "gram_axis_distance_max": float(np.sqrt(2.0 * k)),
            "gram_eigenvalue_ratio_median": float(np.median(self.eigenvalue_ratio)),
            "mean_axis_offset_degrees": mean_of("axis_offset"),
            "mean_oblique_advantage": mean_of("oblique_advantage"),
            "mean_anisotropy": mean_of("anisotropy"),
            "planes": planes,
            "continuous_moves": self.continuous,
        }


def axis_offset(angle_degrees: float) -> float:
    """Distance (degrees, 0 to 45) from an angle to the nearest axis (0, 90, 180)."""
    remainder = float(angle_degrees) % 90.0
    return min(remainder, 90.0 - remainder)


def local_variance_structure(
    data: GroundTruthData,
    *,
    num_points: int = 64,
    num_angles: int = 16,
    cost: str = "auto",
    random_state: np.random.RandomState | None = None,
    name: str = "",
    factors: Sequence[str] | None = None,
) -> VarianceStructure:
    """Measure the local variance structure of ``data`` at ``num_points`` base configurations.

    ``factors`` restricts the analysis to the named factors (default: every factor with more than
    one value except unordered ones such as shape, ``categorical_factors``, unless fewer than two
    would remain); the others stay at their sampled values.
    """
    if cost == "auto":
        cost = "bernoulli" if getattr(data, "value_range", (0.0, 1.0)) == (0.0, 1.0) else "gaussian"
    if cost not in COSTS:
        raise ValueError(f"cost must be 'auto' or one of {sorted(COSTS)}, got {cost!r}")
    if num_points < 1 or num_angles < 2:
        raise ValueError("num_points must be >= 1 and num_angles >= 2")
    random_state = random_state if random_state is not None else np.random.RandomState(0)
    steps = axis_steps(data, num_points, random_state, factors)
    active, base = list(steps.factors), steps.base
    names = [data.factor_names[k] for k in active]
    x0 = steps.origin.reshape(num_points, -1).astype(np.float64)
    d = steps.differences()  # (points, pixels, K)
    eigenvalues, eigenvectors = principal_directions(d)
    axis_distance = np.array([distance_to_signed_permutation(v) for v in eigenvectors])
    ratio = eigenvalues[:, -1] / np.maximum(eigenvalues[:, 0], 1e-12)

    movable = set(_off_grid_factors(data))
    continuous = observations_at(data, base[:1].astype(np.float64)) is not None
    angles = (
        np.linspace(0.0, 180.0, num_angles, endpoint=False)
        if continuous
        else np.asarray(GRID_ANGLES)
    )
    costs = {}
    for a, b in itertools.combinations(active, 2):
        pair = (data.factor_names[a], data.factor_names[b])
        if continuous and movable.issuperset(pair):
            costs[pair] = _scan_continuous(data, base, a, b, angles, COSTS[cost])
        elif not continuous:
            costs[pair] = _scan_grid(data, random_state, base, a, b, x0, COSTS[cost])
    return VarianceStructure(
        dataset=name or type(data).__name__,
        factor_names=names,
        cost=cost,
        per_factor_variance=np.einsum("npk,npk->k", d, d) / num_points,
        mean_gram=np.einsum("npk,npl->kl", d, d) / num_points,
        axis_distance=axis_distance,
        eigenvalue_ratio=ratio,
        angles=angles,
        direction_costs=costs,
        continuous=continuous,
    )


def _off_grid_factors(data: GroundTruthData) -> tuple[str, ...]:
    """Factors ``observations_at`` can move between grid values (all, unless declared)."""
    if isinstance(data, PerturbedData):
        return _off_grid_factors(data.base)
    return tuple(getattr(data, "off_grid_factors", data.factor_names))


def _scan_continuous(data, base, a, b, angles, cost) -> np.ndarray:
    """Mean cost of a unit move at each angle in the (a, b) plane."""
    positions = base.astype(np.float64)
    result = []
    for angle in np.deg2rad(angles):
        moved = positions.copy()
        moved[:, a] += np.cos(angle)
        moved[:, b] += np.sin(angle)
        moved_obs = observations_at(data, moved).reshape(len(base), -1)
        origin = observations_at(data, positions).reshape(len(base), -1)
        result.append(cost(origin, moved_obs).mean())
    return np.asarray(result)


def _scan_grid(data, random_state, base, a, b, x0, cost) -> np.ndarray:
    """Mean cost of the grid moves (1,0), (1,1), (0,1), (-1,1) in the (a, b) plane."""
    sizes = data.factors_num_values
    result = []
    for step_a, step_b in ((1, 0), (1, 1), (0, 1), (-1, 1)):
        moved = base.copy()
        moved[:, a] += step_a
        moved[:, b] += step_b
        valid = (moved[:, a] >= 0) & (moved[:, a] < sizes[a]) & (moved[:, b] < sizes[b])
        x1 = data.sample_observations_from_factors(moved[valid], random_state)
        x1 = x1.reshape(int(valid.sum()), -1)
        result.append(cost(x0[valid], x1).mean())
    return np.asarray(result)
