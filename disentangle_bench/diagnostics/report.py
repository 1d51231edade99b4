"""The variance diagnostic as a report: summary numbers, an eps sweep and a side-by-side PNG.

Figure layout (one column per dataset, original first): the top panel is ``|V|``, the absolute
eigenvectors of the cost form of one-step moves (K x K, one column per eigenvector; a
permutation pattern means aligned with the factor axes); the bottom panel is the
direction scan, one row per factor plane and one column per angle (0 to 180 degrees), the cost
divided by the row's minimum (dark: cheap; the cheapest angle of each row is marked white).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from disentangle_bench.data.ground_truth import GroundTruthData
from disentangle_bench.diagnostics.switching import switch_shares
from disentangle_bench.diagnostics.variance import VarianceStructure, local_variance_structure
from disentangle_bench.perturbations.base import PerturbedData
from disentangle_bench.util.errors import ConfigError
from disentangle_bench.util.files import atomic_write, atomic_write_json, atomic_write_text
from disentangle_bench.util.images import encode_png

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


def sweep_markdown(rows: list[dict[str, Any]]) -> str:
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = (row[c] if isinstance(row[c], str) else f"{row[c]:.3g}" for c in columns)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _upscale(matrix: np.ndarray, cell: int = CELL) -> np.ndarray:
    return np.kron(matrix, np.ones((cell, cell)))


def _panel(structure: VarianceStructure) -> np.ndarray:
    """An RGB uint8 panel for one dataset (see the module docstring)."""
    _, vectors = np.linalg.eigh(structure.cost_gram)
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


def with_strength(perturbation: Any, eps: float) -> Any:
    """The same perturbation at another strength (its other parameters unchanged)."""
    parameters = {**perturbation.parameters(), "eps": eps}
    try:
        return type(perturbation)(**parameters)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{perturbation.name} at eps {eps}: {error}") from error


def write_variance_report(
    base: GroundTruthData,
    perturbation: Any,
    eps_values: Sequence[float],
    *,
    prefix: str,
    base_name: str,
    num_points: int = 64,
    seed: int = 0,
) -> str:
    """Diagnose ``base`` and its perturbed versions at ``eps_values`` (0: the base itself);
    write ``prefix.png`` (side by side), ``prefix.json`` and ``prefix.md``; return the text."""
    if not eps_values:
        raise ConfigError("no strengths to diagnose")
    labels = {}
    for eps in eps_values:
        label = f"{base_name}" if eps == 0 else f"{base_name}+{perturbation.name}(eps={eps:g})"
        labels[label] = base if eps == 0 else with_strength(perturbation, eps).apply(base)
    structures = compare(labels, num_points=num_points, seed=seed)
    rows = []
    for eps, structure in zip(eps_values, structures, strict=True):
        summary = structure.summary()
        rows.append({"eps": float(eps), **{k: summary[k] for k in SWEEP_COLUMNS}})
    shares = {
        f"{eps:g}": switch_shares(data, num=num_points, seed=seed)
        for eps, data in zip(eps_values, labels.values(), strict=True)
        if isinstance(data, PerturbedData)
    }
    factors = structures[0].factor_names
    text = (
        f"variance structure of {base_name} under {perturbation.name} "
        f"({num_points} base configurations, cost: {structures[0].cost}, "
        f"factors: {', '.join(factors)})\n\n" + sweep_markdown(rows)
    )
    if shares:
        moves = list(next(iter(shares.values())))
        share_rows = [
            {"move": move, **{eps: s[move] for eps, s in shares.items()}} for move in moves
        ]
        text += (
            "\nswitch share per grid step (pixels whose push turns on or off), by eps:\n\n"
            + sweep_markdown(share_rows)
        )
    path = Path(prefix)
    atomic_write(path.with_suffix(".png"), lambda h: h.write(encode_png(figure(structures))))
    atomic_write_json(
        path.with_suffix(".json"),
        {
            "base": base_name,
            "perturbation": perturbation.name,
            "parameters": perturbation.parameters(),
            "num_points": num_points,
            "seed": seed,
            "sweep": rows,
            "switch_shares": shares,
            "details": [s.summary() for s in structures],
        },
    )
    atomic_write_text(path.with_suffix(".md"), text + "\n" + __doc__.split("\n\n", 1)[1])
    return text + f"\nwritten: {path.with_suffix('.png')}, .json, .md\n"


SWEEP_COLUMNS = (
    "off_diagonal_mass",
    "relative_eigengap",
    "verdict",
    "mean_oblique_advantage",
    "mean_axis_offset_degrees",
    "mean_anisotropy",
)
