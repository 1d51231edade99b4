"""``bench datasets inspect``: what a dataset is, and a PNG contact sheet of it.

:func:`inspect_dataset` returns an :class:`InspectReport` (a list of titled sections of
``(key, value)`` rows) and writes the contact sheet; the command prints the report. Another
analysis adds its own section with :meth:`InspectReport.add` (e.g. a per-factor pixel-variance
table) without touching the rest.

Contact sheet layout (64 x 64 tiles, 2-pixel grey gutters): the first ``sample_rows`` rows hold
random samples (``np.random.RandomState(seed)``); then one row per factor, a traversal: one
random base configuration with that factor stepped through its values (all of them, or
``max_steps`` evenly spaced ones), every other factor fixed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from disentangle_bench.data.ground_truth import GroundTruthData
from disentangle_bench.data.hub import unwrap, value_grid_of
from disentangle_bench.util.files import atomic_write

GUTTER = 2
GUTTER_VALUE = 128


@dataclass
class InspectReport:
    """Titled sections of rows, printed in order."""

    name: str
    sections: list[tuple[str, list[tuple[str, str]]]] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def add(self, title: str, rows: list[tuple[str, str]]) -> None:
        self.sections.append((title, rows))

    def to_text(self) -> str:
        lines = [f"dataset {self.name}"]
        for title, rows in self.sections:
            lines.append(f"\n{title}")
            width = max((len(key) for key, _ in rows), default=0)
            lines.extend(f"  {key.ljust(width)}  {value}" for key, value in rows)
        return "\n".join(lines) + "\n"


def format_bytes(count: int | None) -> str:
    if count is None:
        return "unknown"
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def storage_of(data: GroundTruthData) -> dict[str, Any]:
    base, perturbations = unwrap(data)
    info = getattr(base, "storage_info", None)
    storage = dict(info()) if callable(info) else {"kind": "rendered on demand", "bytes": None}
    if perturbations:
        storage["kind"] = f"{storage['kind']}; perturbation applied per batch"
    return storage


def is_image_data(data: GroundTruthData) -> bool:
    """Whether observations are images in [0, 1] (at least 8 x 8, 1 or 3 channels)."""
    height, width, channels = data.observation_shape
    value_range = getattr(data, "value_range", (0.0, 1.0))
    return height >= 8 and width >= 8 and channels in (1, 3) and value_range == (0.0, 1.0)


def _as_tiles(observations: np.ndarray) -> np.ndarray:
    """float32 NHWC in [0, 1] -> uint8 (N, H, W, 3)."""
    images = np.round(np.clip(observations, 0.0, 1.0) * 255.0).astype(np.uint8)
    if images.shape[-1] == 1:
        images = np.repeat(images, 3, axis=-1)
    return images[..., :3]


def traversal_factors(
    data: GroundTruthData, factor: int, base: np.ndarray, max_steps: int
) -> np.ndarray:
    """``base`` repeated with ``factor`` stepped through (at most ``max_steps``) of its values."""
    size = data.factors_num_values[factor]
    steps = np.unique(np.round(np.linspace(0, size - 1, min(size, max_steps))).astype(np.int64))
    factors = np.repeat(base[None, :], len(steps), axis=0)
    factors[:, factor] = steps
    return factors


def contact_sheet(
    data: GroundTruthData,
    *,
    seed: int = 0,
    columns: int = 10,
    sample_rows: int = 2,
    max_steps: int | None = None,
) -> np.ndarray:
    """uint8 (H, W, 3): sample rows, then one traversal row per factor."""
    max_steps = max_steps or columns
    random_state = np.random.RandomState(seed)
    rows = []
    for _ in range(sample_rows):
        rows.append(_as_tiles(data.sample_observations(columns, random_state)))
    base = data.sample_factors(1, random_state)[0]
    for factor in range(data.num_factors):
        factors = traversal_factors(data, factor, base, max_steps)
        rows.append(_as_tiles(data.sample_observations_from_factors(factors, random_state)))
    height, width = data.observation_shape[:2]
    sheet = np.full(
        (
            len(rows) * (height + GUTTER) + GUTTER,
            columns * (width + GUTTER) + GUTTER,
            3,
        ),
        GUTTER_VALUE,
        dtype=np.uint8,
    )
    for r, tiles in enumerate(rows):
        for c, tile in enumerate(tiles[:columns]):
            top = GUTTER + r * (height + GUTTER)
            left = GUTTER + c * (width + GUTTER)
            sheet[top : top + height, left : left + width] = tile
    return sheet


def inspect_dataset(
    data: GroundTruthData,
    name: str,
    *,
    sheet_path: Path | str | None = None,
    seed: int = 0,
    columns: int = 10,
    fingerprint: bool = True,
) -> InspectReport:
    """Summary of ``data`` (factors, sizes, count, fingerprint, storage), and the sheet."""
    report = InspectReport(name)
    base, perturbations = unwrap(data)
    grid = value_grid_of(data)
    rows = [
        ("class", f"{type(base).__module__}.{type(base).__qualname__}"),
        ("observation shape", str(tuple(data.observation_shape))),
        ("images", f"{data.num_configurations:,}"),
    ]
    for perturbation in perturbations:
        params = perturbation.parameters() if hasattr(perturbation, "parameters") else {}
        rows.append(("perturbation", f"{getattr(perturbation, 'name', '?')} {params}"))
    if fingerprint:
        rows.append(("fingerprint", data.fingerprint))
    storage = storage_of(data)
    rows.append(("storage", f"{storage['kind']}, {format_bytes(storage.get('bytes'))}"))
    if storage.get("path"):
        rows.append(("cache path", str(storage["path"])))
    report.add("summary", rows)
    factor_rows = []
    for i, (factor, size) in enumerate(zip(data.factor_names, data.factors_num_values)):
        values = grid[i]
        shown = ", ".join(f"{v:.4g}" for v in values[:6]) + (", ..." if size > 6 else "")
        factor_rows.append((f"{i} {factor}", f"{size:>4} values: {shown}"))
    report.add("factors (index order: last fastest)", factor_rows)
    report.data["storage"] = storage
    if sheet_path is not None and not is_image_data(data):
        report.add("contact sheet", [("skipped", "the observations are not images")])
    elif sheet_path is not None:
        from disentangle_bench.util.images import encode_png

        sheet = contact_sheet(data, seed=seed, columns=columns)
        png = encode_png(sheet)
        atomic_write(sheet_path, lambda handle: handle.write(png))
        legend = [("rows 1-2", "random samples")]
        legend += [
            (f"row {3 + i}", f"traversal of {factor}") for i, factor in enumerate(data.factor_names)
        ]
        legend.append(("written to", str(sheet_path)))
        report.add("contact sheet", legend)
    return report
