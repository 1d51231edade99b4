"""The variance-structure diagnostic on cases with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from disentangle_bench.data.ground_truth import GroundTruthData
from disentangle_bench.data.linear import LinearData
from disentangle_bench.diagnostics.variance import (
    axis_offset,
    bernoulli_js,
    local_variance_structure,
    off_diagonal_mass,
    relative_eigengap,
    verdict,
)
from disentangle_bench.metrics.jacobian import distance_to_signed_permutation
from disentangle_bench.perturbations import LinearMix


class FactorLinear(GroundTruthData):
    """``x = B M w`` with orthonormal ``B`` (8 x 2) and a 2 x 2 ``M``: the cost form of one grid
    step is exactly ``M^T M`` (squared distance)."""

    factor_names = ("a", "b")
    factors_num_values = (5, 5)
    observation_shape = (1, 1, 8)
    fingerprint = "factor-linear"
    value_range = None

    def __init__(self, mixing):
        self.mixing = np.asarray(mixing, dtype=np.float64)
        self.basis = np.linalg.qr(np.random.RandomState(0).randn(8, 2))[0]

    def sample_observations_from_factors(self, factors, random_state):
        x = np.asarray(factors, dtype=np.float64) @ self.mixing.T @ self.basis.T
        return x.reshape(len(factors), 1, 1, 8).astype(np.float32)


def rotation(degrees):
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    return np.array([[c, -s], [s, c]])


def test_axis_aligned_distinct_variances_are_aligned():
    structure = local_variance_structure(FactorLinear(np.diag([1.0, 2.0])), num_points=8)
    assert np.allclose(structure.cost_gram, np.diag([1.0, 4.0]), atol=1e-4)
    assert structure.off_diagonal_mass == pytest.approx(0.0, abs=1e-8)
    assert structure.relative_eigengap == pytest.approx(0.75, abs=1e-4)  # (4 - 1) / 4
    assert structure.verdict == "aligned"


def test_a_45_degree_rotation_is_misaligned_with_its_exact_mass():
    # Principal directions at 45 degrees in factor space: G = R diag(1, 4) R^T.
    structure = local_variance_structure(
        FactorLinear(np.diag([1.0, 2.0]) @ rotation(45).T), num_points=8
    )
    assert np.allclose(structure.cost_gram, [[2.5, -1.5], [-1.5, 2.5]], atol=1e-4)
    # C_ab = 1.5 / 2.5: mass = (a - b)^2 / (a + b)^2 = 9 / 25 for eigenvalues 1 and 4.
    assert structure.off_diagonal_mass == pytest.approx(9 / 25, abs=1e-6)
    assert structure.relative_eigengap == pytest.approx(0.75, abs=1e-4)
    assert structure.verdict == "misaligned"


def test_a_degenerate_pair_is_degenerate_whatever_its_rotation():
    for degrees in (0, 30):
        structure = local_variance_structure(
            FactorLinear(np.eye(2) @ rotation(degrees).T), num_points=8
        )
        assert structure.off_diagonal_mass == pytest.approx(0.0, abs=1e-8)
        assert structure.relative_eigengap == pytest.approx(0.0, abs=1e-6)
        assert structure.verdict == "degenerate"


def test_statistics_analytic_values():
    assert off_diagonal_mass(np.diag([1.0, 2.0, 3.0])) == 0.0
    assert off_diagonal_mass(np.ones((3, 3))) == pytest.approx(1.0)
    # (1, 1, 10): two equal eigenvalues, so degenerate although max / min is 10.
    assert relative_eigengap(np.diag([1.0, 1.0, 10.0])) == 0.0
    assert relative_eigengap(np.diag([1.0, 2.0]), scales=np.array([2.0, 1.0])) == pytest.approx(
        0.5
    )  # range-normalised: (4, 2) -> (4 - 2) / 4
    assert [verdict(0.2, 0.5), verdict(0.01, 0.05), verdict(0.01, 0.5)] == [
        "misaligned",
        "degenerate",
        "aligned",
    ]


def test_diagonal_grid_moves_are_compared_per_unit_move():
    # Without off-grid rendering the scan uses grid moves; a diagonal move of a linear map with
    # equal orthogonal columns costs twice an axis move, i.e. the same per unit squared length.
    structure = local_variance_structure(FactorLinear(np.eye(2)), num_points=8)
    (costs,) = structure.direction_costs.values()
    assert np.allclose(costs, costs[0], rtol=1e-5)


def test_distance_to_signed_permutation_analytic_values():
    assert distance_to_signed_permutation(np.eye(3)) == 0.0
    signed = np.array([[0, -1, 0], [0, 0, 1], [1, 0, 0]], dtype=float)
    assert distance_to_signed_permutation(signed) == 0.0
    c = s = 1 / math.sqrt(2)  # a 45-degree rotation: as far from the axes as 2-D allows
    rotation = np.array([[c, -s], [s, c]])
    assert distance_to_signed_permutation(rotation) == pytest.approx(
        math.sqrt(2 * (1 - c) ** 2 + 2 * s**2)
    )


def test_bernoulli_js_analytic_values():
    p = np.array([[0.0, 1.0, 0.5]])
    assert bernoulli_js(p, p)[0] == 0.0
    assert bernoulli_js(np.array([[0.0]]), np.array([[1.0]]))[0] == pytest.approx(math.log(2))


def test_axis_offset():
    assert [axis_offset(a) for a in (0, 30, 45, 60, 90, 135, 170)] == [0, 30, 45, 30, 0, 45, 10]


def test_linear_data_is_aligned_and_the_mixed_twin_is_not():
    base = LinearData()
    original = local_variance_structure(base, num_points=16)
    assert original.cost == "gaussian"
    step = 2.0 / 9.0
    assert np.allclose(original.per_factor_variance, (np.array([1, 1.4, 1.9, 2.6]) * step) ** 2)
    summary = original.summary()
    assert summary["off_diagonal_mass"] == pytest.approx(0.0, abs=1e-6)
    assert summary["verdict"] == "aligned"
    assert summary["mean_axis_offset_degrees"] == 0.0
    assert summary["mean_oblique_advantage"] == pytest.approx(0.0, abs=1e-9)

    mixed = local_variance_structure(LinearMix(eps=2.0).apply(base), num_points=16).summary()
    assert mixed["verdict"] == "misaligned"
    assert mixed["mean_oblique_advantage"] > 0.1
    assert mixed["mean_axis_offset_degrees"] > 10.0


def test_equal_scales_are_degenerate():
    degenerate = local_variance_structure(LinearData(scales=(1, 1, 1, 1)), num_points=8)
    assert degenerate.verdict == "degenerate"
    for costs in degenerate.direction_costs.values():
        assert np.allclose(costs, costs[0])  # every direction costs the same


def test_bad_arguments():
    with pytest.raises(ValueError, match="cost"):
        local_variance_structure(LinearData(), cost="l1")
    with pytest.raises(ValueError, match="two factors"):
        local_variance_structure(LinearData(num_factors=1, scales=(1.0,), dim=4))


@pytest.fixture(scope="module")
def full_grids():
    from disentangle_bench.data.dsprites import ProceduralDSprites
    from disentangle_bench.data.shapes3d import ProceduralShapes3D

    return ProceduralDSprites(cache=False), ProceduralShapes3D()


def test_off_grid_rendering_agrees_with_the_grid(full_grids):
    for data in full_grids:
        factors = data.sample_factors(8, np.random.RandomState(0))
        on_grid = data.sample_observations_from_factors(factors, np.random.RandomState(0))
        assert np.array_equal(data.observations_at(factors.astype(float)), on_grid)


@pytest.mark.parametrize("eps", [0.1, 0.175])
def test_dsprites_original_is_aligned_and_the_oblique_twin_is_not(full_grids, eps):
    from disentangle_bench.perturbations import ObliqueStripes

    dsprites = full_grids[0]
    original = local_variance_structure(dsprites, num_points=32).summary()
    perturbed = local_variance_structure(
        ObliqueStripes(eps=eps).apply(dsprites), num_points=32
    ).summary()
    assert original["factors"] == ["scale", "orientation", "position_x", "position_y"]
    # The original's factor changes are orthogonal under the cost (x and y nearly degenerate);
    # on the twin the mixed factors' changes correlate and an oblique move is far cheaper than
    # any move along an axis.
    assert original["off_diagonal_mass"] < 0.01
    assert original["mean_oblique_advantage"] < 0.2
    assert perturbed["verdict"] == "misaligned"
    assert perturbed["mean_oblique_advantage"] > 0.8


@pytest.mark.parametrize("eps", [0.1, 0.175])
def test_shapes3d_original_is_aligned_and_the_oblique_twin_is_not(full_grids, eps):
    from disentangle_bench.perturbations import ObliqueStripes

    shapes = full_grids[1]
    original = local_variance_structure(shapes, num_points=32).summary()
    perturbed = local_variance_structure(
        ObliqueStripes(eps=eps).apply(shapes), num_points=32
    ).summary()
    # Each hue colours its own region: the cost form is diagonal; the twin's pattern mixes the
    # hues, scale and orientation (off-diagonal mass above the misaligned threshold), while the
    # direction scan of the hue planes still finds the axes nearly as cheap at eps 0.1.
    assert original["off_diagonal_mass"] < 0.01 and original["verdict"] != "misaligned"
    assert original["mean_oblique_advantage"] == pytest.approx(0.0, abs=0.02)
    assert perturbed["verdict"] == "misaligned"
    assert perturbed["mean_oblique_advantage"] >= original["mean_oblique_advantage"]


def test_cli_variance_report_with_an_eps_sweep(tmp_path, capsys):
    from disentangle_bench.cli import main
    from disentangle_bench.util.images import decode_png

    prefix = tmp_path / "report"
    code = main(
        [
            "datasets",
            "inspect",
            "dsprites_small",
            "--variance",
            "--eps",
            "0,0.1",
            "--points",
            "8",
            "--report",
            str(prefix),
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "| eps | off_diagonal_mass | relative_eigengap | verdict |" in out
    assert "switch share per grid step" in out and "| position_x | 0.2" in out
    import json

    report = json.loads(prefix.with_suffix(".json").read_text())
    assert [row["eps"] for row in report["sweep"]] == [0.0, 0.1]
    assert report["switch_shares"]["0.1"]["position_x"] == pytest.approx(0.25, abs=0.05)
    assert report["perturbation"] == "oblique"
    image = decode_png(prefix.with_suffix(".png").read_bytes())
    assert image.ndim == 3 and image.shape[2] == 3 and image.std() > 0
    assert main(["datasets", "inspect", "dsprites_small", "--variance", "--eps", "x"]) == 2
