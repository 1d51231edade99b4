"""Disentanglement, Completeness and Informativeness (DCI), as disentanglement_lib 1.5's ``dci``.

Eastwood and Williams, "A Framework for the Quantitative Evaluation of Disentangled
Representations", ICLR 2018, Sec. 2; disentanglement_lib's ``evaluation/metrics/dci.py``
(google-research). One gradient-boosted tree classifier per factor (scikit-learn's
``GradientBoostingClassifier()`` defaults) predicts the factor from all codes; the importance
matrix ``R`` (codes x factors) holds its ``feature_importances_``.

- Disentanglement: per code ``i``, ``1 - H_F(P_i.)`` with ``P_i. = R_i. / sum R_i.`` and entropy
  in base F (number of factors); weighted by ``sum R_i. / sum R``.
- Completeness: the mirror over factors, entropy in base D (number of codes).
- Informativeness: mean train and test accuracy of the classifiers.

Entropies use ``scipy.stats.entropy(R + 1e-11)``, as the reference does.

Randomness: the reference builds ``GradientBoostingClassifier()`` without ``random_state``, so each
tree's splitter (which visits the features in a random order and keeps the first of equally good
splits) draws its seed from NumPy's *global* generator. The array core does the same when
``random_state`` is None. The plugin's default ``tie_breaking="reference"`` gives the global
generator the metric's seed for the call (:func:`~disentangle_bench.metrics.utils.
seeded_global_generator`, i.e. ``np.random.seed(seed)`` for ``RandomState(seed)``) and restores it
afterwards, so it computes what disentanglement_lib computes after ``np.random.seed(seed)``;
``tie_breaking="fork"`` seeds the trees from a copy of the metric's generator instead and never
touches the global one (different draws, not the reference's score).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.stats
from sklearn import ensemble

from disentangle_bench.data.ground_truth import GroundTruthData
from disentangle_bench.metrics.utils import (
    RandomStateLike,
    RepresentationFunction,
    _check_2d,
    _check_classes,
    _check_positive_int,
    _check_tie_breaking,
    _check_train_test,
    fork_random_state,
    generate_batch_factor_code,
    one_thread,
    seeded_global_generator,
)

__all__ = [
    "DCI",
    "completeness",
    "completeness_per_factor",
    "compute_importance_gbt",
    "dci",
    "dci_from_importance",
    "disentanglement",
    "disentanglement_per_code",
]


def _check_importance(importance_matrix: np.ndarray) -> np.ndarray:
    importance_matrix = _check_2d(importance_matrix, "importance_matrix")
    if importance_matrix.shape[0] < 1 or importance_matrix.shape[1] < 1:
        raise ValueError(f"importance_matrix is empty, shape {importance_matrix.shape}")
    if not np.all(np.isfinite(importance_matrix)) or np.any(importance_matrix < 0):
        raise ValueError("importance_matrix must be finite and non-negative")
    return importance_matrix


def _entropy(p: np.ndarray, base: int) -> np.ndarray:
    # With a single outcome the reference divides by log(1) = 0; keep its result (nan).
    with np.errstate(divide="ignore", invalid="ignore"):
        return scipy.stats.entropy(p + 1e-11, base=base)


def disentanglement_per_code(importance_matrix: np.ndarray) -> np.ndarray:
    """``1 - H_F(R_i. / sum R_i.)`` for each code ``i`` of the (D, F) importance matrix."""
    importance_matrix = _check_importance(importance_matrix)
    return 1.0 - _entropy(importance_matrix.T, importance_matrix.shape[1])


def disentanglement(importance_matrix: np.ndarray) -> float:
    """Importance-weighted mean of :func:`disentanglement_per_code` (uniform if R is all 0)."""
    importance_matrix = _check_importance(importance_matrix)
    per_code = disentanglement_per_code(importance_matrix)
    if importance_matrix.sum() == 0.0:
        importance_matrix = np.ones_like(importance_matrix)
    code_importance = importance_matrix.sum(axis=1) / importance_matrix.sum()
    return float(np.sum(per_code * code_importance))


def completeness_per_factor(importance_matrix: np.ndarray) -> np.ndarray:
    """``1 - H_D(R_.j / sum R_.j)`` for each factor ``j`` of the (D, F) importance matrix."""
    importance_matrix = _check_importance(importance_matrix)
    return 1.0 - _entropy(importance_matrix, importance_matrix.shape[0])


def completeness(importance_matrix: np.ndarray) -> float:
    """Importance-weighted mean of :func:`completeness_per_factor` (uniform if R is all 0)."""
    importance_matrix = _check_importance(importance_matrix)
    per_factor = completeness_per_factor(importance_matrix)
    if importance_matrix.sum() == 0.0:
        importance_matrix = np.ones_like(importance_matrix)
    factor_importance = importance_matrix.sum(axis=0) / importance_matrix.sum()
    return float(np.sum(per_factor * factor_importance))


Classifier = Callable[[], Any]
Importance = Callable[[Any], np.ndarray]


def _feature_importances(model: Any) -> np.ndarray:
    return np.abs(model.feature_importances_)


@one_thread
def compute_importance(
    codes_train: np.ndarray,
    factors_train: np.ndarray,
    codes_test: np.ndarray,
    factors_test: np.ndarray,
    classifier: Classifier,
    importance: Importance = _feature_importances,
) -> tuple[np.ndarray, float, float]:
    """Importance matrix (D, F) and mean train / test accuracy of one ``classifier()`` per factor.

    ``importance(fitted_model)`` gives the (D,) importances of one factor's classifier.
    """
    codes_train, factors_train, codes_test, factors_test = _check_train_test(
        codes_train, factors_train, codes_test, factors_test
    )
    num_codes, num_factors = codes_train.shape[1], factors_train.shape[1]
    importance_matrix = np.zeros(shape=[num_codes, num_factors], dtype=np.float64)
    train_accuracy, test_accuracy = [], []
    for j in range(num_factors):
        _check_classes(factors_train[:, j], f"factor {j}")
        model = classifier()
        model.fit(codes_train, factors_train[:, j])
        importance_matrix[:, j] = importance(model)
        train_accuracy.append(np.mean(model.predict(codes_train) == factors_train[:, j]))
        test_accuracy.append(np.mean(model.predict(codes_test) == factors_test[:, j]))
    return importance_matrix, float(np.mean(train_accuracy)), float(np.mean(test_accuracy))


def compute_importance_gbt(
    codes_train: np.ndarray,
    factors_train: np.ndarray,
    codes_test: np.ndarray,
    factors_test: np.ndarray,
    random_state: RandomStateLike = None,
) -> tuple[np.ndarray, float, float]:
    """:func:`compute_importance` with ``GradientBoostingClassifier(random_state=random_state)``
    (the reference's classifier; None uses NumPy's global generator, as the reference does)."""
    return compute_importance(
        codes_train,
        factors_train,
        codes_test,
        factors_test,
        lambda: ensemble.GradientBoostingClassifier(random_state=random_state),
    )


def dci_from_importance(
    importance_matrix: np.ndarray, train_accuracy: float, test_accuracy: float
) -> dict[str, float]:
    """The four DCI result keys from an importance matrix and the classifiers' accuracies."""
    return {
        "informativeness_train": float(train_accuracy),
        "informativeness_test": float(test_accuracy),
        "disentanglement": disentanglement(importance_matrix),
        "completeness": completeness(importance_matrix),
    }


def dci(
    codes_train: np.ndarray,
    factors_train: np.ndarray,
    codes_test: np.ndarray,
    factors_test: np.ndarray,
    random_state: RandomStateLike = None,
) -> dict[str, float]:
    """DCI of (N, D) codes against (N, F) discrete factors, train and test split.

    Returns ``disentanglement``, ``completeness``, ``informativeness_train``,
    ``informativeness_test``. ``random_state`` seeds the boosted trees (None: NumPy's global
    generator, exactly like disentanglement_lib).
    """
    return dci_from_importance(
        *compute_importance_gbt(codes_train, factors_train, codes_test, factors_test, random_state)
    )


class DCI:
    """The DCI plugin ``dci(num_train, num_test, batch_size, tie_breaking)``.

    Result keys ``disentanglement``, ``completeness``, ``informativeness_train``,
    ``informativeness_test``. Defaults: unsupervised_study_v1 (10,000 / 5,000 points, batch 16).
    ``tie_breaking`` (not in the reference): ``"reference"`` (default, disentanglement_lib's
    draws given the metric's seed) or ``"fork"`` (see the module docstring). Slow with many
    classes (minutes on 10,000 points); ``dci_fast`` is the fast variant.
    """

    name = "dci"
    result_keys = (
        "disentanglement",
        "completeness",
        "informativeness_train",
        "informativeness_test",
    )

    def __init__(
        self,
        num_train: int = 10000,
        num_test: int = 5000,
        batch_size: int = 16,
        tie_breaking: str = "reference",
    ) -> None:
        self.num_train = _check_positive_int(num_train, "num_train")
        self.num_test = _check_positive_int(num_test, "num_test")
        self.batch_size = _check_positive_int(batch_size, "batch_size")
        self.tie_breaking = _check_tie_breaking(tie_breaking)

    def _sample(
        self,
        ground_truth_data: GroundTruthData,
        representation_function: RepresentationFunction,
        random_state: np.random.RandomState,
    ) -> tuple[np.ndarray, ...]:
        train = generate_batch_factor_code(
            ground_truth_data,
            representation_function,
            self.num_train,
            random_state,
            self.batch_size,
        )
        test = generate_batch_factor_code(
            ground_truth_data, representation_function, self.num_test, random_state, self.batch_size
        )
        return (*train, *test)

    def __call__(
        self,
        ground_truth_data: GroundTruthData,
        representation_function: RepresentationFunction,
        random_state: np.random.RandomState,
    ) -> dict[str, float]:
        if self.tie_breaking == "fork":
            sample = self._sample(ground_truth_data, representation_function, random_state)
            return dci(*sample, random_state=fork_random_state(random_state))
        # The global generator gets the metric's seed before anything is drawn, as
        # np.random.seed(seed) before the reference's compute_dci would give it.
        with seeded_global_generator(random_state):
            sample = self._sample(ground_truth_data, representation_function, random_state)
            return dci(*sample, random_state=None)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(num_train={self.num_train}, num_test={self.num_test}, "
            f"batch_size={self.batch_size}, tie_breaking={self.tie_breaking!r})"
        )
