"""The variance-structure diagnostic on cases with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from disentangle_bench.data.linear import LinearData
from disentangle_bench.diagnostics.variance import (
    axis_offset,
    bernoulli_js,
    distance_to_signed_permutation,
    local_variance_structure,
)
from disentangle_bench.perturbations import LinearMix


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
    # D^T D = diag(s^2) up to the grid step: eigenvectors are the axes exactly.
    assert original.cost == "gaussian"
    assert np.mean(original.axis_distance) < 1e-6
    step = 2.0 / 9.0
    assert np.allclose(original.per_factor_variance, (np.array([1, 1.4, 1.9, 2.6]) * step) ** 2)
    summary = original.summary()
    assert summary["mean_axis_offset_degrees"] == 0.0
    assert summary["mean_oblique_advantage"] == pytest.approx(0.0, abs=1e-9)

    mixed = local_variance_structure(LinearMix(eps=2.0).apply(base), num_points=16).summary()
    assert mixed["gram_axis_distance"] > 0.5
    assert mixed["mean_oblique_advantage"] > 0.1
    assert mixed["mean_axis_offset_degrees"] > 10.0


def test_equal_scales_are_degenerate():
    degenerate = local_variance_structure(LinearData(scales=(1, 1, 1, 1)), num_points=8)
    assert np.allclose(degenerate.eigenvalue_ratio, 1.0)
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
    # The cheapest moves of the original sit on (or within a few percent of) the factor axes;
    # on the twin an oblique move is several times cheaper than any move along an axis.
    assert original["mean_oblique_advantage"] < 0.2
    assert perturbed["mean_oblique_advantage"] > 1.5
    assert perturbed["mean_axis_offset_degrees"] > original["mean_axis_offset_degrees"] + 10


@pytest.mark.parametrize("eps", [0.1, 0.175])
def test_shapes3d_original_is_aligned_and_the_oblique_twin_is_not(full_grids, eps):
    from disentangle_bench.perturbations import ObliqueStripes

    shapes = full_grids[1]
    original = local_variance_structure(shapes, num_points=32).summary()
    perturbed = local_variance_structure(
        ObliqueStripes(eps=eps).apply(shapes), num_points=32
    ).summary()
    # Each hue colours its own region: the Gram matrix is diagonal, the eigenvectors are the axes.
    assert original["gram_axis_distance"] < 0.5
    assert original["mean_oblique_advantage"] == pytest.approx(0.0, abs=0.02)
    assert perturbed["gram_axis_distance"] > 1.0
    assert perturbed["mean_oblique_advantage"] > 0.4


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
    assert "| eps | gram_axis_distance |" in out
    import json

    report = json.loads(prefix.with_suffix(".json").read_text())
    assert [row["eps"] for row in report["sweep"]] == [0.0, 0.1]
    assert report["perturbation"] == "oblique"
    image = decode_png(prefix.with_suffix(".png").read_bytes())
    assert image.ndim == 3 and image.shape[2] == 3 and image.std() > 0
    assert main(["datasets", "inspect", "dsprites_small", "--variance", "--eps", "x"]) == 2
