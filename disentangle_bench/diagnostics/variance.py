"""The local variance structure of a ground-truth dataset, and how well it singles out the factors.

Two views, both at sampled base configurations ``w`` (variance-structure reference; Rolinek,
Zietlow and Martius, CVPR 2019; Zietlow, Rolinek and Martius, ICML 2021), both measured in the
model's own loss: the summed per-pixel Jensen-Shannon divergence between ``Bernoulli(x(w))`` and
``Bernoulli(x(w + v))`` for images (Bernoulli decoders), the squared distance otherwise.

1. **The cost form (Gram).** The quadratic form that fits the cost ``c(v)`` of one-grid-step
   moves: ``G_kk = c(e_k)`` and, by polarisation, ``G_kl = (c(e_k + e_l) - c(e_k - e_l)) / 4``.
   For locally linear data this is exactly ``D^T D`` of the finite differences; for sharp images
   or patterns that switch within a grid step it is what the moves really cost (the linearised
   ``D^T D`` misses that a diagonal move can cost less than its two axis steps). Statistics:

   - the headline, *off-diagonal mass* ``m = sum_{k != l} C_kl^2 / (K (K - 1))`` of the
     correlation-normalised form ``C = diag(G)^-1/2 G diag(G)^-1/2``: 0 when the factors' changes
     are orthogonal under the cost (the factor axes are the principal directions), 1 when they
     are collinear. It is invariant to each factor's scale (so grid resolution does not decide)
     and does not depend on an arbitrary choice of eigenvectors near degeneracy;
   - *degeneracy*, the smallest relative gap ``(lambda_{i+1} - lambda_i) / lambda_{i+1}`` between
     adjacent eigenvalues of the range-normalised form ``S G S`` (``S = diag(n_k - 1)``: the cost
     per unit of each factor's range, the scale a unit-variance latent covers); by Davis-Kahan the
     principal directions are stable only when this gap is large;
   - a *verdict*: ``misaligned`` when ``m >= MISALIGNED_MASS``, else ``degenerate`` when the gap
     is below ``DEGENERATE_GAP``, else ``aligned``.
2. **The direction scan.** The cost of a unit move ``v = cos(t) e_k + sin(t) e_l`` at angles ``t``
   around each plane of two factors: a VAE's latents follow the cheapest directions; the *axis
   offset* is the angle between the cheapest direction and the nearest factor axis (0 degrees:
   aligned, 45: as oblique as possible). Off-grid moves need a dataset that renders fractional
   factor positions (``observations_at``; ``off_grid_factors`` names the factors it can move, and
   only planes of two such factors are scanned); otherwise the scan uses the grid moves at 0, 45,
   90 and 135 degrees, each cost divided by the squared move length (a diagonal grid move is
   sqrt(2) long), so that every angle is compared per unit move.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import xlogy

from disentangle_bench.data.ground_truth import GroundTruthData
from disentangle_bench.diagnostics.steps import axis_steps
from disentangle_bench.perturbations.base import PerturbedData

GRID_ANGLES = (0.0, 45.0, 90.0, 135.0)
#: Verdict thresholds (documented in docs/perturbations.md): off-diagonal mass from which the
#: factors' changes count as mixed, and the relative eigen-gap below which the form is degenerate.
MISALIGNED_MASS = 0.05
DEGENERATE_GAP = 0.1


def off_diagonal_mass(gram: np.ndarray) -> float:
    """``sum_{k != l} C_kl^2 / (K (K - 1))`` of the correlation-normalised ``gram`` (0 for a
    diagonal form, 1 for a form of rank one with every factor involved)."""
    gram = np.asarray(gram, dtype=np.float64)
    k = len(gram)
    if k < 2:
        return 0.0
    scale = 1.0 / np.sqrt(np.maximum(np.diag(gram), 1e-300))
    correlation = gram * scale[:, None] * scale[None, :]
    off = correlation - np.diag(np.diag(correlation))
    return float(np.sum(off**2) / (k * (k - 1)))


def relative_eigengap(gram: np.ndarray, scales: np.ndarray | None = None) -> float:
    """The smallest ``(lambda_{i+1} - lambda_i) / lambda_{i+1}`` of ``S gram S`` (``S =
    diag(scales)``, default the identity), eigenvalues ascending: 0 for a degenerate pair."""
    gram = np.asarray(gram, dtype=np.float64)
    if len(gram) < 2:
        return 1.0
    s = np.ones(len(gram)) if scales is None else np.asarray(scales, dtype=np.float64)
    eigenvalues = np.linalg.eigvalsh(s[:, None] * gram * s[None, :])
    upper = np.maximum(eigenvalues[1:], 1e-300)
    return float(np.min((eigenvalues[1:] - eigenvalues[:-1]) / upper))


def verdict(mass: float, gap: float) -> str:
    """``misaligned``, ``degenerate`` or ``aligned`` (thresholds :data:`MISALIGNED_MASS`,
    :data:`DEGENERATE_GAP`)."""
    if mass >= MISALIGNED_MASS:
        return "misaligned"
    return "degenerate" if gap < DEGENERATE_GAP else "aligned"


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
    factor_sizes: list[int]
    cost_gram: np.ndarray  # (K, K) the cost form of one-step moves (module docstring)
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

    @property
    def per_factor_variance(self) -> np.ndarray:
        """(K,) mean cost of one grid step along each factor."""
        return np.diag(self.cost_gram).copy()

    @property
    def off_diagonal_mass(self) -> float:
        return off_diagonal_mass(self.cost_gram)

    @property
    def relative_eigengap(self) -> float:
        return relative_eigengap(self.cost_gram, np.asarray(self.factor_sizes) - 1.0)

    @property
    def verdict(self) -> str:
        return verdict(self.off_diagonal_mass, self.relative_eigengap)

    def summary(self) -> dict[str, Any]:
        planes = self.plane_summary()

        def mean_of(key: str) -> float:
            values = [plane[key] for plane in planes.values()]
            return float(np.mean(values)) if values else float("nan")

        return {
            "dataset": self.dataset,
            "cost": self.cost,
            "factors": self.factor_names,
            "per_factor_variance": dict(
                zip(self.factor_names, self.per_factor_variance.tolist(), strict=True)
            ),
            "off_diagonal_mass": self.off_diagonal_mass,
            "relative_eigengap": self.relative_eigengap,
            "verdict": self.verdict,
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
    gram = cost_form(data, active, num_points, random_state, COSTS[cost])

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
        factor_sizes=[int(data.factors_num_values[k]) for k in active],
        cost_gram=gram,
        angles=angles,
        direction_costs=costs,
        continuous=continuous,
    )


def cost_form(
    data: GroundTruthData,
    active: Sequence[int],
    num_points: int,
    random_state: np.random.RandomState,
    cost,
) -> np.ndarray:
    """The cost form ``G`` over the ``active`` factors: ``G_kk = c(e_k)``, ``G_kl = (c(e_k + e_l)
    - c(e_k - e_l)) / 4``, each ``c`` the mean cost of that one-step move from ``num_points``
    random starts at which the move stays on the grid."""
    sizes = np.asarray(data.factors_num_values)

    def mean_cost(move: np.ndarray) -> float:
        low, high = np.maximum(0, -move), sizes - 1 - np.maximum(0, move)
        start = low + (random_state.rand(num_points, len(sizes)) * (high - low + 1)).astype(int)
        x0 = data.sample_observations_from_factors(start, random_state).reshape(num_points, -1)
        x1 = data.sample_observations_from_factors(start + move, random_state)
        return float(cost(x0, x1.reshape(num_points, -1)).mean())

    unit = np.eye(len(sizes), dtype=np.int64)
    gram = np.zeros((len(active), len(active)))
    for i, k in enumerate(active):
        gram[i, i] = mean_cost(unit[k])
        for j in range(i):
            l = active[j]  # noqa: E741
            gram[i, j] = gram[j, i] = (
                mean_cost(unit[k] + unit[l]) - mean_cost(unit[k] - unit[l])
            ) / 4
    return gram


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
    """Mean cost per unit squared length of the grid moves (1,0), (1,1), (0,1), (-1,1) in the
    (a, b) plane."""
    sizes = data.factors_num_values
    result = []
    for step_a, step_b in ((1, 0), (1, 1), (0, 1), (-1, 1)):
        moved = base.copy()
        moved[:, a] += step_a
        moved[:, b] += step_b
        valid = (moved[:, a] >= 0) & (moved[:, a] < sizes[a]) & (moved[:, b] < sizes[b])
        x1 = data.sample_observations_from_factors(moved[valid], random_state)
        x1 = x1.reshape(int(valid.sum()), -1)
        result.append(cost(x0[valid], x1).mean() / (step_a**2 + step_b**2))  # per unit move
    return np.asarray(result)
