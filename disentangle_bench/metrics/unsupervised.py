"""Unsupervised scores of a representation, as disentanglement_lib 1.5's
``unsupervised_metrics``.

disentanglement_lib's ``evaluation/metrics/unsupervised_metrics.py`` (google-research), used in
Locatello et al., ICML 2019, Sec. 5. With ``S = np.cov(codes)`` (ddof 1):

- ``gaussian_total_correlation``: KL between N(0, S) and the product of its marginals,
  ``0.5 (sum log diag S - log det S)``;
- ``gaussian_wasserstein_correlation``: squared 2-Wasserstein distance between the same two
  Gaussians, ``2 tr S - 2 tr sqrtm(S diag(S))`` (row-scaled as in the reference), and its
  ``_norm`` form divided by ``tr S``;
- ``mutual_info_score``: mean pairwise mutual information between the histogram-discretised code
  dimensions (off-diagonal mean, nats).

No factors are needed. At least 2 code dimensions are required, and none may be constant (the
log-variance is then -inf and the scores nan); both raise a ValueError.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from disentangle_bench.data.ground_truth import GroundTruthData
from disentangle_bench.metrics.utils import (
    BoundDiscretizer,
    RepresentationFunction,
    _check_2d,
    _check_codes,
    _check_positive_int,
    _discretize,
    discrete_mutual_info,
    generate_batch_factor_code,
    make_discretizer,
    one_thread,
)

__all__ = [
    "UnsupervisedMetrics",
    "gaussian_total_correlation",
    "gaussian_wasserstein_correlation",
    "unsupervised_metrics",
]


def gaussian_total_correlation(cov: np.ndarray) -> float:
    """Total correlation of N(0, cov): ``0.5 (sum log diag cov - log det cov)`` (nats)."""
    cov = _check_2d(cov, "cov")
    return float(0.5 * (np.sum(np.log(np.diag(cov))) - np.linalg.slogdet(cov)[1]))


def gaussian_wasserstein_correlation(cov: np.ndarray) -> float:
    """``2 tr cov - 2 tr sqrtm(cov * diag(cov)[:, None])``: the squared W2 distance between
    N(0, cov) and N(0, diag(cov)). The real part is returned if ``sqrtm`` is complex."""
    cov = _check_2d(cov, "cov")
    root = scipy.linalg.sqrtm(cov * np.expand_dims(np.diag(cov), axis=1))
    return float(np.real(2 * np.trace(cov) - 2 * np.trace(root)))


@one_thread
def _scores(codes: np.ndarray, discrete: np.ndarray) -> dict[str, float]:
    constant = np.flatnonzero(np.ptp(codes, axis=0) == 0)
    if constant.size:
        raise ValueError(
            f"code dimensions {constant.tolist()} are constant; the Gaussian scores need a "
            "positive variance in every dimension (drop them first)"
        )
    num_codes = codes.shape[1]
    cov = np.cov(codes.T)  # the reference's (dims, N) layout
    wasserstein = gaussian_wasserstein_correlation(cov)
    mutual_info = discrete_mutual_info(discrete, discrete)
    np.fill_diagonal(mutual_info, 0)
    return {
        "gaussian_total_correlation": gaussian_total_correlation(cov),
        "gaussian_wasserstein_correlation": wasserstein,
        "gaussian_wasserstein_correlation_norm": float(wasserstein / np.sum(np.diag(cov))),
        "mutual_info_score": float(np.sum(mutual_info) / (num_codes**2 - num_codes)),
    }


def unsupervised_metrics(
    codes: np.ndarray, num_bins: int = 20, discretizer: BoundDiscretizer | None = None
) -> dict[str, float]:
    """The four unsupervised scores of (N, D) codes (N >= 2, D >= 2). The mutual information
    uses ``discretizer(codes)`` (the plugin passes the gin configurable ``discretizer``), by
    default :func:`~disentangle_bench.metrics.utils.histogram_discretize` with ``num_bins``
    bins (``num_bins`` is used only then)."""
    codes = _check_codes(codes, min_dims=2)
    if codes.shape[0] < 2:
        raise ValueError("the unsupervised scores need at least 2 samples (covariance, ddof 1)")
    return _scores(codes, _discretize(codes, num_bins, discretizer))


class UnsupervisedMetrics:
    """The plugin ``unsupervised_metrics(num_train, batch_size)``: samples, then
    :func:`unsupervised_metrics` with the codes discretised through the gin configurable
    ``discretizer``.

    Result keys ``gaussian_total_correlation``, ``gaussian_wasserstein_correlation``,
    ``gaussian_wasserstein_correlation_norm``, ``mutual_info_score``. Defaults:
    unsupervised_study_v1 (10,000 points, batch 16).
    """

    name = "unsupervised_metrics"
    result_keys = (
        "gaussian_total_correlation",
        "gaussian_wasserstein_correlation",
        "gaussian_wasserstein_correlation_norm",
        "mutual_info_score",
    )

    def __init__(self, num_train: int = 10000, batch_size: int = 16) -> None:
        self.num_train = _check_positive_int(num_train, "num_train")
        if self.num_train < 2:
            raise ValueError("num_train must be at least 2 (covariance with ddof 1)")
        self.batch_size = _check_positive_int(batch_size, "batch_size")

    def __call__(
        self,
        ground_truth_data: GroundTruthData,
        representation_function: RepresentationFunction,
        random_state: np.random.RandomState,
    ) -> dict[str, float]:
        codes, _ = generate_batch_factor_code(
            ground_truth_data,
            representation_function,
            self.num_train,
            random_state,
            self.batch_size,
        )
        return unsupervised_metrics(codes, discretizer=make_discretizer)

    def __repr__(self) -> str:
        return f"UnsupervisedMetrics(num_train={self.num_train}, batch_size={self.batch_size})"
