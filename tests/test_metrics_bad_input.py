"""Bad input gives one clear ValueError (or a documented score), never a crash deep inside
scikit-learn."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from dlib_fixtures import cases, parity

from disentangle_bench.diagnostics.plugin import BUILTIN as DIAGNOSTIC_BUILTINS
from disentangle_bench.metrics import (
    DCI,
    IRS,
    MIG,
    BetaVAESklearn,
    DCIFast,
    DownstreamTask,
    FactorVAEScore,
    JacobianOrthogonality,
    ModularityExplicitness,
    SAPScore,
    UnsupervisedMetrics,
    beta_vae_sklearn,
    dci,
    dci_fast,
    downstream_task,
    factor_vae_votes,
    irs,
    modularity_explicitness,
    sap_score,
    unsupervised_metrics,
)
from disentangle_bench.metrics.plugin import BUILTIN as METRIC_BUILTINS

BUILTIN = (*METRIC_BUILTINS, *DIAGNOSTIC_BUILTINS)

SMALL = {
    "beta_vae_sklearn": {"batch_size": 4, "num_train": 10, "num_eval": 5},
    "factor_vae_score": {
        "batch_size": 4,
        "num_train": 10,
        "num_eval": 5,
        "num_variance_estimate": 20,
    },
    "mig": {"num_train": 20},
    "dci": {"num_train": 20, "num_test": 10},
    "dci_fast": {"num_train": 20, "num_test": 10},
    "sap_score": {"num_train": 20, "num_test": 10},
    "modularity_explicitness": {"num_train": 20, "num_test": 10},
    "irs": {"num_train": 20},
    "unsupervised_metrics": {"num_train": 20},
    "downstream_task": {"num_train": [20], "num_test": 10},
    "downstream_task_logistic_regression": {"num_train": [20], "num_test": 10},
    "downstream_task_boosted_trees": {"num_train": [20], "num_test": 10},
    "downstream_task_boosted_trees_fast": {"num_train": [20], "num_test": 10},
    "jacobian_orthogonality": {"num_train": 20, "num_points": 5},
    "principal_alignment": {"num_points": 5},
}
SAMPLING = [factory for factory in BUILTIN if factory.name != "jacobian_orthogonality"]


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.filterwarnings("ignore", message=".*converge.*")
        yield


def test_every_builtin_has_small_parameters_here():
    assert {factory.name for factory in BUILTIN} == set(SMALL)


def _wrong_batch(observations):
    return np.zeros((len(observations) + 1, 3), dtype=np.float32)


def _nan_codes(observations):
    codes = cases.perfect(observations)
    codes[0, 0] = np.nan
    return codes


def _inf_codes(observations):
    codes = cases.perfect(observations)
    codes[-1, -1] = np.inf
    return codes


def _flat_codes(observations):
    return cases.perfect(observations).reshape(-1)


def _strings(observations):
    return np.full((len(observations), 2), "a")


@pytest.mark.parametrize("factory", SAMPLING, ids=lambda f: f.name)
@pytest.mark.parametrize(
    ("representation", "match"),
    [
        (_wrong_batch, r"must return an \(\d+, D\) array"),
        (_flat_codes, r"must return an \(\d+, D\) array"),
        (_nan_codes, "NaN or infinite"),
        (_inf_codes, "NaN or infinite"),
        (_strings, "not numbers"),
    ],
    ids=["wrong-batch-size", "1-d", "nan", "inf", "strings"],
)
def test_bad_representation_function(factory, representation, match):
    metric = factory(**SMALL[factory.name])
    with pytest.raises(ValueError, match=match):
        metric(parity.CaseData((3, 4)), representation, np.random.RandomState(0))


@pytest.mark.parametrize(
    "core",
    [
        lambda c, f: dci(c, f, c, f),
        lambda c, f: dci_fast(c, f, c, f),
        lambda c, f: sap_score(c, f, c, f),
        lambda c, f: modularity_explicitness(c, f, c, f),
        lambda c, f: downstream_task(c, f, c, f),
        lambda c, f: irs(c, f),
    ],
    ids=["dci", "dci_fast", "sap", "modularity", "downstream", "irs"],
)
@pytest.mark.parametrize(
    ("codes", "factors", "match"),
    [
        (np.full((10, 2), np.nan), np.zeros((10, 1), int), "NaN or infinite"),
        (np.ones((10,)), np.zeros((10, 1), int), "2-D"),
        (np.ones((10, 2)), np.zeros((9, 1), int), "samples|factors"),
        (np.ones((10, 2)), np.zeros((10, 0), int), "at least one factor|at least 2"),
        (np.array([["x", "y"]] * 10), np.zeros((10, 1), int), "numeric"),
    ],
    ids=["nan", "1-d", "length", "no-factor", "strings"],
)
def test_array_cores_reject_bad_arrays(core, codes, factors, match):
    with pytest.raises(ValueError, match=match):
        core(codes, factors)


@pytest.mark.parametrize(
    ("codes", "match"),
    [
        (np.full((10, 2), np.inf), "NaN or infinite"),
        (np.ones((10,)), "2-D"),
        (np.array([["x", "y"]] * 10), "numeric"),
        (np.ones((1, 2)), "at least 2 samples"),
    ],
)
def test_unsupervised_rejects_bad_codes(codes, match):
    with pytest.raises(ValueError, match=match):
        unsupervised_metrics(codes)


def _sample(sizes=(3, 4), n=60, seed=0):
    rs = np.random.RandomState(seed)
    factors = np.stack([rs.randint(s, size=n) for s in sizes], axis=1)
    return (factors + 0.1 * rs.rand(n, len(sizes))).astype(np.float32), factors


@pytest.mark.parametrize(
    "core",
    [
        lambda c, f: dci(c, f, c, f),
        lambda c, f: sap_score(c, f, c, f),
        lambda c, f: modularity_explicitness(c, f, c, f),
        lambda c, f: downstream_task(c, f, c, f),
    ],
    ids=["dci", "sap", "modularity", "downstream"],
)
def test_classifier_metrics_need_discrete_factors_with_two_classes(core):
    codes, factors = _sample()
    with pytest.raises(ValueError, match="discrete"):
        core(codes, factors + 0.5)
    single = factors.copy()
    single[:, 1] = 2
    with pytest.raises(ValueError, match="factor 1 takes a single value"):
        core(codes, single)


def test_explicitness_needs_every_training_class_in_the_test_sample():
    codes, factors = _sample(n=80)
    keep = factors[:, 0] != 2
    with pytest.raises(ValueError, match="exactly the training sample's classes"):
        modularity_explicitness(codes, factors, codes[keep], factors[keep])


def test_constant_codes():
    codes, factors = _sample()
    codes[:, 1] = 0.25
    with pytest.raises(ValueError, match=r"code dimensions \[1\] are constant"):
        modularity_explicitness(codes, factors, codes, factors)
    with pytest.raises(ValueError, match=r"code dimensions \[1\] are constant"):
        unsupervised_metrics(codes)
    # Documented scores: IRS drops constant dimensions (0 with a warning if all are).
    assert np.isfinite(irs(codes, factors)["IRS"])
    with pytest.warns(RuntimeWarning, match="constant"):
        assert irs(np.ones_like(codes), factors) == {"IRS": 0.0, "num_active_dims": 0.0}
    # FactorVAE: no active dimension -> 0 with a warning, as the reference (without warning).
    metric = FactorVAEScore(batch_size=4, num_train=5, num_eval=5, num_variance_estimate=20)
    with pytest.warns(RuntimeWarning, match="no code dimension"):
        result = metric(parity.CaseData((3, 4)), cases.collapsed, np.random.RandomState(0))
    assert result == {"train_accuracy": 0.0, "eval_accuracy": 0.0, "num_active_dims": 0}
    # DCI and SAP score constant codes fine (they carry no importance / predict one class).
    assert np.isfinite(list(dci(codes, factors, codes, factors, random_state=0).values())).all()
    assert np.isfinite(sap_score(codes, factors, codes, factors)["SAP_score"])


def test_too_few_dimensions_or_factors():
    codes, factors = _sample()
    with pytest.raises(ValueError, match="at least 2 dimension"):
        sap_score(codes[:, :1], factors, codes[:, :1], factors)
    with pytest.raises(ValueError, match="at least 2"):
        unsupervised_metrics(codes[:, :1])
    with pytest.raises(ValueError, match="at least 2 factors"):
        BetaVAESklearn(batch_size=4, num_train=5, num_eval=5)(
            parity.CaseData((3,)), cases.perfect, np.random.RandomState(0)
        )
    with pytest.warns(RuntimeWarning, match="single factor"):
        result = modularity_explicitness(codes, factors[:, :1], codes, factors[:, :1])
    assert np.isnan(result["modularity_score"])


def test_mismatched_train_and_test_arrays():
    codes, factors = _sample()
    with pytest.raises(ValueError, match="dimensions"):
        dci(codes, factors, codes[:, :1], factors)
    with pytest.raises(ValueError, match="factors"):
        sap_score(codes, factors, codes, factors[:, :1])
    with pytest.raises(ValueError, match="features"):
        beta_vae_sklearn(np.ones((5, 2)), np.arange(5), np.ones((5, 3)), np.arange(5))
    with pytest.raises(ValueError, match="one label per row"):
        beta_vae_sklearn(np.ones((5, 2)), np.arange(4), np.ones((5, 2)), np.arange(5))
    with pytest.raises(ValueError, match="batch_codes"):
        factor_vae_votes(np.ones((3, 1, 2)), np.zeros(3, int), np.ones(2), np.ones(2, bool), 2)
    with pytest.raises(ValueError, match="factor indices"):
        factor_vae_votes(np.ones((3, 4, 2)), np.full(3, 5), np.ones(2), np.ones(2, bool), 2)


@pytest.mark.parametrize(
    ("factory", "kwargs", "match"),
    [
        (DCI, {"num_train": 0}, "positive integer"),
        (DCIFast, {"num_test": -1}, "positive integer"),
        (DCI, {"tie_breaking": "random"}, "tie_breaking must be one of"),
        (DownstreamTask, {"tie_breaking": None}, "tie_breaking must be one of"),
        (SAPScore, {"continuous_factors": "no"}, "True or False"),
        (IRS, {"diff_quantile": 1.5}, r"\[0, 1\]"),
        (IRS, {"diff_quantile": True}, "number"),
        (FactorVAEScore, {"batch_size": 1}, "at least 2"),
        (FactorVAEScore, {"num_variance_estimate": 1}, "at least 2"),
        (BetaVAESklearn, {"num_eval": 2.5}, "positive integer"),
        (ModularityExplicitness, {"batch_size": "16"}, "positive integer"),
        (UnsupervisedMetrics, {"num_train": 1}, "at least 2"),
        (DownstreamTask, {"num_train": []}, "list"),
        (DownstreamTask, {"num_train": [10, 0]}, "positive integer"),
        (MIG, {"num_train": True}, "positive integer"),
        (JacobianOrthogonality, {"num_points": 50, "num_train": 10}, "cannot exceed"),
        (JacobianOrthogonality, {"active_variance_threshold": -1.0}, "non-negative"),
    ],
)
def test_bad_hyperparameters(factory, kwargs, match):
    with pytest.raises(ValueError, match=match):
        factory(**kwargs)


def test_jacobian_orthogonality_needs_a_decoder():
    metric = JacobianOrthogonality(**SMALL["jacobian_orthogonality"])
    with pytest.raises(ValueError, match="needs the model's decoder"):
        metric(parity.CaseData((3, 4)), cases.perfect, np.random.RandomState(0))
