"""Downstream classification tasks, as disentanglement_lib 1.5's ``downstream_task``.

Locatello et al., ICML 2019, Sec. 5 ("usefulness for downstream tasks"); disentanglement_lib's
``evaluation/metrics/downstream_task.py`` (google-research). For each training size ``n`` in
``num_train``: draw ``n`` training and ``num_test`` test points, fit one fresh classifier per
factor (built by the gin configurable ``predictor.predictor_fn``) on all codes, and report for
``n`` (result keys as in the reference)::

    "<n>:mean_train_accuracy"  "<n>:mean_test_accuracy"
    "<n>:min_train_accuracy"   "<n>:min_test_accuracy"
    "<n>:train_accuracy_factor_<i>"  "<n>:test_accuracy_factor_<i>"

The study's two configurations are registered as their own plugins too:
``downstream_task_logistic_regression`` (``@logistic_regression_cv``) and
``downstream_task_boosted_trees`` (``@gradient_boosting_classifier``); the fast variant
``downstream_task_boosted_trees_fast`` (``@hist_gradient_boosting_classifier``) is not in the
reference. The reference builds its classifiers with ``random_state`` unset, so boosted trees
break ties with NumPy's global generator: with ``tie_breaking="reference"`` (the default) the
plugins give that generator the metric's seed for the call and restore it afterwards, as ``dci``
does (see :mod:`.dci`); with ``"fork"`` every classifier whose ``random_state`` is unset gets a
fork of the metric's generator instead. The logistic regressions draw nothing either way.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from disentangle_bench.data.ground_truth import GroundTruthData
from disentangle_bench.metrics.utils import (
    Predictor,
    RandomStateLike,
    RepresentationFunction,
    _as_tuple,
    _check_classes,
    _check_positive_int,
    _check_tie_breaking,
    _check_train_test,
    _seeded,
    fork_random_state,
    generate_batch_factor_code,
    gradient_boosting_classifier,
    hist_gradient_boosting_classifier,
    logistic_regression_cv,
    make_predictor_fn,
    one_thread,
    seeded_global_generator,
)

__all__ = [
    "DownstreamTask",
    "DownstreamTaskBoostedTrees",
    "DownstreamTaskBoostedTreesFast",
    "DownstreamTaskLogisticRegression",
    "downstream_task",
]


@one_thread
def downstream_task(
    codes_train: np.ndarray,
    factors_train: np.ndarray,
    codes_test: np.ndarray,
    factors_test: np.ndarray,
    predictor_fn: Predictor = logistic_regression_cv,
    random_state: RandomStateLike = None,
) -> dict[str, float]:
    """Per-factor accuracies of ``predictor_fn()`` classifiers on (N, D) codes and (N, F)
    discrete factors; keys are prefixed with ``"<N_train>:"`` as in the reference.

    ``random_state`` is given to every classifier whose ``random_state`` is unset (None keeps
    the reference's behaviour: NumPy's global generator).
    """
    codes_train, factors_train, codes_test, factors_test = _check_train_test(
        codes_train, factors_train, codes_test, factors_test
    )
    train_accuracy, test_accuracy = [], []
    for i in range(factors_train.shape[1]):
        _check_classes(factors_train[:, i], f"factor {i}")
        model: Any = predictor_fn()
        if random_state is not None:
            model = _seeded(model, random_state)
        model.fit(codes_train, factors_train[:, i])
        train_accuracy.append(float(np.mean(model.predict(codes_train) == factors_train[:, i])))
        test_accuracy.append(float(np.mean(model.predict(codes_test) == factors_test[:, i])))
    size = str(codes_train.shape[0])
    scores = {
        f"{size}:mean_train_accuracy": float(np.mean(train_accuracy)),
        f"{size}:mean_test_accuracy": float(np.mean(test_accuracy)),
        f"{size}:min_train_accuracy": float(np.min(train_accuracy)),
        f"{size}:min_test_accuracy": float(np.min(test_accuracy)),
    }
    for i in range(len(train_accuracy)):
        scores[f"{size}:train_accuracy_factor_{i}"] = train_accuracy[i]
        scores[f"{size}:test_accuracy_factor_{i}"] = test_accuracy[i]
    return scores


class DownstreamTask:
    """The plugin ``downstream_task(num_train, num_test, batch_size, tie_breaking)``; the
    classifier is the gin configurable ``predictor.predictor_fn`` (default
    ``@logistic_regression_cv``).

    Defaults: unsupervised_study_v1 (``num_train=[10, 100, 1000, 10000]``, 5,000 test points,
    batch 16). Each size draws its training then its test sample, in order. ``tie_breaking``
    (not in the reference): ``"reference"`` or ``"fork"``, see the module docstring.
    """

    name = "downstream_task"

    def __init__(
        self,
        num_train: tuple[int, ...] = (10, 100, 1000, 10000),
        num_test: int = 5000,
        batch_size: int = 16,
        tie_breaking: str = "reference",
    ) -> None:
        self.num_train = _as_tuple(num_train, "num_train")
        self.num_test = _check_positive_int(num_test, "num_test")
        self.batch_size = _check_positive_int(batch_size, "batch_size")
        self.tie_breaking = _check_tie_breaking(tie_breaking)

    def predictor(self) -> Predictor:
        """The function that builds one classifier."""
        return make_predictor_fn()

    def _scores(
        self,
        ground_truth_data: GroundTruthData,
        representation_function: RepresentationFunction,
        random_state: np.random.RandomState,
    ) -> dict[str, float]:
        scores: dict[str, float] = {}
        for size in self.num_train:
            train = generate_batch_factor_code(
                ground_truth_data, representation_function, size, random_state, self.batch_size
            )
            test = generate_batch_factor_code(
                ground_truth_data,
                representation_function,
                self.num_test,
                random_state,
                self.batch_size,
            )
            trees = fork_random_state(random_state) if self.tie_breaking == "fork" else None
            scores.update(
                downstream_task(*train, *test, predictor_fn=self.predictor(), random_state=trees)
            )
        return scores

    def __call__(
        self,
        ground_truth_data: GroundTruthData,
        representation_function: RepresentationFunction,
        random_state: np.random.RandomState,
    ) -> dict[str, float]:
        if self.tie_breaking == "fork":
            return self._scores(ground_truth_data, representation_function, random_state)
        with seeded_global_generator(random_state):
            return self._scores(ground_truth_data, representation_function, random_state)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(num_train={list(self.num_train)}, num_test={self.num_test}, "
            f"batch_size={self.batch_size}, tie_breaking={self.tie_breaking!r})"
        )


class DownstreamTaskLogisticRegression(DownstreamTask):
    """``downstream_task`` with ``@logistic_regression_cv`` (the study's
    ``downstream_task_logistic_regression``), independent of ``predictor.predictor_fn``."""

    name = "downstream_task_logistic_regression"

    def predictor(self) -> Predictor:
        return logistic_regression_cv


class DownstreamTaskBoostedTrees(DownstreamTask):
    """``downstream_task`` with ``@gradient_boosting_classifier`` (the study's
    ``downstream_task_boosted_trees``), independent of ``predictor.predictor_fn``."""

    name = "downstream_task_boosted_trees"

    def predictor(self) -> Predictor:
        return gradient_boosting_classifier


class DownstreamTaskBoostedTreesFast(DownstreamTask):
    """Fast variant, not in the reference: ``@hist_gradient_boosting_classifier``."""

    name = "downstream_task_boosted_trees_fast"

    def predictor(self) -> Predictor:
        return hist_gradient_boosting_classifier
