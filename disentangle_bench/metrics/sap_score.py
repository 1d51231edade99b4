"""Separated Attribute Predictability (SAP), as disentanglement_lib 1.5's ``sap_score``.

Kumar, Sattigeri and Balakrishnan, "Variational Inference of Disentangled Latent Concepts from
Unlabeled Observations", ICLR 2018, Sec. 3; disentanglement_lib's
``evaluation/metrics/sap_score.py`` (google-research). A score matrix S (codes x factors) holds
how well each single code dimension predicts each factor; SAP is the mean over factors of the gap
between the two largest entries of its column.

- Discrete factors (``continuous_factors=False``, the study's setting): ``S_ij`` is the test
  accuracy of ``LinearSVC(C=0.01, class_weight="balanced")`` trained on code ``i`` alone.
- Continuous factors: ``S_ij = Cov(z_i, v_j)^2 / (Var z_i Var v_j)`` (ddof 1), 0 when
  ``Var z_i <= 1e-12``; the test sample is drawn but unused, as in the reference.
"""

from __future__ import annotations

import numpy as np
from sklearn import svm

from disentangle_bench.data.ground_truth import GroundTruthData
from disentangle_bench.metrics.utils import (
    RepresentationFunction,
    _check_2d,
    _check_classes,
    _check_codes,
    _check_positive_int,
    _check_train_test,
    generate_batch_factor_code,
    one_thread,
)

__all__ = ["SAPScore", "compute_avg_diff_top_two", "compute_score_matrix", "sap_score"]


@one_thread
def compute_score_matrix(
    codes_train: np.ndarray,
    factors_train: np.ndarray,
    codes_test: np.ndarray,
    factors_test: np.ndarray,
    continuous_factors: bool = False,
) -> np.ndarray:
    """The (D, F) score matrix of single-code predictability (see the module docstring)."""
    codes_train, factors_train, codes_test, factors_test = _check_train_test(
        codes_train, factors_train, codes_test, factors_test, discrete=not continuous_factors
    )
    num_codes, num_factors = codes_train.shape[1], factors_train.shape[1]
    if not continuous_factors:
        for j in range(num_factors):
            _check_classes(factors_train[:, j], f"factor {j}")
    score_matrix = np.zeros([num_codes, num_factors])
    for i in range(num_codes):
        for j in range(num_factors):
            code, factor = codes_train[:, i], factors_train[:, j]
            if continuous_factors:
                covariance = np.cov(code, factor, ddof=1)
                var_code = covariance[0, 0]
                if var_code > 1e-12:
                    score_matrix[i, j] = covariance[0, 1] ** 2 * 1.0 / (var_code * covariance[1, 1])
                else:
                    score_matrix[i, j] = 0.0
            else:
                classifier = svm.LinearSVC(C=0.01, class_weight="balanced")
                classifier.fit(code[:, np.newaxis], factor)
                prediction = classifier.predict(codes_test[:, i][:, np.newaxis])
                score_matrix[i, j] = np.mean(prediction == factors_test[:, j])
    return score_matrix


def compute_avg_diff_top_two(matrix: np.ndarray) -> float:
    """Mean over columns of (largest - second largest) entry; needs at least two rows."""
    matrix = _check_2d(matrix, "matrix")
    if matrix.shape[0] < 2:
        raise ValueError("SAP needs at least 2 code dimensions")
    sorted_matrix = np.sort(matrix, axis=0)
    return float(np.mean(sorted_matrix[-1, :] - sorted_matrix[-2, :]))


def sap_score(
    codes_train: np.ndarray,
    factors_train: np.ndarray,
    codes_test: np.ndarray,
    factors_test: np.ndarray,
    continuous_factors: bool = False,
) -> dict[str, float]:
    """SAP of (N, D) codes against (N, F) factors; returns ``{"SAP_score": float}``.

    With ``continuous_factors=True`` the factors may be any real values and the test split is
    not used (pass the training arrays twice if there is none).
    """
    _check_codes(codes_train, "codes_train", min_dims=2)
    matrix = compute_score_matrix(
        codes_train, factors_train, codes_test, factors_test, continuous_factors
    )
    return {"SAP_score": compute_avg_diff_top_two(matrix)}


class SAPScore:
    """The SAP plugin ``sap_score(num_train, num_test, batch_size, continuous_factors)``.

    Result key ``SAP_score``. Defaults: unsupervised_study_v1 (10,000 / 5,000 points, batch 16,
    discrete factors).
    """

    name = "sap_score"
    result_keys = ("SAP_score",)

    def __init__(
        self,
        num_train: int = 10000,
        num_test: int = 5000,
        batch_size: int = 16,
        continuous_factors: bool = False,
    ) -> None:
        self.num_train = _check_positive_int(num_train, "num_train")
        self.num_test = _check_positive_int(num_test, "num_test")
        self.batch_size = _check_positive_int(batch_size, "batch_size")
        if not isinstance(continuous_factors, (bool, np.bool_)):
            raise ValueError(
                f"continuous_factors must be True or False, got {continuous_factors!r}"
            )
        self.continuous_factors = bool(continuous_factors)

    def __call__(
        self,
        ground_truth_data: GroundTruthData,
        representation_function: RepresentationFunction,
        random_state: np.random.RandomState,
    ) -> dict[str, float]:
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
        return sap_score(*train, *test, continuous_factors=self.continuous_factors)

    def __repr__(self) -> str:
        return (
            f"SAPScore(num_train={self.num_train}, num_test={self.num_test}, "
            f"batch_size={self.batch_size}, continuous_factors={self.continuous_factors})"
        )
