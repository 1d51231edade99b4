"""What an export records about a dataset object: its provenance and its uint8 content.

An exported dataset holds ``round(255 * observation)`` as uint8 for every configuration in
canonical order (:func:`uint8_chunks`); :func:`describe` records the dataset, its base and
parameters, any perturbation and its parameters, the seed, the source dataset's fingerprint and
the format version (the export adds the content fingerprint of the uint8 images).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from disentangle_bench.data.ground_truth import GroundTruthData
from disentangle_bench.util.errors import DataError

FORMAT_VERSION = 1
METADATA_FILE = "disentangle_bench.json"
CARD_FILE = "README.md"
DATA_DIR = "data"


def unwrap(data: Any) -> tuple[Any, list[Any]]:
    """The innermost base dataset and the perturbations applied to it, innermost first."""
    perturbations = []
    while hasattr(data, "base") and hasattr(data, "perturbation"):
        perturbations.append(data.perturbation)
        data = data.base
    return data, perturbations[::-1]


def value_grid_of(data: GroundTruthData) -> tuple[np.ndarray, ...]:
    """Physical factor values: the base dataset's, through any perturbation wrappers."""
    base, _ = unwrap(data)
    grid = getattr(base, "value_grid", None)
    if grid is None or len(grid) != len(data.factors_num_values):
        return tuple(np.arange(s, dtype=np.float64) for s in data.factors_num_values)
    return tuple(np.asarray(v, dtype=np.float64) for v in grid)


def _perturbation_record(perturbation: Any) -> dict[str, Any]:
    parameters = perturbation.parameters() if hasattr(perturbation, "parameters") else {}
    doc = (type(perturbation).__doc__ or "").strip().split("\n\n")[0]
    return {
        "name": getattr(perturbation, "name", type(perturbation).__name__),
        "parameters": _json_safe(parameters),
        "description": " ".join(doc.split()),
    }


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def uint8_chunks(
    data: GroundTruthData, *, seed: int = 0, chunk_size: int = 4096
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(factors, uint8 images) in canonical order: ``round(255 * observation)``.

    Observations come from ``sample_observations_from_factors`` with one
    ``np.random.RandomState(seed)`` shared by all chunks, in order (so datasets that draw from
    the random state export reproducibly).
    """
    random_state = np.random.RandomState(seed)
    total = data.num_configurations
    for start in range(0, total, chunk_size):
        factors = data.factors_of(np.arange(start, min(start + chunk_size, total)))
        observations = np.asarray(data.sample_observations_from_factors(factors, random_state))
        if observations.shape[1:] != tuple(data.observation_shape):
            raise DataError(
                f"the dataset returned observations of shape {observations.shape[1:]}, not "
                f"{tuple(data.observation_shape)}"
            )
        if not np.all(np.isfinite(observations)) or observations.min(initial=0) < 0:
            raise DataError("the dataset returned observations outside [0, 1]")
        if observations.max(initial=0) > 1:
            raise DataError("the dataset returned observations outside [0, 1]")
        yield factors, np.round(observations * np.float32(255.0)).astype(np.uint8)


def describe(
    data: GroundTruthData,
    name: str,
    *,
    parameters: dict[str, Any] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Provenance metadata of a dataset object (everything but the export fingerprint)."""
    from disentangle_bench import __version__

    base, perturbations = unwrap(data)
    grid = value_grid_of(data)
    base_name = getattr(base, "name", name.split("+")[0])
    return {
        "format_version": FORMAT_VERSION,
        "created_by": f"disentangle-bench {__version__}",
        "dataset": name,
        "base_dataset": base_name,
        "base_parameters": _json_safe(parameters or {}),
        "base_fingerprint": base.fingerprint,
        "perturbation": _perturbation_record(perturbations[-1]) if perturbations else None,
        "perturbations": [_perturbation_record(p) for p in perturbations],
        "seed": int(seed),
        "stochastic": bool(getattr(base, "stochastic", False)),
        "source_fingerprint": data.fingerprint,
        "factor_names": list(data.factor_names),
        "categorical_factors": list(getattr(base, "categorical_factors", ())),
        "factors_num_values": [int(s) for s in data.factors_num_values],
        "factor_values": {n: [float(v) for v in g] for n, g in zip(data.factor_names, grid)},
        "observation_shape": [int(s) for s in data.observation_shape],
        "num_rows": int(data.num_configurations),
        "image_scale": 255,
        "row_order": "canonical: row-major over the factors in factor order, last fastest",
        "license": getattr(base, "license", "other"),
        "citation": getattr(base, "citation", ""),
        "description": getattr(base, "description", "") or (type(base).__doc__ or "").strip(),
    }
