"""The variance diagnostic as a report: summary numbers, an eps sweep and a side-by-side PNG.

Figure layout (one column per dataset, original first): the top panel is ``|V|``, the absolute
eigenvectors of the mean Gram matrix of the finite differences (K x K, one column per
eigenvector; a permutation pattern means aligned with the factor axes); the bottom panel is the
direction scan, one row per factor plane and one column per angle (0 to 180 degrees), the cost
divided by the row's minimum (dark: cheap; the cheapest angle of each row is marked white).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from disentangle_bench.data.ground_truth import GroundTruthData
from disentangle_bench.diagnostics.variance import VarianceStructure, local_variance_structure

CELL = 16  # pixels per matrix entry in the figure
GAP = 8


def compare(
    datasets: dict[str, GroundTruthData],
    *,
    num_points: int = 64,
    num_angles: int = 16,
    seed: int = 0,
) -> list[VarianceStructure]:
    """The diagnostic of every dataset, at the same base configurations (same seed)."""
    return [
        local_variance_structure(
            data,
            num_points=num_points,
            num_angles=num_angles,
            random_state=np.random.RandomState(seed),
            name=label,
        )
        for label, data in datasets.items()
    ]


def eps_sweep(
    base: GroundTruthData,
    perturb: Callable[[float], GroundTruthData],
    eps_values: Sequence[float],
    **kwargs: Any,
) -> list[dict[str, Any]]:
    """Summary numbers at each strength (``eps = 0`` is the base dataset itself)."""
    datasets = {f"eps={eps:g}": base if eps == 0 else perturb(eps) for eps in eps_values}
    rows = []
    for eps, structure in zip(eps_values, compare(datasets, **kwargs)):
        summary = structure.summary()
        rows.append(
            {
                "eps": float(eps),
                "gram_axis_distance": summary["gram_axis_distance"],
                "gram_eigenvalue_ratio_median": summary["gram_eigenvalue_ratio_median"],
                "mean_oblique_advantage": summary["mean_oblique_advantage"],
                "mean_axis_offset_degrees": summary["mean_axis_offset_degrees"],
                "mean_anisotropy": summary["mean_anisotropy"],
            }
        )
    return rows


def sweep_markdown(rows: list[dict[str, Any]]) -> str:
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(f"{row[c]:.3g}" for c in columns) + " |")
    return "\n".join(lines) + "\n"


def _upscale(matrix: np.ndarray, cell: int = CELL) -> np.ndarray:
    return np.kron(matrix, np.ones((cell, cell)))


def _panel(structure: VarianceStructure) -> np.ndarray:
    """An RGB uint8 panel for one dataset (see the module docstring)."""
    _, vectors = np.linalg.eigh(structure.mean_gram)
    top = _upscale(np.abs(vectors))
    grey_top = np.stack([top] * 3, axis=-1)
    if structure.direction_costs:
        costs = np.stack(list(structure.direction_costs.values()))
        ratio = costs / np.maximum(costs.min(axis=1, keepdims=True), 1e-12)
        scaled = np.clip((ratio - 1.0) / max(float(ratio.max() - 1.0), 1e-9), 0, 1)
        bottom = np.stack([_upscale(scaled, CELL // 2)] * 3, axis=-1)
        bottom[..., 1:] *= 0.6  # tint the cost map red to tell it from the eigenvector panel
        for row, column in enumerate(costs.argmin(axis=1)):
            half = CELL // 2
            bottom[
                row * half + 2 : (row + 1) * half - 2, column * half + 2 : (column + 1) * half - 2
            ] = 1
    else:
        bottom = np.zeros((CELL, CELL, 3))
    width = max(grey_top.shape[1], bottom.shape[1])
    panel = np.zeros((grey_top.shape[0] + GAP + bottom.shape[0], width, 3))
    panel[: grey_top.shape[0], : grey_top.shape[1]] = grey_top
    panel[grey_top.shape[0] + GAP :, : bottom.shape[1]] = bottom
    return (panel * 255).round().astype(np.uint8)


def figure(structures: Sequence[VarianceStructure]) -> np.ndarray:
    """Panels side by side on a mid-grey background, original first."""
    panels = [_panel(s) for s in structures]
    height = max(p.shape[0] for p in panels) + 2 * GAP
    width = sum(p.shape[1] for p in panels) + GAP * (len(panels) + 1)
    canvas = np.full((height, width, 3), 96, dtype=np.uint8)
    x = GAP
    for panel in panels:
        canvas[GAP : GAP + panel.shape[0], x : x + panel.shape[1]] = panel
        x += panel.shape[1] + GAP
    return canvas
