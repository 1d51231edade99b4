"""``principal_alignment``: which directions an encoder's latents read, the data's local principal
directions or the factor axes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from dlib_fixtures import parity

from disentangle_bench.data.linear import LinearData
from disentangle_bench.diagnostics.principal_alignment import (
    PrincipalAlignment,
    alignment_to_basis,
    principal_alignment,
)
from disentangle_bench.diagnostics.probe import all_observations
from disentangle_bench.diagnostics.steps import axis_steps, principal_directions, select_factors
from disentangle_bench.perturbations.linear_mix import LinearMix
from disentangle_bench.registry import Registry

C = 1 / math.sqrt(2)
ROTATION = np.array([[C, -C], [C, C]])


def _repeat(matrix: np.ndarray, n: int = 3) -> np.ndarray:
    return np.broadcast_to(matrix, (n, *matrix.shape)).copy()


def test_core_on_analytic_cases():
    identity = _repeat(np.eye(2))
    rotated = _repeat(ROTATION)
    # Latents that read the factors, with aligned principal directions: both 1.
    assert principal_alignment(_repeat(np.diag([2.0, 0.5])), identity) == pytest.approx(
        {"principal_alignment": 1.0, "factor_alignment": 1.0}
    )
    # Principal directions at 45 degrees: latents reading the factors split evenly over them.
    reads_factors = principal_alignment(_repeat(np.diag([2.0, 0.5])), rotated)
    assert reads_factors == pytest.approx({"principal_alignment": 0.5, "factor_alignment": 1.0})
    # Latents that read the principal directions (rows of C = columns of V, scaled and signed).
    reads_principal = principal_alignment(_repeat(np.diag([3.0, -1.0]) @ ROTATION.T), rotated)
    assert reads_principal == pytest.approx({"principal_alignment": 1.0, "factor_alignment": 0.5})


def test_alignment_is_energy_weighted_and_bounded():
    # One latent reads factor 0 with energy 9, one reads an even mix with energy 1.
    responses = np.array([[[3.0, 0.0], [C, C]]])
    assert alignment_to_basis(responses) == pytest.approx((9.0 + 0.5) / 10.0)
    rs = np.random.RandomState(0)
    responses = rs.randn(50, 4, 3)
    bases = np.linalg.qr(rs.randn(50, 3, 3))[0]
    for value in principal_alignment(responses, bases).values():
        assert 1 / 3 <= value <= 1.0


def test_core_rejects_bad_input():
    with pytest.raises(ValueError, match="non-empty"):
        principal_alignment(np.zeros((3, 2)), _repeat(np.eye(2)))
    with pytest.raises(ValueError, match=r"must have shape \(3, 2, 2\)"):
        principal_alignment(np.ones((3, 1, 2)), _repeat(np.eye(3)))
    with pytest.raises(ValueError, match="finite"):
        principal_alignment(np.full((3, 1, 2), np.nan), _repeat(np.eye(2)))
    with pytest.raises(ValueError, match="orthonormal"):
        principal_alignment(np.ones((3, 1, 2)), _repeat(2 * np.eye(2)))
    with pytest.warns(RuntimeWarning, match="no latent responds"):
        result = principal_alignment(np.zeros((3, 1, 2)), _repeat(np.eye(2)))
    assert math.isnan(result["principal_alignment"]) and math.isnan(result["factor_alignment"])


def test_axis_steps_and_principal_directions_of_linear_data():
    data = LinearData()
    steps = axis_steps(data, 5, np.random.RandomState(0))
    assert steps.factors == (0, 1, 2, 3)
    assert steps.origin.shape == (5, 1, 1, 32) and steps.stepped.shape == (4, 5, 1, 1, 32)
    assert np.all(steps.base[:, :4] >= 1) and np.all(steps.base[:, :4] <= 8)
    differences = steps.differences()
    # One grid step (2/9 in value) along factor k moves x by 2/9 * s_k along column k of A.
    expected = data.mixing * data.scales * (2.0 / 9.0)
    assert np.allclose(differences, expected[None], atol=1e-6)
    eigenvalues, directions = principal_directions(differences)
    assert np.allclose(eigenvalues[0], np.sort((data.scales * 2.0 / 9.0) ** 2), rtol=1e-5)
    assert np.allclose(np.abs(directions[0]), np.eye(4), atol=1e-6)  # scales ascend: V = I


def test_factor_selection():
    data = LinearData()
    assert select_factors(data, ["w2", "w0"]) == [0, 2]
    with pytest.raises(ValueError, match="unknown factors"):
        select_factors(data, ["w9"])
    with pytest.raises(ValueError, match="list of factor names"):
        select_factors(data, "w0")
    with pytest.raises(ValueError, match="at least two factors"):
        select_factors(data, ["w1"])


def _linear_encoders(data) -> dict:
    """A PCA encoder (the top principal components of all observations) and the least-squares
    factor decoder: the two extremes the diagnostic should tell apart."""
    factors, observations = all_observations(data)
    flat = observations.reshape(len(observations), -1).astype(np.float64)
    mean = flat.mean(axis=0)
    components = np.linalg.svd(flat - mean, full_matrices=False)[2][: data.num_factors]
    design = np.c_[flat, np.ones(len(flat))]
    weights = np.linalg.lstsq(design, factors.astype(np.float64), rcond=None)[0]
    return {
        "pca": lambda x: (x.reshape(len(x), -1) - mean) @ components.T,
        "factors": lambda x: np.c_[x.reshape(len(x), -1), np.ones(len(x))] @ weights,
    }


@pytest.mark.parametrize("condition", ["original", "linear_mix"])
def test_pca_and_factor_encoders_on_the_linear_data_and_its_twin(condition):
    data = LinearData()
    if condition == "linear_mix":
        data = LinearMix(eps=2.0).apply(data)
    metric = PrincipalAlignment(num_points=50)
    scores = {
        name: metric(data, encoder, np.random.RandomState(0))
        for name, encoder in _linear_encoders(data).items()
    }
    for result in scores.values():
        assert result["num_active_dims"] == 4
    if condition == "original":
        # The principal directions are the factor axes: both encoders are aligned with both.
        for result in scores.values():
            assert result["principal_alignment"] == pytest.approx(1.0, abs=1e-6)
            assert result["factor_alignment"] == pytest.approx(1.0, abs=1e-6)
    else:
        # The perturbation turned the principal directions: a PCA-like encoder follows them and
        # no longer reads single factors; an exact factor decoder does the opposite.
        assert scores["pca"]["principal_alignment"] == pytest.approx(1.0, abs=1e-6)
        assert scores["pca"]["factor_alignment"] < 0.6
        assert scores["factors"]["factor_alignment"] == pytest.approx(1.0, abs=1e-6)
        assert scores["factors"]["principal_alignment"] < 0.6


def test_inactive_latents_are_left_out():
    data = LinearData()
    pca = _linear_encoders(data)["pca"]

    def with_constant(x):
        codes = pca(x)
        return np.c_[codes, np.full(len(codes), 5.0), 1e-3 * codes[:, :1]]

    result = PrincipalAlignment(num_points=20)(data, with_constant, np.random.RandomState(0))
    assert result["num_active_dims"] == 4
    assert result["principal_alignment"] == pytest.approx(1.0, abs=1e-6)
    with pytest.warns(RuntimeWarning, match="no active latent"):
        none = PrincipalAlignment(num_points=20, active_variance_threshold=1e6)(
            data, with_constant, np.random.RandomState(0)
        )
    assert none["num_active_dims"] == 0 and math.isnan(none["principal_alignment"])


def test_plugin_parameters_and_registration():
    metric = Registry().build("metrics", "principal_alignment", num_points=7, factors=["w0", "w1"])
    assert isinstance(metric, PrincipalAlignment)
    assert metric.factors == ("w0", "w1")
    result = metric(LinearData(), _linear_encoders(LinearData())["pca"], np.random.RandomState(0))
    assert result["factor_alignment"] == pytest.approx(1.0, abs=1e-6)
    for bad in ({"num_points": 0}, {"active_variance_threshold": -1.0}, {"factors": "w0"}):
        with pytest.raises(ValueError):
            PrincipalAlignment(**bad)


def test_deterministic_under_the_metric_seed():
    data = parity.CaseData((3, 4, 5))
    rs = np.random.RandomState(3)
    matrix = rs.randn(4, 3)

    def encoder(x):
        return np.tanh(x.reshape(len(x), -1)[:, :4] @ matrix)

    first = PrincipalAlignment(num_points=10)(data, encoder, np.random.RandomState(1))
    again = PrincipalAlignment(num_points=10)(data, encoder, np.random.RandomState(1))
    assert first == again
