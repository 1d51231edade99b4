"""A fast DCI variant, ``dci_fast``: histogram gradient boosting instead of exact boosting.

Not in disentanglement_lib, and registered under its own name so that a fast score never passes
for the reference ``dci``. The formulas for D, C and I are those of :mod:`.dci`; what differs is
the classifier and the importance:

- classifier: :func:`~disentangle_bench.metrics.utils.hist_gradient_boosting_classifier`
  (``HistGradientBoostingClassifier`` with the reference ensemble's shape: 100 iterations of
  depth-3 trees, learning rate 0.1, no early stopping), tens of times faster than
  ``GradientBoostingClassifier`` with many classes;
- importance: the total split gain of each code over all trees, normalised to sum to 1 (the
  "gain" importance of LightGBM and XGBoost), because histogram boosting has no
  ``feature_importances_``. It is read from the fitted trees' nodes (``feature_idx``, ``gain``).

Each classifier runs on one thread (as every metric's fitting, see
:func:`~disentangle_bench.metrics.utils.one_thread`): on these small trees OpenMP's thread start-up
and spinning cost more than they save, and on a shared machine an oversubscribed OpenMP pool is
many times slower.

benchmarks/metric_speed.py measures its speed and its distance from ``dci``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from disentangle_bench.data.ground_truth import GroundTruthData
from disentangle_bench.metrics.dci import DCI, compute_importance, dci_from_importance
from disentangle_bench.metrics.utils import (
    RandomStateLike,
    RepresentationFunction,
    fork_random_state,
    hist_gradient_boosting_classifier,
)

__all__ = ["DCIFast", "dci_fast", "gain_importances"]


def gain_importances(model: Any) -> np.ndarray:
    """Normalised total split gain per feature of a fitted ``HistGradientBoostingClassifier``."""
    predictors = getattr(model, "_predictors", None)
    num_features = getattr(model, "n_features_in_", None)
    if predictors is None or num_features is None:
        raise ValueError(
            "gain_importances needs a fitted HistGradientBoostingClassifier (this scikit-learn "
            "version does not expose its trees)"
        )
    gains = np.zeros(num_features, dtype=np.float64)
    for iteration in predictors:
        for tree in iteration:
            nodes = tree.nodes
            split = ~nodes["is_leaf"].astype(bool)
            np.add.at(gains, nodes["feature_idx"][split], np.maximum(nodes["gain"][split], 0.0))
    total = gains.sum()
    return gains / total if total > 0 else gains


def dci_fast(
    codes_train: np.ndarray,
    factors_train: np.ndarray,
    codes_test: np.ndarray,
    factors_test: np.ndarray,
    random_state: RandomStateLike = None,
) -> dict[str, float]:
    """DCI (same keys as :func:`~disentangle_bench.metrics.dci.dci`) with histogram boosting and
    gain importances; ``random_state`` seeds the classifiers."""

    def classifier():
        return hist_gradient_boosting_classifier().set_params(random_state=random_state)

    importance = compute_importance(
        codes_train, factors_train, codes_test, factors_test, classifier, gain_importances
    )
    return dci_from_importance(*importance)


class DCIFast(DCI):
    """The ``dci_fast`` plugin: the parameters (except ``tie_breaking``), sampling and result
    keys of ``dci``. Its classifiers are seeded from a fork of the metric's generator: it is not
    the reference computation, so there are no reference draws to reproduce."""

    name = "dci_fast"

    def __init__(self, num_train: int = 10000, num_test: int = 5000, batch_size: int = 16) -> None:
        super().__init__(num_train, num_test, batch_size)

    def __repr__(self) -> str:
        return (
            f"DCIFast(num_train={self.num_train}, num_test={self.num_test}, "
            f"batch_size={self.batch_size})"
        )

    def __call__(
        self,
        ground_truth_data: GroundTruthData,
        representation_function: RepresentationFunction,
        random_state: np.random.RandomState,
    ) -> dict[str, float]:
        sample = self._sample(ground_truth_data, representation_function, random_state)
        return dci_fast(*sample, random_state=fork_random_state(random_state))
