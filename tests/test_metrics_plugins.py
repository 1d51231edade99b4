"""The metric plugins: registered like any plugin, disentanglement_lib's names, defaults and gin
bindings, fast variants under their own names."""

from __future__ import annotations

import inspect

import gin
import numpy as np
import pytest

from disentangle_bench.diagnostics.plugin import BUILTIN as DIAGNOSTIC_BUILTINS
from disentangle_bench.metrics import (
    FAST_VARIANTS,
    DownstreamTask,
    gradient_boosting_classifier,
    logistic_regression_cv,
    make_discretizer,
    make_predictor_fn,
    prune_dims,
)
from disentangle_bench.metrics.plugin import BUILTIN as METRIC_BUILTINS
from disentangle_bench.pipeline.config import parse_gin
from disentangle_bench.registry import Registry

BUILTIN = (*METRIC_BUILTINS, *DIAGNOSTIC_BUILTINS)

# unsupervised_study_v1's metric configs (disentanglement_lib config/unsupervised_study_v1/
# metric_configs/*.gin), without the evaluation runner's own lines.
STUDY_BINDINGS = {
    "beta_vae_sklearn": ["batch_size=64", "num_train=10000", "num_eval=5000"],
    "factor_vae_score": [
        "num_variance_estimate=10000",
        "num_train=10000",
        "num_eval=5000",
        "batch_size=64",
    ],
    "mig": ["num_train=10000"],
    "dci": ["num_train=10000", "num_test=5000"],
    "modularity_explicitness": ["num_train=10000", "num_test=5000"],
    "sap_score": ["num_train=10000", "num_test=5000", "continuous_factors=False"],
    "unsupervised_metrics": ["num_train=10000"],
    "downstream_task": ["num_train=[10, 100,1000,10000]", "num_test=5000"],
}
SHARED_BINDINGS = [
    "prune_dims.threshold = 0.05",
    "discretizer.discretizer_fn = @histogram_discretizer",
    "discretizer.num_bins = 20",
    "predictor.predictor_fn = @gradient_boosting_classifier",
]
REFERENCE_KEYS = {
    "beta_vae_sklearn": {"train_accuracy", "eval_accuracy"},
    "factor_vae_score": {"train_accuracy", "eval_accuracy", "num_active_dims"},
    "mig": {"discrete_mig"},
    "dci": {"disentanglement", "completeness", "informativeness_train", "informativeness_test"},
    "sap_score": {"SAP_score"},
    "modularity_explicitness": {
        "modularity_score",
        "explicitness_score_train",
        "explicitness_score_test",
    },
    "irs": {"IRS", "num_active_dims"},
    "unsupervised_metrics": {
        "gaussian_total_correlation",
        "gaussian_wasserstein_correlation",
        "gaussian_wasserstein_correlation_norm",
        "mutual_info_score",
    },
}


def _defaults(factory) -> dict:
    return {
        name: parameter.default
        for name, parameter in inspect.signature(factory).parameters.items()
        if parameter.default is not parameter.empty
    }


def test_all_metrics_registered_through_the_hooks():
    names = set(Registry().names("metrics"))
    assert {factory.name for factory in BUILTIN} <= names
    assert (
        set(REFERENCE_KEYS)
        | {
            "downstream_task",
            "downstream_task_logistic_regression",
            "downstream_task_boosted_trees",
            "jacobian_orthogonality",
            "principal_alignment",
            *FAST_VARIANTS,
        }
        <= names
    )


def test_defaults_are_the_study_values():
    by_name = {factory.name: factory for factory in BUILTIN}
    for name, lines in STUDY_BINDINGS.items():
        expected = {}
        for line in lines:
            key, value = line.split("=")
            expected[key.strip()] = eval(value)  # literal values of the study configs
        defaults = _defaults(by_name[name])
        for key, value in expected.items():
            assert (
                tuple(value) == defaults[key]
                if isinstance(value, list)
                else (defaults[key] == value)
            ), (name, key)
    assert _defaults(by_name["irs"]) == {
        "diff_quantile": 0.99,
        "num_train": 10000,
        "batch_size": 16,
    }
    for name in ("mig", "dci", "sap_score", "modularity_explicitness", "unsupervised_metrics"):
        assert _defaults(by_name[name])["batch_size"] == 16
    assert _defaults(prune_dims)["threshold"] == 0.05
    assert _defaults(make_discretizer)["num_bins"] == 20


def test_result_keys_are_the_references():
    by_name = {factory.name: factory for factory in BUILTIN}
    for name, keys in REFERENCE_KEYS.items():
        assert set(by_name[name].result_keys) == keys
    for fast, reference in FAST_VARIANTS.items():
        assert fast != reference and fast in by_name and reference in by_name
    assert set(by_name["dci_fast"].result_keys) == REFERENCE_KEYS["dci"]


def test_study_gin_bindings_work_unchanged():
    registry = Registry()
    lines = [f"{name}.{line}" for name, group in STUDY_BINDINGS.items() for line in group]
    # Values that differ from the defaults, to see that every binding reaches its metric.
    lines += [
        "dci.batch_size = 7",
        "sap_score.continuous_factors = True",
        "irs.diff_quantile = 0.5",
        "prune_dims.threshold = 0.1",
        "discretizer.num_bins = 5",
        "predictor.predictor_fn = @gradient_boosting_classifier",
    ]
    parse_gin([], lines)
    assert registry.build("metrics", "dci").batch_size == 7
    assert registry.build("metrics", "sap_score").continuous_factors is True
    assert registry.build("metrics", "irs").diff_quantile == 0.5
    task = registry.build("metrics", "downstream_task")
    assert task.num_train == (10, 100, 1000, 10000)
    assert type(task.predictor()()).__name__ == "GradientBoostingClassifier"
    assert prune_dims(np.array([0.005, 0.02])).tolist() == [False, True]
    assert make_discretizer(np.arange(20.0).reshape(10, 2)).max() == 5


def test_predictor_default_and_fixed_variants():
    gin.clear_config()
    assert make_predictor_fn() is logistic_regression_cv
    assert DownstreamTask().predictor() is logistic_regression_cv
    parse_gin([], SHARED_BINDINGS)
    registry = Registry()
    assert registry.build("metrics", "downstream_task_logistic_regression").predictor() is (
        logistic_regression_cv
    )
    assert registry.build("metrics", "downstream_task_boosted_trees").predictor() is (
        gradient_boosting_classifier
    )
    model = registry.build("metrics", "downstream_task_boosted_trees_fast").predictor()()
    assert type(model).__name__ == "HistGradientBoostingClassifier"
    assert (model.max_iter, model.max_depth, model.learning_rate) == (100, 3, 0.1)


def test_boosted_tree_tie_breaking_is_the_references_and_one_binding_away():
    by_name = {factory.name: factory for factory in BUILTIN}
    with_trees = [
        "dci",
        "downstream_task",
        "downstream_task_logistic_regression",
        "downstream_task_boosted_trees",
        "downstream_task_boosted_trees_fast",
    ]
    for name in with_trees:
        assert _defaults(by_name[name])["tie_breaking"] == "reference", name
    assert "tie_breaking" not in _defaults(by_name["dci_fast"])
    registry = Registry()  # registers the plugins' gin configurables
    parse_gin(
        [], ['dci.tie_breaking = "fork"', 'downstream_task_boosted_trees.tie_breaking = "fork"']
    )
    try:
        assert registry.build("metrics", "dci").tie_breaking == "fork"
        assert registry.build("metrics", "downstream_task_boosted_trees").tie_breaking == "fork"
        assert registry.build("metrics", "downstream_task").tie_breaking == "reference"
    finally:
        gin.clear_config()


@pytest.mark.parametrize("factory", BUILTIN, ids=lambda f: f.name)
def test_every_plugin_builds_with_defaults_and_has_a_repr(factory):
    instance = factory()
    assert factory.name in Registry().names("metrics")
    assert type(instance).__name__ in repr(instance)
