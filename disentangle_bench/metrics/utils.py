"""Helpers shared by the metrics, with disentanglement_lib 1.5's numerics.

Facts taken from ``disentanglement_lib/evaluation/metrics/utils.py`` (google-research): the order
of random draws when sampling codes, the histogram discretiser, the gin names ``discretizer`` and
``histogram_discretizer``, and mutual information / entropy via ``sklearn.metrics``. Unlike the
reference, every array here is samples first: codes are (N, D) and factors (N, F).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable

import gin
import numpy as np
from sklearn.metrics import mutual_info_score

from disentangle_bench.data.ground_truth import GroundTruthData

RepresentationFunction = Callable[[np.ndarray], np.ndarray]
Discretizer = Callable[[np.ndarray, int], np.ndarray]

__all__ = [
    "discrete_entropy",
    "discrete_mutual_info",
    "generate_batch_factor_code",
    "histogram_discretize",
    "make_discretizer",
]


def _check_positive_int(value: object, name: str) -> int:
    """``value`` as an ``int`` if it is a positive integer (bools rejected), else ValueError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _check_2d(array: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (num_samples, dims) array, got shape {array.shape}")
    return array


def generate_batch_factor_code(
    ground_truth_data: GroundTruthData,
    representation_function: RepresentationFunction,
    num_points: int,
    random_state: np.random.RandomState,
    batch_size: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Sample ``num_points`` factors and encode their observations, batch by batch.

    Each batch of ``min(batch_size, remaining)`` points draws factors then observations with
    ``ground_truth_data.sample(n, random_state)`` and then applies ``representation_function``,
    the same sequence of draws as disentanglement_lib's ``generate_batch_factor_code``.

    Returns:
        ``(codes, factors)`` of shapes (num_points, D) and (num_points, F). The reference returns
        the transposes (D, num_points) and (F, num_points).
    """
    num_points = _check_positive_int(num_points, "num_points")
    batch_size = _check_positive_int(batch_size, "batch_size")
    codes: list[np.ndarray] = []
    factors: list[np.ndarray] = []
    done = 0
    while done < num_points:
        n = min(num_points - done, batch_size)
        batch_factors, batch_observations = ground_truth_data.sample(n, random_state)
        batch_codes = np.asarray(representation_function(batch_observations))
        if batch_codes.ndim != 2 or batch_codes.shape[0] != n:
            raise ValueError(
                f"representation_function must return an ({n}, D) array for a batch of {n} "
                f"observations, got shape {batch_codes.shape}"
            )
        codes.append(batch_codes)
        factors.append(np.asarray(batch_factors))
        done += n
    return np.concatenate(codes, axis=0), np.concatenate(factors, axis=0)


def histogram_discretize(target: np.ndarray, num_bins: int = 20) -> np.ndarray:
    """Discretise each column of ``target`` (N, D) into ``num_bins`` equal-width bins.

    Per column: ``np.digitize(column, np.histogram(column, num_bins)[1][:-1])``, so values lie in
    1..num_bins. As in disentanglement_lib's ``_histogram_discretize``, the result is written
    into ``np.zeros_like(target)``: it keeps the input's dtype (float codes give integral floats).
    A constant column falls in the middle bin (numpy widens its range to value +- 0.5).
    """
    target = _check_2d(target, "target")
    num_bins = _check_positive_int(num_bins, "num_bins")
    if not np.all(np.isfinite(target)):
        raise ValueError("cannot discretise non-finite values (nan or inf)")
    discretized = np.zeros_like(target)
    for j in range(target.shape[1]):
        column = target[:, j]
        edges = np.histogram(column, num_bins)[1]
        discretized[:, j] = np.digitize(column, edges[:-1])
    return discretized


# The gin name disentanglement_lib binds (``discretizer.discretizer_fn = @histogram_discretizer``);
# the plain function above stays free of gin state.
gin.external_configurable(histogram_discretize, name="histogram_discretizer", denylist=["target"])


@gin.configurable("discretizer", denylist=["target"])
def make_discretizer(
    target: np.ndarray,
    num_bins: int = 20,
    discretizer_fn: Discretizer = histogram_discretize,
) -> np.ndarray:
    """Discretise (N, D) ``target`` with ``discretizer_fn(target, num_bins)``.

    Gin configurable ``discretizer`` as in disentanglement_lib (``discretizer.num_bins``,
    ``discretizer.discretizer_fn``); the defaults are unsupervised_study_v1's (20-bin histogram).
    """
    return discretizer_fn(target, num_bins)


def discrete_mutual_info(discrete_codes: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """(D, F) matrix of ``mutual_info_score(factors[:, j], discrete_codes[:, i])`` in nats.

    Same argument order (factor first) as disentanglement_lib's ``discrete_mutual_info``.
    """
    discrete_codes = _check_2d(discrete_codes, "discrete_codes")
    factors = _check_2d(factors, "factors")
    if discrete_codes.shape[0] != factors.shape[0]:
        raise ValueError(
            f"discrete_codes has {discrete_codes.shape[0]} samples but factors has "
            f"{factors.shape[0]}"
        )
    num_codes, num_factors = discrete_codes.shape[1], factors.shape[1]
    m = np.zeros((num_codes, num_factors))
    for i in range(num_codes):
        for j in range(num_factors):
            m[i, j] = mutual_info_score(factors[:, j], discrete_codes[:, i])
    return m


def discrete_entropy(factors: np.ndarray) -> np.ndarray:
    """(F,) entropies in nats, ``H(v) = mutual_info_score(v, v)`` as in disentanglement_lib."""
    factors = _check_2d(factors, "factors")
    h = np.zeros(factors.shape[1])
    for j in range(factors.shape[1]):
        h[j] = mutual_info_score(factors[:, j], factors[:, j])
    return h
