"""Additions to the ground-truth interface: physical factor values, the registered datasets."""

from __future__ import annotations

import numpy as np
import pytest

from disentangle_bench.data.ground_truth import ArrayGroundTruthData, GroundTruthData
from disentangle_bench.data.hub import value_grid_of
from disentangle_bench.data.plugin import BUILTIN
from disentangle_bench.data.shapes3d import ProceduralShapes3DSmall
from disentangle_bench.perturbations import MatchedNoise
from disentangle_bench.registry import Registry


class Scaled(ArrayGroundTruthData):
    """Factor values defined only through ``factor_values`` (as the linear dataset does)."""

    def factor_values(self, factors):
        return np.asarray(factors, dtype=np.float64) * np.array([10.0, -1.0])


def test_value_grid_defaults_to_indices_or_to_factor_values():
    images = np.zeros((6, 2, 2, 1), np.uint8)
    plain = ArrayGroundTruthData(images, ["a", "b"], (2, 3))
    assert [g.tolist() for g in plain.value_grid] == [[0, 1], [0, 1, 2]]
    np.testing.assert_array_equal(plain.factor_values(np.array([[1, 2]])), [[1.0, 2.0]])
    with pytest.raises(ValueError, match="out of range"):
        plain.factor_values(np.array([[2, 0]]))
    scaled = Scaled(images, ["a", "b"], (2, 3))
    assert [g.tolist() for g in scaled.value_grid] == [[0, 10], [0, -1, -2]]


def test_perturbed_data_reports_its_base_values():
    small = ProceduralShapes3DSmall(cache=False)
    noisy = MatchedNoise(eps=0.1).apply(small)
    grid = value_grid_of(noisy)
    assert len(grid) == len(small.factor_names) == 6
    for mine, base in zip(grid, small.value_grid, strict=True):
        np.testing.assert_array_equal(mine, base)


def test_every_builtin_dataset_is_registered_with_a_valid_name():
    registry = Registry()
    names = set(registry.names("datasets"))
    expected = {
        "dsprites",
        "dsprites_small",
        "color_dsprites",
        "noisy_dsprites",
        "scream_dsprites",
        "shapes3d",
        "shapes3d_small",
        "xysquares",
        "dsprites_full",
        "shapes3d_file",
        "mpi3d_toy",
        "mpi3d_realistic",
        "mpi3d_real",
        "hf_dataset",
        "linear",
        "blob",
    }
    assert expected <= names
    assert {factory.name for factory in BUILTIN} == expected
    for factory in BUILTIN:
        assert issubclass(factory, GroundTruthData)
        assert registry.get("datasets", factory.name).plugin == "disentangle_bench.data.plugin"
