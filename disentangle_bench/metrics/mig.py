"""Mutual Information Gap (MIG), score for score as disentanglement_lib 1.5 computes it.

MIG (Chen et al., "Isolating Sources of Disentanglement in Variational Autoencoders", NeurIPS
2018, arXiv:1802.04942) is the mean over factors ``v_k`` of
``(I(z_a; v_k) - I(z_b; v_k)) / H(v_k)``, where ``z_a`` and ``z_b`` are the code dimensions with
the largest and second-largest mutual information with ``v_k``. Following disentanglement_lib's
``evaluation/metrics/mig.py`` (google-research), codes are histogram-discretised (20 bins) and the
mutual information and entropies are plug-in estimates from ``sklearn.metrics.mutual_info_score``
in nats.
"""

from __future__ import annotations

import warnings

import numpy as np

from disentangle_bench.data.ground_truth import GroundTruthData
from disentangle_bench.metrics.utils import (
    BoundDiscretizer,
    RepresentationFunction,
    _check_2d,
    _check_positive_int,
    _discretize,
    discrete_entropy,
    discrete_mutual_info,
    generate_batch_factor_code,
    make_discretizer,
)

__all__ = ["MIG", "mig", "mig_from_discretized"]


def _check_codes_and_factors(codes: np.ndarray, factors: np.ndarray) -> tuple[np.ndarray, ...]:
    codes = _check_2d(codes, "codes")
    factors = _check_2d(factors, "factors")
    if codes.shape[0] != factors.shape[0]:
        raise ValueError(f"codes has {codes.shape[0]} samples but factors has {factors.shape[0]}")
    if codes.shape[0] < 1:
        raise ValueError("at least one sample is required")
    if codes.shape[1] < 2:
        raise ValueError(f"MIG needs at least 2 code dimensions, got {codes.shape[1]}")
    if factors.shape[1] < 1:
        raise ValueError("at least one factor is required")
    return codes, factors


def mig_from_discretized(discrete_codes: np.ndarray, factors: np.ndarray) -> dict[str, float]:
    """MIG of already-discretised (N, D) codes against (N, F) discrete factors.

    ``I`` is ``discrete_mutual_info`` (D, F) and ``H`` is ``discrete_entropy``; the score is
    ``mean_k (top1_k - top2_k) / H_k`` over factors, as in disentanglement_lib's ``compute_mig``.

    A factor that takes a single value has ``H = 0`` and all its ``I = 0``; the reference then
    computes 0 / 0, so the score is ``nan``. This is kept for parity, numpy's own divide warning is
    silenced and a ``RuntimeWarning`` naming the factors is issued instead.
    """
    discrete_codes, factors = _check_codes_and_factors(discrete_codes, factors)
    m = discrete_mutual_info(discrete_codes, factors)
    entropy = discrete_entropy(factors)
    sorted_m = np.sort(m, axis=0)
    gap = sorted_m[-1, :] - sorted_m[-2, :]
    constant = np.flatnonzero(entropy == 0)
    if constant.size:
        warnings.warn(
            f"factors {constant.tolist()} take a single value (zero entropy); MIG is nan, "
            "as in disentanglement_lib",
            RuntimeWarning,
            stacklevel=2,
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        normalized_gap = np.divide(gap, entropy)
    return {"discrete_mig": float(np.mean(normalized_gap))}


def mig(
    codes: np.ndarray,
    factors: np.ndarray,
    num_bins: int = 20,
    discretizer: BoundDiscretizer | None = None,
) -> dict[str, float]:
    """MIG of continuous (N, D) codes against (N, F) integer factors.

    Each code dimension is discretised by ``discretizer(codes)`` (the plugin passes the gin
    configurable ``discretizer``), by default :func:`histogram_discretize` with ``num_bins``
    equal-width bins (``num_bins`` is used only then), and scored by
    :func:`mig_from_discretized`. Returns ``{"discrete_mig": float}``; see
    :func:`mig_from_discretized` for the single-valued factor case (nan).
    """
    codes, factors = _check_codes_and_factors(codes, factors)
    return mig_from_discretized(_discretize(codes, num_bins, discretizer), factors)


class MIG:
    """The MIG metric plugin: ``MIG(num_train, batch_size)(data, representation_fn, rs)``.

    Samples ``num_train`` points with :func:`generate_batch_factor_code` and scores them with
    :func:`mig`, discretised through the gin configurable ``discretizer``
    (:func:`make_discretizer`). Defaults are disentanglement_lib's unsupervised_study_v1 values.
    """

    name = "mig"
    result_keys = ("discrete_mig",)

    def __init__(self, num_train: int = 10000, batch_size: int = 16) -> None:
        self.num_train = _check_positive_int(num_train, "num_train")
        self.batch_size = _check_positive_int(batch_size, "batch_size")

    def __call__(
        self,
        ground_truth_data: GroundTruthData,
        representation_function: RepresentationFunction,
        random_state: np.random.RandomState,
    ) -> dict[str, float]:
        codes, factors = generate_batch_factor_code(
            ground_truth_data,
            representation_function,
            self.num_train,
            random_state,
            self.batch_size,
        )
        return mig(codes, factors, discretizer=make_discretizer)

    def __repr__(self) -> str:
        return f"MIG(num_train={self.num_train}, batch_size={self.batch_size})"
