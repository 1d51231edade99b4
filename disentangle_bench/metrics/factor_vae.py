"""FactorVAE score, score for score as disentanglement_lib 1.5's ``factor_vae_score``.

Kim and Mnih, "Disentangling by Factorising", ICML 2018, Sec. 4; disentanglement_lib's
``evaluation/metrics/factor_vae.py`` (google-research). The global variance (ddof 1) of each code
dimension is estimated on ``num_variance_estimate`` points; dimensions whose standard deviation is
below ``prune_dims.threshold`` are inactive. One training point: draw a factor ``k``, a batch of
``batch_size`` factor vectors that all share factor ``k``'s value; the vote goes to the active
dimension with the smallest ``local variance / global variance``. A majority-vote classifier maps
each dimension to the factor it most often wins for; the scores are its accuracies.

Reference behaviour kept for parity (documented in docs/metrics.md):

- no active dimension: every score is 0 (here also with a ``RuntimeWarning``);
- ``num_active_dims`` is ``len`` of the boolean activity mask, i.e. the number of *all* code
  dimensions, not of the active ones;
- the vote index is the position among the active dimensions, while the vote table has a column
  per code dimension.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterable, Iterator

import gin
import numpy as np

from disentangle_bench.data.ground_truth import GroundTruthData
from disentangle_bench.metrics.utils import (
    RepresentationFunction,
    _check_codes,
    _check_positive_int,
    _represent,
    _warn,
    obtain_representation,
)

__all__ = [
    "FactorVAEScore",
    "factor_vae_score",
    "factor_vae_score_from_batches",
    "factor_vae_votes",
    "prune_dims",
]

#: Batch size of the global-variance pass, fixed in the reference (``eval_batch_size=64``).
VARIANCE_BATCH_SIZE = 64

#: (N,) variances -> mask of active dimensions, e.g. the gin configurable :func:`prune_dims`.
Prune = Callable[[np.ndarray], np.ndarray]


@gin.configurable("prune_dims", denylist=["variances"])
def prune_dims(variances: np.ndarray, threshold: float = 0.05) -> np.ndarray:
    """Mask of active dimensions: ``sqrt(variances) >= threshold``.

    Gin configurable ``prune_dims`` as in disentanglement_lib. Its code default is 0; the default
    here is unsupervised_study_v1's ``prune_dims.threshold = 0.05``.
    """
    return np.sqrt(variances) >= threshold


def _vote(codes: np.ndarray, global_variances: np.ndarray, active_dims: np.ndarray) -> np.intp:
    """Position, among the active dimensions, of the smallest local / global variance ratio."""
    local_variances = np.var(codes, axis=0, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.argmin(local_variances[active_dims] / global_variances[active_dims])


def _accuracy(votes: np.ndarray, classifier: np.ndarray) -> float:
    return float(np.sum(votes[classifier, np.arange(votes.shape[1])]) * 1.0 / np.sum(votes))


def factor_vae_votes(
    batch_codes: np.ndarray,
    labels: np.ndarray,
    global_variances: np.ndarray,
    active_dims: np.ndarray,
    num_factors: int,
) -> np.ndarray:
    """Vote table (num_factors, D): ``votes[k, j]`` counts batches with fixed factor ``k`` whose
    argmin (an index among the active dimensions, as in the reference) is ``j``.

    ``batch_codes`` is (P, B, D): P batches of B codes that share the value of factor
    ``labels[p]``.
    """
    batches = _labelled(batch_codes, labels, "batch")
    return _batch_votes(batches, global_variances, np.asarray(active_dims, bool), num_factors)


def _scores(train_votes: np.ndarray, eval_votes: np.ndarray, num_dims: int) -> dict[str, float]:
    classifier = np.argmax(train_votes, axis=0)
    return {
        "train_accuracy": _accuracy(train_votes, classifier),
        "eval_accuracy": _accuracy(eval_votes, classifier),
        "num_active_dims": num_dims,
    }


def _no_active_dims() -> dict[str, float]:
    _warn(
        "no code dimension has a standard deviation >= prune_dims.threshold; the FactorVAE "
        "score is 0 (as in disentanglement_lib)"
    )
    return {"train_accuracy": 0.0, "eval_accuracy": 0.0, "num_active_dims": 0}


Batch = tuple[int, np.ndarray]


def _batch_votes(
    batches: Iterable[Batch],
    global_variances: np.ndarray,
    active_dims: np.ndarray,
    num_factors: int,
) -> np.ndarray:
    votes = np.zeros((num_factors, global_variances.shape[0]), dtype=np.int64)
    for label, codes in batches:
        codes = _check_codes(codes, "batch codes")
        if codes.shape[0] < 2 or codes.shape[1] != global_variances.shape[0]:
            raise ValueError(
                f"each batch must be (batch_size >= 2, {global_variances.shape[0]}) codes, got "
                f"shape {codes.shape}"
            )
        if isinstance(label, bool) or not isinstance(label, numbers.Integral):
            raise ValueError(f"labels must be integer factor indices, got {label!r}")
        if not 0 <= label < num_factors:
            raise ValueError(f"labels must be factor indices in [0, {num_factors}), got {label!r}")
        votes[label, _vote(codes, global_variances, active_dims)] += 1
    return votes


def factor_vae_score_from_batches(
    variance_codes: np.ndarray,
    train_batches: Iterable[Batch],
    eval_batches: Iterable[Batch],
    num_factors: int,
    threshold: float = 0.05,
    prune: Prune | None = None,
) -> dict[str, float]:
    """FactorVAE score from ``(label, codes)`` batches, consumed one at a time.

    Each batch is ``(k, (B, D) codes)`` of B samples that share the value of factor ``k``.
    The batches may be lazy iterators: they are read only after the global variances, training
    batches before evaluation batches, and not at all when no dimension is active (the plugin
    draws each batch only when it is read, so it draws what the reference draws).

    Args:
        variance_codes: (M, D) codes of M independent samples (global variances, ddof 1).
        num_factors: number of factors (rows of the vote table).
        threshold: minimum standard deviation of an active dimension, used when ``prune`` is
            None (``prune_dims(variances, threshold)``).
        prune: ``prune(variances) -> mask`` of active dimensions (the plugin passes the gin
            configurable :func:`prune_dims`).
    """
    variance_codes = _check_codes(variance_codes, "variance_codes")
    if variance_codes.shape[0] < 2:
        raise ValueError("variance_codes needs at least 2 samples (variance with ddof 1)")
    num_factors = _check_positive_int(num_factors, "num_factors")
    global_variances = np.var(variance_codes, axis=0, ddof=1)
    if prune is None:
        active_dims = prune_dims(global_variances, threshold)
    else:
        active_dims = np.asarray(prune(global_variances), dtype=bool)
    if not active_dims.any():
        return _no_active_dims()
    train_votes = _batch_votes(train_batches, global_variances, active_dims, num_factors)
    eval_votes = _batch_votes(eval_batches, global_variances, active_dims, num_factors)
    return _scores(train_votes, eval_votes, len(active_dims))


def _labelled(batch_codes: np.ndarray, labels: np.ndarray, name: str) -> Iterator[Batch]:
    batch_codes, labels = np.asarray(batch_codes), np.asarray(labels)
    if batch_codes.ndim != 3 or batch_codes.shape[1] < 2:
        raise ValueError(
            f"{name}_codes must be (num_points, batch_size >= 2, D), got shape {batch_codes.shape}"
        )
    if labels.shape != (batch_codes.shape[0],):
        raise ValueError(
            f"{name}_labels must have shape ({batch_codes.shape[0]},), got {labels.shape}"
        )
    return zip(labels.tolist(), batch_codes, strict=True)


def factor_vae_score(
    variance_codes: np.ndarray,
    train_codes: np.ndarray,
    train_labels: np.ndarray,
    eval_codes: np.ndarray,
    eval_labels: np.ndarray,
    num_factors: int,
    threshold: float = 0.05,
    prune: Prune | None = None,
) -> dict[str, float]:
    """FactorVAE score from codes (arrays; :func:`factor_vae_score_from_batches` on them).

    Args:
        variance_codes: (M, D) codes of M independent samples (global variances, ddof 1).
        train_codes, eval_codes: (P, B, D) codes of P batches, each batch sharing the value of
            the factor given by ``train_labels`` / ``eval_labels`` (P,).
        num_factors: number of factors (rows of the vote table).
        threshold: minimum standard deviation of an active dimension (``prune_dims``), used
            when ``prune`` is None.
        prune: ``prune(variances) -> mask`` of active dimensions (e.g. the gin configurable
            :func:`prune_dims` with its bound threshold).

    Returns:
        ``train_accuracy``, ``eval_accuracy`` and ``num_active_dims`` (see the module docstring
        for the reference's meaning of the last).
    """
    train = _labelled(train_codes, train_labels, "train")
    evaluation = _labelled(eval_codes, eval_labels, "eval")
    return factor_vae_score_from_batches(
        variance_codes, train, evaluation, num_factors, threshold, prune
    )


def _sample_batches(
    data: GroundTruthData,
    representation_function: RepresentationFunction,
    batch_size: int,
    num_points: int,
    random_state: np.random.RandomState,
    num_dims: int,
) -> Iterator[Batch]:
    """``num_points`` batches ``(k, codes)``, each drawn only when it is read and in the
    reference's order: the factor index, the factors (factor ``k`` fixed), the observations."""
    for _ in range(num_points):
        factor_index = random_state.randint(data.num_factors)
        factors = data.sample_factors(batch_size, random_state)
        factors[:, factor_index] = factors[0, factor_index]
        observations = data.sample_observations_from_factors(factors, random_state)
        yield factor_index, _represent(representation_function, observations, num_dims)


def _same_state(a: tuple, b: tuple) -> bool:
    return a[0] == b[0] and np.array_equal(a[1], b[1]) and tuple(a[2:]) == tuple(b[2:])


def _variance_codes(
    data: GroundTruthData,
    representation_function: RepresentationFunction,
    num: int,
    random_state: np.random.RandomState,
) -> np.ndarray:
    """Codes of ``data.sample_observations(num, random_state)``, encoded 64 at a time.

    The reference renders all ``num`` observations at once. Here the factors are drawn at once
    (the same draws), then observations are rendered 64 at a time when the dataset's rendering
    draws nothing from ``random_state`` (checked on the first chunk), which gives the same
    observations with bounded memory; a dataset whose rendering is random is rendered at once,
    exactly as in the reference.
    """
    factors = data.sample_factors(num, random_state)
    state = random_state.get_state()
    first = data.sample_observations_from_factors(factors[:VARIANCE_BATCH_SIZE], random_state)
    if not _same_state(state, random_state.get_state()):
        random_state.set_state(state)
        observations = data.sample_observations_from_factors(factors, random_state)
        return obtain_representation(observations, representation_function, VARIANCE_BATCH_SIZE)
    codes = [_represent(representation_function, first)]
    for start in range(VARIANCE_BATCH_SIZE, num, VARIANCE_BATCH_SIZE):
        chunk = factors[start : start + VARIANCE_BATCH_SIZE]
        observations = data.sample_observations_from_factors(chunk, random_state)
        codes.append(_represent(representation_function, observations, codes[0].shape[1]))
    return np.concatenate(codes, axis=0)


class FactorVAEScore:
    """The FactorVAE score plugin ``factor_vae_score(batch_size, num_train, num_eval,
    num_variance_estimate)``; the pruning threshold is the gin configurable
    ``prune_dims.threshold`` (0.05).

    Result keys ``train_accuracy``, ``eval_accuracy``, ``num_active_dims``. Defaults:
    unsupervised_study_v1. The global-variance pass encodes 64 observations at a time, as the
    reference does; the batches are drawn lazily and scored one at a time by
    :func:`factor_vae_score_from_batches`, so memory stays bounded.
    """

    name = "factor_vae_score"
    result_keys = ("train_accuracy", "eval_accuracy", "num_active_dims")

    def __init__(
        self,
        batch_size: int = 64,
        num_train: int = 10000,
        num_eval: int = 5000,
        num_variance_estimate: int = 10000,
    ) -> None:
        self.batch_size = _check_positive_int(batch_size, "batch_size")
        if self.batch_size < 2:
            raise ValueError("batch_size must be at least 2 (local variances use ddof 1)")
        self.num_train = _check_positive_int(num_train, "num_train")
        self.num_eval = _check_positive_int(num_eval, "num_eval")
        self.num_variance_estimate = _check_positive_int(
            num_variance_estimate, "num_variance_estimate"
        )
        if self.num_variance_estimate < 2:
            raise ValueError("num_variance_estimate must be at least 2 (variance with ddof 1)")

    def __call__(
        self,
        ground_truth_data: GroundTruthData,
        representation_function: RepresentationFunction,
        random_state: np.random.RandomState,
    ) -> dict[str, float]:
        variance_codes = _variance_codes(
            ground_truth_data, representation_function, self.num_variance_estimate, random_state
        )
        sample = (ground_truth_data, representation_function, self.batch_size)
        num_dims = variance_codes.shape[1]
        # Lazy: drawn by the core after the global variances, train before eval, as the
        # reference draws them (and not at all when no dimension is active).
        train = _sample_batches(*sample, self.num_train, random_state, num_dims)
        evaluation = _sample_batches(*sample, self.num_eval, random_state, num_dims)
        return factor_vae_score_from_batches(
            variance_codes, train, evaluation, ground_truth_data.num_factors, prune=prune_dims
        )

    def __repr__(self) -> str:
        return (
            f"FactorVAEScore(batch_size={self.batch_size}, num_train={self.num_train}, "
            f"num_eval={self.num_eval}, num_variance_estimate={self.num_variance_estimate})"
        )
