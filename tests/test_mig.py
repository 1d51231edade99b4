"""Tests for the MIG metric and its helpers (disentanglement_lib 1.5 semantics)."""

from __future__ import annotations

import math
from collections import Counter

import gin
import numpy as np
import pytest

from disentangle_bench.data.ground_truth import GroundTruthData
from disentangle_bench.metrics import (
    MIG,
    discrete_entropy,
    discrete_mutual_info,
    generate_batch_factor_code,
    histogram_discretize,
    make_discretizer,
    mig,
    mig_from_discretized,
)


class TinyData(GroundTruthData):
    """Three factors written into the first three pixels; the fourth pixel is random noise."""

    sizes = (4, 5, 6)

    @property
    def factor_names(self) -> tuple[str, ...]:
        return ("a", "b", "c")

    @property
    def factors_num_values(self) -> tuple[int, ...]:
        return self.sizes

    @property
    def observation_shape(self) -> tuple[int, int, int]:
        return (2, 2, 1)

    @property
    def fingerprint(self) -> str:
        return "tiny"

    def sample_observations_from_factors(
        self, factors: np.ndarray, random_state: np.random.RandomState
    ) -> np.ndarray:
        scaled = factors / (np.asarray(self.sizes) - 1.0)
        noise = random_state.uniform(size=(len(factors), 1))  # draws from the shared state
        return np.hstack([scaled, noise]).astype(np.float32).reshape(-1, 2, 2, 1)


def flatten(observations: np.ndarray) -> np.ndarray:
    return observations.reshape(len(observations), -1)


@pytest.fixture
def clean_gin():
    gin.clear_config()
    yield
    gin.clear_config()


def _entropy(x) -> float:
    n = len(x)
    return -sum(c / n * math.log(c / n) for c in Counter(x).values())


def _mutual_info(x, y) -> float:
    """Plug-in mutual information (nats) from joint and marginal counts."""
    n = len(x)
    px, py, pxy = Counter(x), Counter(y), Counter(zip(x, y, strict=True))
    return sum(c / n * math.log(c * n / (px[a] * py[b])) for (a, b), c in pxy.items())


# --- the array core -------------------------------------------------------------------------


def test_hand_computed_mig():
    f0 = [0, 0, 0, 0, 1, 1, 1, 1]
    f1 = [0, 0, 1, 1, 2, 2, 0, 1]
    c0 = [1, 1, 1, 1, 2, 2, 2, 2]
    c1 = [1, 1, 2, 2, 2, 2, 1, 2]
    c2 = [1, 2, 1, 2, 1, 2, 1, 2]
    assert _mutual_info(f0, c0) == pytest.approx(math.log(2))  # the helper itself
    codes, factors = [c0, c1, c2], [f0, f1]
    expected = []
    for f in factors:
        mi = sorted(_mutual_info(f, c) for c in codes)
        expected.append((mi[-1] - mi[-2]) / _entropy(f))
    got = mig_from_discretized(np.array(codes).T, np.array(factors).T)
    assert got["discrete_mig"] == pytest.approx(np.mean(expected), rel=1e-12)
    m = discrete_mutual_info(np.array(codes).T, np.array(factors).T)
    assert m.shape == (3, 2)
    assert m == pytest.approx(np.array([[_mutual_info(f, c) for f in factors] for c in codes]))
    assert discrete_entropy(np.array(factors).T) == pytest.approx([_entropy(f) for f in factors])


def _random_factors(rs: np.random.RandomState, sizes, n: int) -> np.ndarray:
    return np.stack([rs.randint(s, size=n) for s in sizes], axis=1)


def test_perfect_code_scores_high():
    rs = np.random.RandomState(0)
    factors = _random_factors(rs, (5, 7, 10), 4000)
    codes = factors + 1e-3 * rs.randn(*factors.shape)
    codes = np.hstack([codes, rs.randn(4000, 2)])  # two uninformative dimensions
    assert mig(codes, factors)["discrete_mig"] > 0.9


def test_duplicated_code_scores_zero():
    rs = np.random.RandomState(1)
    factor = rs.randint(8, size=(2000, 1))
    code = factor + 1e-3 * rs.randn(2000, 1)
    assert mig(np.hstack([code, code]), factor)["discrete_mig"] == 0.0
    # Full grid of two independent factors, the first factor's code duplicated: (0 + 1) / 2.
    grid = np.stack(np.meshgrid(np.arange(6), np.arange(6), indexing="ij"), -1).reshape(-1, 2)
    grid = np.repeat(grid, 3, axis=0)
    codes = grid[:, [0, 0, 1]] + 1.0
    assert mig_from_discretized(codes, grid)["discrete_mig"] == pytest.approx(0.5, abs=1e-12)


def test_rotated_code_scores_low():
    rs = np.random.RandomState(2)
    factors = _random_factors(rs, (10, 10), 5000)
    centred = factors - 4.5
    codes = np.stack([centred[:, 0] + centred[:, 1], centred[:, 0] - centred[:, 1]], 1)
    assert mig(codes / np.sqrt(2), factors)["discrete_mig"] < 0.3


def test_single_valued_factor_is_nan_with_warning():
    rs = np.random.RandomState(3)
    factors = np.hstack([rs.randint(3, size=(500, 1)), np.zeros((500, 1), dtype=int)])
    with pytest.warns(RuntimeWarning, match="single value"):
        result = mig(rs.randn(500, 3), factors)
    assert math.isnan(result["discrete_mig"])


@pytest.mark.parametrize(
    ("codes", "factors", "match"),
    [
        (np.zeros((10,)), np.zeros((10, 1)), "2-D"),
        (np.zeros((10, 2)), np.zeros((10,)), "2-D"),
        (np.zeros((10, 2)), np.zeros((9, 1)), "samples"),
        (np.zeros((10, 1)), np.zeros((10, 1)), "at least 2 code"),
        (np.zeros((10, 2)), np.zeros((10, 0)), "at least one factor"),
        (np.full((10, 2), np.nan), np.zeros((10, 1)), "non-finite"),
    ],
)
def test_mig_bad_input(codes, factors, match):
    with pytest.raises(ValueError, match=match):
        mig(codes, factors)


# --- helpers --------------------------------------------------------------------------------


def _naive_histogram_discretize(x: np.ndarray, num_bins: int) -> np.ndarray:
    """Equal-width bins over [min, max]; bin = number of left edges <= value."""
    out = np.empty(x.shape, dtype=np.int64)
    for j in range(x.shape[1]):
        lo, hi = x[:, j].min(), x[:, j].max()
        left_edges = np.linspace(lo, hi, num_bins + 1)[:-1]
        out[:, j] = (x[:, j, None] >= left_edges[None, :]).sum(axis=1)
    return out


@pytest.mark.parametrize("num_bins", [1, 5, 20])
def test_histogram_discretize_matches_naive(num_bins):
    x = np.random.RandomState(4).randn(1000, 4) * [1.0, 10.0, 0.1, 3.0]
    got = histogram_discretize(x, num_bins)
    assert got.dtype == x.dtype  # reference writes into np.zeros_like(target)
    np.testing.assert_array_equal(got, _naive_histogram_discretize(x, num_bins))
    assert got.min() == 1 and got.max() == num_bins


def test_histogram_discretize_dtypes_and_errors():
    x = np.random.RandomState(5).randn(50, 2).astype(np.float32)
    assert histogram_discretize(x).dtype == np.float32
    assert histogram_discretize(np.arange(40).reshape(20, 2)).dtype.kind == "i"
    assert np.unique(histogram_discretize(np.ones((7, 1)))).tolist() == [11]  # numpy's +-0.5
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="num_bins"):
            histogram_discretize(x, bad)


def test_generate_batch_factor_code_matches_reference_draws():
    data, batch_sizes = TinyData(), []

    def rep(obs):
        batch_sizes.append(len(obs))
        return flatten(obs) * 2.0

    codes, factors = generate_batch_factor_code(data, rep, 37, np.random.RandomState(7), 8)
    assert codes.shape == (37, 4) and factors.shape == (37, 3)
    assert batch_sizes == [8, 8, 8, 8, 5]
    rs = np.random.RandomState(7)
    manual_codes, manual_factors = [], []
    for n in (8, 8, 8, 8, 5):
        f, obs = data.sample(n, rs)
        manual_factors.append(f)
        manual_codes.append(flatten(obs) * 2.0)
    np.testing.assert_array_equal(codes, np.vstack(manual_codes))
    np.testing.assert_array_equal(factors, np.vstack(manual_factors))


def test_generate_batch_factor_code_bad_representation():
    with pytest.raises(ValueError, match="representation_function"):
        generate_batch_factor_code(
            TinyData(), lambda o: o.reshape(-1), 10, np.random.RandomState(0), 4
        )


# --- the plugin -----------------------------------------------------------------------------


def test_plugin_score_reproducible_and_equal_to_core(clean_gin):
    metric = MIG(num_train=600, batch_size=16)
    result = metric(TinyData(), flatten, np.random.RandomState(11))
    assert set(result) == set(MIG.result_keys) == {"discrete_mig"}
    score = result["discrete_mig"]
    assert type(score) is float and 0.0 <= score <= 1.0
    assert score > 0.8
    assert metric(TinyData(), flatten, np.random.RandomState(11))["discrete_mig"] == score
    codes, factors = generate_batch_factor_code(
        TinyData(), flatten, 600, np.random.RandomState(11), 16
    )
    assert mig(codes, factors)["discrete_mig"] == score


def test_plugin_defaults(clean_gin):
    metric = MIG()
    assert (metric.num_train, metric.batch_size, metric.name) == (10000, 16, "mig")
    score = metric(TinyData(), flatten, np.random.RandomState(0))["discrete_mig"]
    assert 0.9 < score <= 1.0


def test_plugin_respects_gin_discretizer(clean_gin):
    metric = MIG(num_train=600)
    default = metric(TinyData(), flatten, np.random.RandomState(11))["discrete_mig"]
    gin.parse_config(
        "discretizer.num_bins = 2\ndiscretizer.discretizer_fn = @histogram_discretizer"
    )
    coarse = metric(TinyData(), flatten, np.random.RandomState(11))["discrete_mig"]
    codes, factors = generate_batch_factor_code(
        TinyData(), flatten, 600, np.random.RandomState(11), 16
    )
    assert coarse == mig(codes, factors, num_bins=2)["discrete_mig"]
    assert coarse < default
    assert make_discretizer(np.arange(10.0).reshape(5, 2)).max() == 2

    calls = []

    def spy(target, num_bins):
        calls.append(num_bins)
        return histogram_discretize(target, num_bins)

    gin.bind_parameter("discretizer.discretizer_fn", spy)
    assert metric(TinyData(), flatten, np.random.RandomState(11))["discrete_mig"] == coarse
    assert calls == [2]


def test_core_takes_a_bound_discretizer(clean_gin):
    codes, factors = generate_batch_factor_code(
        TinyData(), flatten, 600, np.random.RandomState(11), 16
    )
    seen = []

    def coarse(target):
        seen.append(target.shape)
        return histogram_discretize(target, 2)

    assert mig(codes, factors, discretizer=coarse) == mig(codes, factors, num_bins=2)
    assert seen == [codes.shape]
    # The gin-bound discretiser is what the plugin passes in.
    gin.parse_config("discretizer.num_bins = 3")
    assert mig(codes, factors, discretizer=make_discretizer) == mig(codes, factors, num_bins=3)
    with pytest.raises(ValueError, match="discretizer returned shape"):
        mig(codes, factors, discretizer=lambda target: target[:, :1])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"num_train": 0},
        {"num_train": -5},
        {"num_train": 10.5},
        {"num_train": True},
        {"batch_size": 0},
        {"batch_size": "16"},
    ],
)
def test_plugin_bad_parameters(kwargs):
    with pytest.raises(ValueError, match="positive integer"):
        MIG(**kwargs)
