"""Modularity and explicitness, as disentanglement_lib 1.5's ``modularity_explicitness``.

Ridgeway and Mozer, "Learning Deep Disentangled Embeddings With the F-Statistic Loss", NeurIPS
2018, Sec. 3; disentanglement_lib's ``evaluation/metrics/modularity_explicitness.py``
(google-research).

- Modularity: with ``m_if`` the mutual information between the histogram-discretised code ``i``
  and factor ``f`` (training sample), per code ``1 - (sum_f m_if^2 - max_f m_if^2) /
  (max_f m_if^2 (F - 1))``, 0 for a code with no information; the mean over codes.
- Explicitness: per factor, a ``LogisticRegression()`` on the standardised codes (train mean and
  population std) predicts the factor; its one-vs-rest ROC-AUC (macro over classes) on the
  training and the test sample; the mean over factors.

Discrete factors only. A factor whose test sample does not hold exactly the training sample's
classes, or a constant code dimension (standardisation divides by 0), crash the reference; here
they raise a ValueError. A single factor gives modularity nan (0 / 0, as in the reference) with
a warning.
"""

from __future__ import annotations

import numpy as np
from sklearn import linear_model, metrics, preprocessing

from disentangle_bench.data.ground_truth import GroundTruthData
from disentangle_bench.metrics.utils import (
    BoundDiscretizer,
    RepresentationFunction,
    _check_2d,
    _check_classes,
    _check_positive_int,
    _check_train_test,
    _discretize,
    _warn,
    discrete_mutual_info,
    generate_batch_factor_code,
    make_discretizer,
    normalize_data,
    one_thread,
)

__all__ = [
    "ModularityExplicitness",
    "explicitness_per_factor",
    "modularity",
    "modularity_explicitness",
]


def modularity(mutual_information: np.ndarray) -> float:
    """Mean modularity of the codes from their (D, F) mutual information matrix."""
    mutual_information = _check_2d(mutual_information, "mutual_information")
    if mutual_information.shape[1] < 2:
        _warn("modularity is undefined for a single factor (0 / 0); it is nan, as in the reference")
    squared_mi = np.square(mutual_information)
    max_squared_mi = np.max(squared_mi, axis=1)
    numerator = np.sum(squared_mi, axis=1) - max_squared_mi
    denominator = max_squared_mi * (squared_mi.shape[1] - 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        modularity_score = 1.0 - numerator / denominator
    modularity_score[max_squared_mi == 0.0] = 0.0
    return float(np.mean(modularity_score))


@one_thread
def explicitness_per_factor(
    codes_train: np.ndarray,
    factor_train: np.ndarray,
    codes_test: np.ndarray,
    factor_test: np.ndarray,
) -> tuple[float, float]:
    """Train and test ROC-AUC of ``LogisticRegression()`` predicting one factor from (N, D)
    (already standardised) codes; one-vs-rest, macro average over the classes."""
    classes = np.unique(factor_train)
    if not np.array_equal(classes, np.unique(factor_test)):
        raise ValueError(
            f"explicitness needs the test sample to hold exactly the training sample's classes "
            f"of each factor; got {classes.tolist()} and {np.unique(factor_test).tolist()}: "
            "use more test points"
        )
    model = linear_model.LogisticRegression().fit(codes_train, factor_train)
    binarizer = preprocessing.MultiLabelBinarizer()
    roc_train = metrics.roc_auc_score(
        binarizer.fit_transform(np.expand_dims(factor_train, 1)), model.predict_proba(codes_train)
    )
    roc_test = metrics.roc_auc_score(
        binarizer.fit_transform(np.expand_dims(factor_test, 1)), model.predict_proba(codes_test)
    )
    return float(roc_train), float(roc_test)


def _scores(
    codes_train: np.ndarray,
    discrete_train: np.ndarray,
    factors_train: np.ndarray,
    codes_test: np.ndarray,
    factors_test: np.ndarray,
) -> dict[str, float]:
    for j in range(factors_train.shape[1]):
        _check_classes(factors_train[:, j], f"factor {j}")
    constant = np.flatnonzero(np.ptp(codes_train, axis=0) == 0)
    if constant.size:
        raise ValueError(
            f"code dimensions {constant.tolist()} are constant on the training sample; "
            "explicitness standardises every dimension and cannot use them"
        )
    scores = {"modularity_score": modularity(discrete_mutual_info(discrete_train, factors_train))}
    train_normalized, mean, stddev = normalize_data(codes_train)
    test_normalized, _, _ = normalize_data(codes_test, mean, stddev)
    explicitness_train = np.zeros([factors_train.shape[1], 1])
    explicitness_test = np.zeros([factors_train.shape[1], 1])
    for j in range(factors_train.shape[1]):
        explicitness_train[j], explicitness_test[j] = explicitness_per_factor(
            train_normalized, factors_train[:, j], test_normalized, factors_test[:, j]
        )
    scores["explicitness_score_train"] = float(np.mean(explicitness_train))
    scores["explicitness_score_test"] = float(np.mean(explicitness_test))
    return scores


def modularity_explicitness(
    codes_train: np.ndarray,
    factors_train: np.ndarray,
    codes_test: np.ndarray,
    factors_test: np.ndarray,
    num_bins: int = 20,
    discretizer: BoundDiscretizer | None = None,
) -> dict[str, float]:
    """Modularity and explicitness of (N, D) codes against (N, F) discrete factors.

    The training codes are discretised for the mutual information by
    ``discretizer(codes_train)`` (the plugin passes the gin configurable ``discretizer``), by
    default :func:`~disentangle_bench.metrics.utils.histogram_discretize` with ``num_bins``
    bins (``num_bins`` is used only then). Returns ``modularity_score``,
    ``explicitness_score_train`` and ``explicitness_score_test``.
    """
    codes_train, factors_train, codes_test, factors_test = _check_train_test(
        codes_train, factors_train, codes_test, factors_test
    )
    discrete = _discretize(codes_train, num_bins, discretizer)
    return _scores(codes_train, discrete, factors_train, codes_test, factors_test)


class ModularityExplicitness:
    """The plugin ``modularity_explicitness(num_train, num_test, batch_size)``: samples, then
    :func:`modularity_explicitness` with the codes discretised through the gin configurable
    ``discretizer`` (20-bin histogram).

    Result keys ``modularity_score``, ``explicitness_score_train``, ``explicitness_score_test``.
    Defaults: unsupervised_study_v1 (10,000 / 5,000 points, batch 16).
    """

    name = "modularity_explicitness"
    result_keys = ("modularity_score", "explicitness_score_train", "explicitness_score_test")

    def __init__(self, num_train: int = 10000, num_test: int = 5000, batch_size: int = 16) -> None:
        self.num_train = _check_positive_int(num_train, "num_train")
        self.num_test = _check_positive_int(num_test, "num_test")
        self.batch_size = _check_positive_int(batch_size, "batch_size")

    def __call__(
        self,
        ground_truth_data: GroundTruthData,
        representation_function: RepresentationFunction,
        random_state: np.random.RandomState,
    ) -> dict[str, float]:
        codes_train, factors_train = generate_batch_factor_code(
            ground_truth_data,
            representation_function,
            self.num_train,
            random_state,
            self.batch_size,
        )
        codes_test, factors_test = generate_batch_factor_code(
            ground_truth_data, representation_function, self.num_test, random_state, self.batch_size
        )
        return modularity_explicitness(
            codes_train, factors_train, codes_test, factors_test, discretizer=make_discretizer
        )

    def __repr__(self) -> str:
        return (
            f"ModularityExplicitness(num_train={self.num_train}, num_test={self.num_test}, "
            f"batch_size={self.batch_size})"
        )
