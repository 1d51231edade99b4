"""A user's own perturbation, loaded from an ``.npz`` file and validated against the base dataset.

The file holds either

- ``manipulation``: ``m`` for every configuration in the base dataset's canonical order, shaped
  like its images ``(N, H, W, C)`` (or ``(N, H, W)`` for one channel), float with values in
  [-1, 1]; observations become ``clip(x + eps * m, 0, 1)``; or
- ``observations``: the perturbed images themselves, same shape, uint8 or float in [0, 1];
  ``eps`` is then the largest change allowed per pixel and is checked.

The file is read and checked when the perturbation is applied, then kept in memory.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from disentangle_bench.data.ground_truth import GroundTruthData
from disentangle_bench.perturbations.base import AdditivePerturbation
from disentangle_bench.util.errors import DataError


class ExternalPerturbation(AdditivePerturbation):
    """``x' = clip(x + eps * m, 0, 1)`` with ``m`` (or ``x'`` itself) read from a file."""

    name = "external"

    def __init__(self, path: str = "", eps: float = 0.1, seed: int = 0) -> None:
        super().__init__(eps, seed)
        if not path:
            raise ValueError(
                "external.path is required: an .npz with 'manipulation' or 'observations'"
            )
        self.path = str(path)
        self._field: np.ndarray | None = None

    def parameters(self) -> dict[str, Any]:
        return {**super().parameters(), "path": self.path}

    def apply(self, data: GroundTruthData):
        self._field = load_manipulation(Path(self.path), data, self.eps)
        return super().apply(data)

    def field(
        self, data: GroundTruthData, factors: np.ndarray, observations: np.ndarray
    ) -> np.ndarray:
        if self._field is None:
            self._field = load_manipulation(Path(self.path), data, self.eps)
        return self._field[data.index_of(factors)].reshape(observations.shape)


def load_manipulation(path: Path, data: GroundTruthData, eps: float) -> np.ndarray:
    """The field ``m`` (float32, (N, H, W, C)) from ``path``, checked against ``data``."""
    try:
        archive = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise DataError(f"{path}: not a readable .npz file ({error})") from error
    with archive:
        keys = set(archive.files)
        if "manipulation" in keys:
            kind, array = "manipulation", archive["manipulation"]
        elif "observations" in keys:
            kind, array = "observations", archive["observations"]
        else:
            raise DataError(
                f"{path}: expected an array named 'manipulation' or 'observations', "
                f"found {sorted(keys) or 'none'}"
            )
    expected = (data.num_configurations, *data.observation_shape)
    if array.ndim == 3 and expected[-1] == 1:
        array = array[..., None]
    if tuple(array.shape) != expected:
        raise DataError(
            f"{path}: '{kind}' has shape {tuple(array.shape)}, the base dataset needs {expected} "
            "(one entry per configuration, in canonical factor order)"
        )
    if kind == "manipulation":
        if not np.issubdtype(array.dtype, np.floating):
            raise DataError(f"{path}: 'manipulation' must be floating point, got {array.dtype}")
        if not np.all(np.isfinite(array)) or np.abs(array).max() > 1.0:
            raise DataError(f"{path}: 'manipulation' values must be finite and within [-1, 1]")
        return array.astype(np.float32)
    return _field_from_observations(path, array, data, eps)


def _field_from_observations(
    path: Path, observations: np.ndarray, data: GroundTruthData, eps: float
) -> np.ndarray:
    if observations.dtype == np.uint8:
        perturbed = observations.astype(np.float32) / 255.0
    elif np.issubdtype(observations.dtype, np.floating):
        perturbed = observations.astype(np.float32)
    else:
        raise DataError(f"{path}: 'observations' must be uint8 or float, got {observations.dtype}")
    if not np.all(np.isfinite(perturbed)) or perturbed.min() < 0.0 or perturbed.max() > 1.0:
        raise DataError(f"{path}: 'observations' must lie in [0, 1]")
    field = np.empty_like(perturbed)
    step = 4096
    for start in range(0, len(perturbed), step):
        index = np.arange(start, min(start + step, len(perturbed)))
        clean = data.sample_observations_from_factors(
            data.factors_of(index), np.random.RandomState(0)
        )
        change = perturbed[start : start + len(index)] - clean
        if np.abs(change).max() > eps + 1e-6:
            raise DataError(
                f"{path}: 'observations' differ from the base images by up to "
                f"{np.abs(change).max():.4g} per pixel, more than eps = {eps}"
            )
        field[start : start + len(index)] = change / eps if eps > 0 else 0.0
    return field
