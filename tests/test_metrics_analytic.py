"""Analytic and limiting cases of the metric suite: numbers that follow from the definitions."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from dlib_fixtures import cases, parity

from disentangle_bench.metrics import (
    DCI,
    IRS,
    BetaVAESklearn,
    DCIFast,
    FactorVAEScore,
    ModularityExplicitness,
    SAPScore,
    UnsupervisedMetrics,
    beta_vae_features,
    beta_vae_sklearn,
    completeness,
    compute_avg_diff_top_two,
    dci,
    dci_fast,
    disentanglement,
    disentanglement_per_code,
    distance_to_signed_permutation,
    factor_vae_score,
    factor_vae_score_from_batches,
    gaussian_total_correlation,
    gaussian_wasserstein_correlation,
    histogram_discretize,
    irs,
    jacobian_orthogonality,
    mig,
    modularity,
    modularity_explicitness,
    sap_score,
    unsupervised_metrics,
)


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.filterwarnings("ignore", message=".*converge.*")
        yield


def _grid_sample(rs, sizes, n):
    return np.stack([rs.randint(s, size=n) for s in sizes], axis=1)


def _split(rs, sizes, n_train, n_test, code):
    factors = _grid_sample(rs, sizes, n_train + n_test)
    codes = code(factors, rs)
    return codes[:n_train], factors[:n_train], codes[n_train:], factors[n_train:]


def _perfect(factors, rs):
    return (factors + 0.01 * rs.randn(*factors.shape)).astype(np.float32)


def _rotated(factors, rs):
    centred = factors - factors.mean(axis=0)
    angle = np.pi / 4
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return (centred @ rotation + 0.01 * rs.randn(*factors.shape)).astype(np.float32)


# --- DCI ------------------------------------------------------------------------------------


def test_dci_one_code_explaining_two_of_ten_factors_equally():
    importance = np.zeros((1, 10))
    importance[0, :2] = 0.5
    expected = 1.0 - math.log(2) / math.log(10)
    assert disentanglement_per_code(importance)[0] == pytest.approx(expected, abs=1e-9)
    assert disentanglement(importance) == pytest.approx(expected, abs=1e-9)
    # Alongside perfectly disentangled codes it is weighted by its share of importance.
    importance = np.vstack([importance, np.eye(10)[2:]])
    share = 1.0 / 9.0
    # (the reference's 1e-11 smoothing moves the perfect codes' scores by about 1e-9)
    assert disentanglement(importance) == pytest.approx(share * expected + (1 - share), abs=1e-8)


def test_dci_importance_limits():
    assert disentanglement(np.eye(4)) == pytest.approx(1.0, abs=1e-9)
    assert completeness(np.eye(4)) == pytest.approx(1.0, abs=1e-9)
    assert disentanglement(np.ones((4, 4))) == pytest.approx(0.0, abs=1e-9)
    assert completeness(np.ones((4, 4))) == pytest.approx(0.0, abs=1e-9)
    # All-zero importance: the reference falls back to uniform weights (entropy of the
    # 1e-11 smoothing: uniform, so 0).
    assert disentanglement(np.zeros((3, 2))) == pytest.approx(0.0, abs=1e-9)
    # One code for both factors, one unused: complete (C = 1), not disentangled (D = 0).
    one_for_two = np.array([[1.0, 1.0], [0.0, 0.0]])
    assert completeness(one_for_two) == pytest.approx(1.0, abs=1e-9)
    assert disentanglement(one_for_two) == pytest.approx(0.0, abs=1e-9)


def test_dci_perfect_code_high_rotated_code_low():
    rs = np.random.RandomState(0)
    perfect = dci(*_split(rs, (3, 4), 200, 100, _perfect), random_state=0)
    assert perfect["disentanglement"] > 0.95 and perfect["completeness"] > 0.95
    assert perfect["informativeness_test"] > 0.95
    rotated = dci(*_split(rs, (3, 4), 200, 100, _rotated), random_state=0)
    assert rotated["disentanglement"] < 0.5 and rotated["completeness"] < 0.5
    fast = dci_fast(*_split(np.random.RandomState(0), (3, 4), 200, 100, _perfect), random_state=0)
    assert set(fast) == set(perfect)
    assert fast["disentanglement"] > 0.95 and fast["completeness"] > 0.95


def test_dci_is_reproducible_from_the_seed_and_fast_variant_is_close():
    data, rep = parity.CaseData((3, 4, 5)), cases.noisy
    metric = DCI(num_train=150, num_test=50)
    first = metric(data, rep, np.random.RandomState(3))
    assert first == metric(data, rep, np.random.RandomState(3))
    fast = DCIFast(num_train=150, num_test=50)(data, rep, np.random.RandomState(3))
    assert set(fast) == set(first)
    for key in first:
        assert fast[key] == pytest.approx(first[key], abs=0.1), key


# --- MIG, modularity ------------------------------------------------------------------------


def test_modularity_from_mutual_information():
    # Codes (a, a, b) for factors (a, b): every code informs about one factor only.
    assert modularity(np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 0.7]])) == 1.0
    # A code that mixes two factors equally: delta = m^2 / m^2 = 1, modularity 0.
    assert modularity(np.array([[0.5, 0.5]])) == 0.0
    # An uninformative code scores 0 (the reference's special case).
    assert modularity(np.array([[0.0, 0.0], [1.0, 0.0]])) == 0.5


def test_duplicated_code_keeps_modularity_but_loses_mig():
    rs = np.random.RandomState(1)
    factors = _grid_sample(rs, (6, 6), 3000)
    codes = (factors[:, [0, 0, 1]] + 0.01 * rs.randn(3000, 3)).astype(np.float32)
    result = modularity_explicitness(codes[:2000], factors[:2000], codes[2000:], factors[2000:])
    assert result["modularity_score"] > 0.99
    assert result["explicitness_score_test"] > 0.99
    assert mig(codes, factors)["discrete_mig"] < 0.6  # factor 0's gap is about 0


def test_perfect_code_mig_high_rotated_low():
    rs = np.random.RandomState(2)
    factors = _grid_sample(rs, (8, 8), 4000)
    assert mig(_perfect(factors, rs), factors)["discrete_mig"] > 0.9
    assert mig(_rotated(factors, rs), factors)["discrete_mig"] < 0.3


# --- SAP, IRS -------------------------------------------------------------------------------


def test_sap_continuous_linear_code_is_one():
    # A full grid of continuous values: the factors are exactly uncorrelated.
    axes = np.meshgrid(np.linspace(0, 1, 7), np.linspace(-2, 3, 6), np.linspace(5, 6, 5))
    factors = np.stack([axis.ravel() for axis in axes], axis=1)
    codes = np.hstack([2.0 * factors + 1.0, np.zeros((len(factors), 1))])
    result = sap_score(codes, factors, codes, factors, continuous_factors=True)
    assert result["SAP_score"] == pytest.approx(1.0, abs=1e-9)
    assert compute_avg_diff_top_two(np.array([[0.9, 0.2], [0.1, 0.6], [0.0, 0.5]])) == (
        pytest.approx(((0.9 - 0.1) + (0.6 - 0.5)) / 2)
    )


def test_sap_discrete_perfect_above_rotated():
    rs = np.random.RandomState(4)
    perfect = sap_score(*_split(rs, (4, 5), 1000, 500, _perfect))["SAP_score"]
    rotated = sap_score(*_split(rs, (4, 5), 1000, 500, _rotated))["SAP_score"]
    assert perfect > 0.35 and rotated < 0.15


def test_irs_perfect_code_is_one_and_rotation_lowers_it():
    rs = np.random.RandomState(5)
    factors = _grid_sample(rs, (4, 5), 2000)
    exact = factors.astype(np.float64) * [1.0, -2.0]
    assert irs(exact, factors)["IRS"] == pytest.approx(1.0, abs=1e-12)
    assert irs(_rotated(factors, rs), factors)["IRS"] < 0.7
    # Continuous factors are binned (20 bins), so IRS accepts them.
    continuous = rs.rand(2000, 2)
    assert irs(continuous * [3.0, 1.0], continuous)["IRS"] > 0.9


# --- unsupervised ---------------------------------------------------------------------------


@pytest.mark.parametrize("rho", [0.0, 0.3, -0.8])
def test_gaussian_correlations_of_a_bivariate_gaussian(rho):
    cov = np.array([[1.0, rho], [rho, 1.0]])
    assert gaussian_total_correlation(cov) == pytest.approx(-0.5 * math.log(1 - rho**2))
    wasserstein = 4.0 - 2.0 * (math.sqrt(1 + rho) + math.sqrt(1 - rho))
    assert gaussian_wasserstein_correlation(cov) == pytest.approx(wasserstein, abs=1e-12)


def test_unsupervised_scores_of_independent_and_correlated_codes():
    rs = np.random.RandomState(6)
    independent = rs.randn(20000, 3)
    scores = unsupervised_metrics(independent)
    assert scores["gaussian_total_correlation"] < 1e-3
    assert scores["gaussian_wasserstein_correlation_norm"] < 1e-3
    assert scores["mutual_info_score"] < 0.02
    mixed = independent @ np.array([[1.0, 0.9, 0.0], [0.0, 0.4, 0.0], [0.0, 0.0, 1.0]])
    correlated = unsupervised_metrics(mixed)
    rho = 0.9 / math.sqrt(0.81 + 0.16)
    assert correlated["gaussian_total_correlation"] == pytest.approx(
        -0.5 * math.log(1 - rho**2), rel=0.05
    )
    assert correlated["mutual_info_score"] > scores["mutual_info_score"] + 0.1


# --- interventional metrics -----------------------------------------------------------------


def test_beta_vae_and_factor_vae_scores_of_perfect_and_rotated_codes():
    data = parity.CaseData((3, 4, 5))
    beta = BetaVAESklearn(batch_size=16, num_train=100, num_eval=50)
    factor = FactorVAEScore(batch_size=16, num_train=100, num_eval=50, num_variance_estimate=300)
    for metric in (beta, factor):
        assert metric(data, cases.perfect, np.random.RandomState(0))["eval_accuracy"] == 1.0
        rotated = metric(data, cases.rotated, np.random.RandomState(0))
        assert rotated["eval_accuracy"] < 0.9


def test_factor_vae_array_core():
    rs = np.random.RandomState(7)
    sizes = (3, 4)
    # A perfect code: batches with factor k fixed have zero variance in code k.
    batches, labels = [], []
    for _ in range(40):
        k = rs.randint(2)
        factors = _grid_sample(rs, sizes, 16)
        factors[:, k] = factors[0, k]
        batches.append(factors.astype(np.float64))
        labels.append(k)
    variance_codes = _grid_sample(rs, sizes, 500).astype(np.float64)
    result = factor_vae_score(
        variance_codes, np.array(batches), np.array(labels), np.array(batches), np.array(labels), 2
    )
    assert result == {"train_accuracy": 1.0, "eval_accuracy": 1.0, "num_active_dims": 2}
    with pytest.warns(RuntimeWarning, match="no code dimension"):
        collapsed = factor_vae_score(
            variance_codes * 1e-4,
            np.array(batches),
            np.array(labels),
            np.array(batches),
            np.array(labels),
            2,
        )
    assert collapsed == {"train_accuracy": 0.0, "eval_accuracy": 0.0, "num_active_dims": 0}


def test_beta_vae_features_and_classifier_values():
    # Batches that agree on factor k: the code of k does not change within a pair.
    rs = np.random.RandomState(9)
    labels = np.arange(30) % 3
    codes1 = rs.rand(30, 8, 3)
    codes2 = rs.rand(30, 8, 3)
    codes2[np.arange(30), :, labels] = codes1[np.arange(30), :, labels]
    features = beta_vae_features(codes1, codes2)
    assert features.shape == (30, 3)
    assert np.all(features[np.arange(30), labels] == 0.0)
    assert features[0, 1] == pytest.approx(np.mean(np.abs(codes1[0, :, 1] - codes2[0, :, 1])))
    # Separable features: every fixed factor is recognised.
    assert beta_vae_sklearn(features, labels, features[:9], labels[:9], random_state=0) == {
        "train_accuracy": 1.0,
        "eval_accuracy": 1.0,
    }
    # Uninformative features: the regression predicts the majority class (its prior).
    same = np.ones((4, 2))
    result = beta_vae_sklearn(same, np.array([0, 0, 0, 1]), same, np.array([1, 1, 0, 0]))
    assert result == {"train_accuracy": 0.75, "eval_accuracy": 0.5}


def _batch(rs, low_dim, size=8, dims=3):
    """A batch whose dimension ``low_dim`` barely varies (it wins the vote)."""
    codes = rs.randn(size, dims)
    codes[:, low_dim] *= 1e-3
    return codes


def test_factor_vae_score_hand_counted_votes():
    rs = np.random.RandomState(10)
    variance_codes = rs.randn(2000, 3)
    # Training votes: factor 0 -> dim 0 twice; factor 1 -> dim 1 twice and dim 0 once.
    train = [(0, 0), (0, 0), (1, 1), (1, 1), (1, 0)]
    # The classifier maps dim 0 to factor 0 (2 votes against 1) and dim 1 to factor 1.
    evaluation = [(0, 0), (1, 1), (1, 0), (0, 1)]
    train_codes = np.stack([_batch(rs, dim) for _, dim in train])
    eval_codes = np.stack([_batch(rs, dim) for _, dim in evaluation])
    train_labels = np.array([k for k, _ in train])
    eval_labels = np.array([k for k, _ in evaluation])
    result = factor_vae_score(
        variance_codes, train_codes, train_labels, eval_codes, eval_labels, num_factors=2
    )
    assert result == {"train_accuracy": 4 / 5, "eval_accuracy": 2 / 4, "num_active_dims": 3}
    # The gin-style helper: a prune function that drops dimension 0. The vote index counts the
    # active dimensions only (reference quirk), so dim 1 now votes in column 0.
    pruned = factor_vae_score(
        variance_codes,
        train_codes,
        train_labels,
        eval_codes,
        eval_labels,
        num_factors=2,
        prune=lambda variances: np.array([False, True, True]),
    )
    assert pruned["num_active_dims"] == 3
    assert pruned != result
    # A threshold above every standard deviation leaves no active dimension.
    with pytest.warns(RuntimeWarning, match="no code dimension"):
        none = factor_vae_score(
            variance_codes, train_codes, train_labels, eval_codes, eval_labels, 2, threshold=2.0
        )
    assert none == {"train_accuracy": 0.0, "eval_accuracy": 0.0, "num_active_dims": 0}


def test_factor_vae_batches_are_read_lazily_in_order():
    rs = np.random.RandomState(11)
    variance_codes = rs.randn(500, 2)
    read = []

    def batches(name, count):
        for i in range(count):
            read.append(name)
            yield i % 2, _batch(rs, i % 2, dims=2)

    result = factor_vae_score_from_batches(
        variance_codes, batches("train", 4), batches("eval", 2), num_factors=2
    )
    assert result == {"train_accuracy": 1.0, "eval_accuracy": 1.0, "num_active_dims": 2}
    assert read == ["train"] * 4 + ["eval"] * 2
    # No active dimension: no batch is read (the plugin then draws nothing, as the reference).
    read.clear()
    with pytest.warns(RuntimeWarning):
        factor_vae_score_from_batches(
            variance_codes * 1e-3, batches("train", 4), batches("eval", 2), num_factors=2
        )
    assert read == []


def test_cores_take_a_bound_discretizer():
    rs = np.random.RandomState(12)
    factors = _grid_sample(rs, (4, 5), 600)
    codes = _perfect(factors, rs) + 0.3 * rs.randn(600, 2).astype(np.float32)
    train, test = slice(0, 400), slice(400, 600)

    def five_bins(target):
        return histogram_discretize(target, 5)

    split = (codes[train], factors[train], codes[test], factors[test])
    assert modularity_explicitness(*split, discretizer=five_bins) == modularity_explicitness(
        *split, num_bins=5
    )
    assert irs(codes, factors, discretizer=five_bins) == irs(codes, factors, num_bins=5)
    assert unsupervised_metrics(codes, discretizer=five_bins) == unsupervised_metrics(
        codes, num_bins=5
    )
    assert unsupervised_metrics(codes, num_bins=5) != unsupervised_metrics(codes)


def test_reference_quirks_are_kept_and_documented():
    data = parity.CaseData((3, 4, 5))
    # FactorVAE: num_active_dims counts all code dimensions (len of the mask), as the reference.
    partial = FactorVAEScore(batch_size=8, num_train=20, num_eval=10, num_variance_estimate=100)
    assert partial(data, cases.partial, np.random.RandomState(0))["num_active_dims"] == 4
    # IRS: num_active_dims is the sum of the active codes' values, as the reference.
    codes = np.array([[1.0, 5.0], [2.0, 5.0], [4.0, 5.0]])
    factors = np.array([[0], [1], [2]])
    assert irs(codes, factors)["num_active_dims"] == 7.0


def test_plugins_on_the_perfect_case_data():
    data = parity.CaseData((3, 4, 5))
    rs = np.random.RandomState
    assert SAPScore(num_train=300, num_test=200)(data, cases.perfect, rs(0))["SAP_score"] > 0.3
    assert IRS(num_train=300)(data, cases.perfect, rs(0))["IRS"] > 0.99
    me = ModularityExplicitness(num_train=300, num_test=200)(data, cases.perfect, rs(0))
    assert me["modularity_score"] > 0.99 and me["explicitness_score_test"] > 0.99
    un = UnsupervisedMetrics(num_train=500)(data, cases.perfect, rs(0))
    assert un["gaussian_total_correlation"] < 0.05


# --- decoder Jacobian -----------------------------------------------------------------------


def test_distance_to_signed_permutation():
    assert distance_to_signed_permutation(np.eye(3)) == 0.0
    assert distance_to_signed_permutation(-np.eye(3)[[2, 0, 1]]) == 0.0
    c = 1 / math.sqrt(2)
    rotation = np.array([[c, -c], [c, c]])
    assert distance_to_signed_permutation(rotation) == pytest.approx(
        math.sqrt(4 - 2 * math.sqrt(2))
    )


def test_jacobian_orthogonality_of_linear_decoders():
    rs = np.random.RandomState(8)
    q, _ = np.linalg.qr(rs.randn(50, 2))
    aligned = q * [3.0, 1.0]  # orthogonal columns: V is a signed permutation
    c = 1 / math.sqrt(2)
    rotated = q @ np.diag([3.0, 1.0]) @ np.array([[c, -c], [c, c]]).T
    assert jacobian_orthogonality(aligned[None])["distance_to_orthogonality"] == pytest.approx(
        0.0, abs=1e-9
    )
    result = jacobian_orthogonality(np.stack([rotated, rotated]))
    assert result["distance_to_orthogonality"] == pytest.approx(math.sqrt(4 - 2 * math.sqrt(2)))
    assert result["num_active_dims"] == 2
