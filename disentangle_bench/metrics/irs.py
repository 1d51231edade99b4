"""Interventional Robustness Score (IRS), as disentanglement_lib 1.5's ``irs``.

Suter, Miladinovic, Schölkopf and Bauer, "Robustly Disentangled Causal Mechanisms: Validating Deep
Representations for Interventional Robustness", ICML 2019 (arXiv:1811.00007);
disentanglement_lib's ``evaluation/metrics/irs.py`` (google-research).

The factors are discretised (the gin ``discretizer``, 20-bin histogram, so factors may be
continuous and factors with more than 20 values are merged into 20 bins), constant code dimensions
dropped. For each factor ``g`` and each of its values, the ``diff_quantile`` quantile of
``|z - E[z | g]|`` per code is averaged over the values; divided by each code's maximal deviation
``max |z - E z|`` this gives the IRS matrix ``1 - deviation``; the score is the mean over codes of
their best entry, weighted by the maximal deviations.

Reference behaviour kept for parity (documented in docs/metrics.md): ``num_active_dims`` is the
*sum of the values* of the non-constant code dimensions (``np.sum`` of the codes, not of the
mask); with no non-constant dimension IRS is 0 (here also with a warning).
"""

from __future__ import annotations

import numbers

import numpy as np

from disentangle_bench.data.ground_truth import GroundTruthData
from disentangle_bench.metrics.utils import (
    BoundDiscretizer,
    RepresentationFunction,
    _check_codes,
    _check_factors,
    _check_positive_int,
    _discretize,
    _warn,
    generate_batch_factor_code,
    make_discretizer,
)

__all__ = ["IRS", "irs", "scalable_disentanglement_score"]


def _check_quantile(diff_quantile: object) -> float:
    if isinstance(diff_quantile, bool) or not isinstance(diff_quantile, numbers.Real):
        raise ValueError(f"diff_quantile must be a number in [0, 1], got {diff_quantile!r}")
    if not 0.0 <= float(diff_quantile) <= 1.0:
        raise ValueError(f"diff_quantile must be in [0, 1], got {diff_quantile!r}")
    return float(diff_quantile)


def scalable_disentanglement_score(
    gen_factors: np.ndarray, latents: np.ndarray, diff_quantile: float = 0.99
) -> dict[str, np.ndarray | float]:
    """IRS of (N, L) ``latents`` against (N, F) discrete ``gen_factors``.

    Returns ``avg_score`` (the IRS), ``disentanglement_scores`` (L,), ``parents`` (L,), the
    ``IRS_matrix`` (L, F) and ``max_deviations`` (L,). A latent with zero maximal deviation
    gives nan entries (0 / 0), as in the reference; drop constant latents first.
    """
    diff_quantile = _check_quantile(diff_quantile)
    num_factors, num_latents = gen_factors.shape[1], latents.shape[1]
    max_deviations = np.max(np.abs(latents - latents.mean(axis=0)), axis=0)
    cum_deviations = np.zeros([num_latents, num_factors])
    for i in range(num_factors):
        values = np.unique(gen_factors[:, i], axis=0)
        for value in values:
            match = gen_factors[:, i] == value
            conditional_mean = np.mean(latents[match, :], axis=0)
            diffs = np.abs(latents[match, :] - conditional_mean)
            cum_deviations[:, i] += np.percentile(diffs, q=diff_quantile * 100, axis=0)
        cum_deviations[:, i] /= values.shape[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        irs_matrix = 1.0 - cum_deviations / max_deviations[:, np.newaxis]
    disentanglement_scores = irs_matrix.max(axis=1)
    if np.sum(max_deviations) > 0.0:
        avg_score = np.average(disentanglement_scores, weights=max_deviations)
    else:
        avg_score = np.mean(disentanglement_scores)
    return {
        "disentanglement_scores": disentanglement_scores,
        "avg_score": float(avg_score),
        "parents": irs_matrix.argmax(axis=1),
        "IRS_matrix": irs_matrix,
        "max_deviations": max_deviations,
    }


def _irs(codes: np.ndarray, discrete_factors: np.ndarray, diff_quantile: float) -> dict:
    # Mirror the reference's array layouts (it works on (dims, N) transposes) so that float32
    # reductions run in the same order and give bit-identical results.
    mus = codes.T
    active_mus = mus[mus.var(axis=1) > 0.0, :]
    if not active_mus.any():
        _warn("every code dimension is constant; IRS is 0 (as in disentanglement_lib)")
        score = 0.0
    else:
        score = scalable_disentanglement_score(discrete_factors, active_mus.T, diff_quantile)[
            "avg_score"
        ]
    return {"IRS": float(score), "num_active_dims": float(np.sum(active_mus))}


def irs(
    codes: np.ndarray,
    factors: np.ndarray,
    diff_quantile: float = 0.99,
    num_bins: int = 20,
    discretizer: BoundDiscretizer | None = None,
) -> dict[str, float]:
    """IRS of (N, D) codes against (N, F) factors (discrete or continuous).

    The factors are binned by ``discretizer(factors)`` (the plugin passes the gin configurable
    ``discretizer``), by default :func:`~disentangle_bench.metrics.utils.histogram_discretize`
    with ``num_bins`` bins (``num_bins`` is used only then). Returns ``IRS`` and the reference's
    ``num_active_dims`` (see the module docstring).
    """
    codes = _check_codes(codes)
    factors = _check_factors(factors, codes.shape[0], discrete=False)
    diff_quantile = _check_quantile(diff_quantile)
    return _irs(codes, _discretize(factors, num_bins, discretizer), diff_quantile)


class IRS:
    """The IRS plugin ``irs(diff_quantile, num_train, batch_size)``: samples, then :func:`irs`
    with the factors discretised through the gin configurable ``discretizer``.

    Result keys ``IRS``, ``num_active_dims``. Not part of unsupervised_study_v1; the defaults are
    the reference's ``diff_quantile=0.99`` and this project's ``num_train=10000``,
    ``batch_size=16`` (the reference requires both).
    """

    name = "irs"
    result_keys = ("IRS", "num_active_dims")

    def __init__(
        self, diff_quantile: float = 0.99, num_train: int = 10000, batch_size: int = 16
    ) -> None:
        self.diff_quantile = _check_quantile(diff_quantile)
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
        return irs(codes, factors, self.diff_quantile, discretizer=make_discretizer)

    def __repr__(self) -> str:
        return (
            f"IRS(diff_quantile={self.diff_quantile}, num_train={self.num_train}, "
            f"batch_size={self.batch_size})"
        )
