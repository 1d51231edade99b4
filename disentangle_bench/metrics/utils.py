"""Helpers shared by the metrics, with disentanglement_lib 1.5's numerics.

Facts taken from ``disentanglement_lib/evaluation/metrics/utils.py`` (google-research): the order
of random draws when sampling codes, the histogram discretiser, the gin names ``discretizer`` and
``histogram_discretizer``, and mutual information / entropy via ``sklearn.metrics``. Unlike the
reference, every array here is samples first: codes are (N, D) and factors (N, F).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import numbers
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TextIO, TypeVar

import gin
import numpy as np
from sklearn import ensemble, linear_model, model_selection
from sklearn.metrics import mutual_info_score
from threadpoolctl import threadpool_limits

from disentangle_bench.data.ground_truth import GroundTruthData
from disentangle_bench.util.progress import Progress, format_duration

RepresentationFunction = Callable[[np.ndarray], np.ndarray]
Discretizer = Callable[[np.ndarray, int], np.ndarray]
#: A discretiser with its settings bound: (N, D) values -> their discretisation, e.g. the gin
#: configurable ``discretizer`` (:func:`make_discretizer`) called with the values alone.
BoundDiscretizer = Callable[[np.ndarray], np.ndarray]
RandomStateLike = np.random.RandomState | int | None

__all__ = [
    "discrete_entropy",
    "discrete_mutual_info",
    "fork_random_state",
    "generate_batch_factor_code",
    "gradient_boosting_classifier",
    "hist_gradient_boosting_classifier",
    "histogram_discretize",
    "logistic_regression_cv",
    "make_discretizer",
    "make_predictor_fn",
    "metric_progress",
    "normalize_data",
    "obtain_representation",
    "seeded_global_generator",
]


F = TypeVar("F", bound=Callable[..., Any])


def one_thread(function: F) -> F:
    """Run ``function`` with BLAS and OpenMP limited to one thread (``threadpoolctl``).

    The metrics fit scikit-learn models on a handful of features; threaded BLAS only adds
    synchronisation there, and on a shared machine an oversubscribed pool is many times slower.
    The results are the same (the parity tests pass either way). Only model fitting is wrapped,
    never the representation function.
    """

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with threadpool_limits(limits=1):
            return function(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _check_positive_int(value: object, name: str) -> int:
    """``value`` as an ``int`` if it is a positive integer (bools rejected), else ValueError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _check_non_negative(value: object, name: str) -> float:
    """``value`` as a ``float`` if it is a non-negative real number (bools rejected), else
    ValueError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= 0:
        raise ValueError(f"{name} must be a non-negative number, got {value!r}")
    return float(value)


def _check_2d(array: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (num_samples, dims) array, got shape {array.shape}")
    return array


def _check_codes(codes: np.ndarray, name: str = "codes", *, min_dims: int = 1) -> np.ndarray:
    """A finite, numeric (N, D) array with N >= 1 and D >= ``min_dims`` (unchanged dtype)."""
    codes = _check_2d(codes, name)
    if codes.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be numeric, got dtype {codes.dtype}")
    if codes.shape[0] < 1:
        raise ValueError(f"{name} has no samples")
    if codes.shape[1] < min_dims:
        raise ValueError(f"{name} must have at least {min_dims} dimension(s), got {codes.shape[1]}")
    if codes.dtype.kind == "f" and not np.all(np.isfinite(codes)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return codes


def _check_factors(
    factors: np.ndarray, num_samples: int, name: str = "factors", *, discrete: bool = True
) -> np.ndarray:
    """A finite (N, F) array with F >= 1 and N == ``num_samples``; integer-valued if
    ``discrete`` (the metric treats each value as a class)."""
    factors = _check_2d(factors, name)
    if factors.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be numeric, got dtype {factors.dtype}")
    if factors.shape[0] != num_samples:
        raise ValueError(f"{name} has {factors.shape[0]} samples but the codes have {num_samples}")
    if factors.shape[1] < 1:
        raise ValueError(f"{name} must have at least one factor")
    if factors.dtype.kind == "f":
        if not np.all(np.isfinite(factors)):
            raise ValueError(f"{name} contains NaN or infinite values")
        if discrete and not np.all(factors == np.round(factors)):
            raise ValueError(
                f"{name} must be discrete (integer class labels) for this metric; bin continuous "
                "factors first (histogram_discretize) or use a metric that accepts them "
                "(sap_score with continuous_factors=True, irs)"
            )
    return factors


def _check_train_test(
    codes_train: np.ndarray,
    factors_train: np.ndarray,
    codes_test: np.ndarray,
    factors_test: np.ndarray,
    *,
    min_dims: int = 1,
    discrete: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Validate a train/test split of (N, D) codes and (N, F) factors (same D and F)."""
    codes_train = _check_codes(codes_train, "codes_train", min_dims=min_dims)
    codes_test = _check_codes(codes_test, "codes_test", min_dims=min_dims)
    factors_train = _check_factors(
        factors_train, codes_train.shape[0], "factors_train", discrete=discrete
    )
    factors_test = _check_factors(
        factors_test, codes_test.shape[0], "factors_test", discrete=discrete
    )
    if codes_train.shape[1] != codes_test.shape[1]:
        raise ValueError(
            f"codes_train has {codes_train.shape[1]} dimensions but codes_test has "
            f"{codes_test.shape[1]}"
        )
    if factors_train.shape[1] != factors_test.shape[1]:
        raise ValueError(
            f"factors_train has {factors_train.shape[1]} factors but factors_test has "
            f"{factors_test.shape[1]}"
        )
    return codes_train, factors_train, codes_test, factors_test


def _check_classes(labels: np.ndarray, what: str) -> None:
    """A classifier needs at least two classes; say which factor has one."""
    if np.unique(labels).size < 2:
        raise ValueError(
            f"{what} takes a single value in the training sample, so no classifier can be "
            "trained on it; use more points or drop the factor"
        )


def _represent(
    representation_function: RepresentationFunction,
    observations: np.ndarray,
    num_dims: int | None = None,
) -> np.ndarray:
    """``representation_function(observations)`` checked: an (n, D) finite numeric array, D equal
    to ``num_dims`` when given (every batch of one metric must agree)."""
    n = len(observations)
    codes = np.asarray(representation_function(observations))
    if codes.ndim != 2 or codes.shape[0] != n:
        raise ValueError(
            f"representation_function must return an ({n}, D) array for a batch of {n} "
            f"observations, got shape {codes.shape}"
        )
    if codes.dtype.kind not in "biuf":
        raise ValueError(f"representation_function returned dtype {codes.dtype}, not numbers")
    if num_dims is not None and codes.shape[1] != num_dims:
        raise ValueError(
            f"representation_function returned {codes.shape[1]} dimensions for one batch and "
            f"{num_dims} for another"
        )
    if codes.dtype.kind == "f" and not np.all(np.isfinite(codes)):
        raise ValueError("representation_function returned NaN or infinite values")
    return codes


def fork_random_state(random_state: np.random.RandomState) -> np.random.RandomState:
    """A copy of ``random_state`` at its current position, for estimators that need a seed.

    Drawing from the copy leaves ``random_state`` untouched, so the metric's own sequence of
    draws (and with it parity with disentanglement_lib's sampling) is unchanged, and the result
    is still a deterministic function of the metric's seed.
    """
    fork = np.random.RandomState()
    fork.set_state(random_state.get_state())
    return fork


@contextlib.contextmanager
def seeded_global_generator(random_state: np.random.RandomState) -> Iterator[None]:
    """Give NumPy's global generator the state of ``random_state`` for the ``with`` block, then
    put its previous state back (also when the block raises).

    scikit-learn estimators built with ``random_state=None`` draw from the global generator
    (``check_random_state(None)`` is ``np.random.mtrand._rand``). For a fresh
    ``np.random.RandomState(seed)`` this is exactly ``np.random.seed(seed)``, so an estimator
    inside the block draws what it draws in disentanglement_lib after ``np.random.seed(seed)``.
    ``random_state`` itself is not advanced. Not thread-safe: another thread drawing from the
    global generator meanwhile changes the draws (as it would in the reference).
    """
    saved = np.random.get_state()
    np.random.set_state(random_state.get_state())
    try:
        yield
    finally:
        np.random.set_state(saved)


#: How the boosted-tree metrics break ties between equally good splits (``tie_breaking``):
#: ``"reference"`` as disentanglement_lib (NumPy's global generator, given the metric's seed by
#: :func:`seeded_global_generator`), ``"fork"`` from a copy of the metric's generator after
#: sampling (:func:`fork_random_state`; the global generator is never touched).
TIE_BREAKING = ("reference", "fork")


def _check_tie_breaking(value: object) -> str:
    if value not in TIE_BREAKING:
        raise ValueError(f"tie_breaking must be one of {list(TIE_BREAKING)}, got {value!r}")
    return str(value)


# --- progress of a long evaluation ---------------------------------------------------------

#: Seconds a metric runs before its first progress line (and between lines).
PROGRESS_INTERVAL = 5.0


class _Evaluation:
    """One metric evaluation that prints progress: its label, stream and last line's time."""

    def __init__(self, label: str, stream: TextIO, interval: float) -> None:
        self.label = label
        self.stream = stream
        self.interval = interval
        self.started = time.monotonic()
        self.last_line = self.started
        self.sampling = False  # a sampling loop is running: it prints its own lines
        self.lock = threading.Lock()

    def print(self, line: Callable[[], str], *, force: bool = False) -> bool:
        """Print ``line()`` if ``interval`` s passed since the last line (or ``force``)."""
        with self.lock:
            now = time.monotonic()
            if not force and now - self.last_line < self.interval:
                return False
            self.last_line = now
            print(line(), file=self.stream, flush=True)
            return True

    def heartbeat(self, stop: threading.Event) -> None:
        """Between the sampling loops' lines (model fitting, a plugin's own loop): elapsed."""
        while not stop.wait(self.interval / 4):
            if not self.sampling:
                self.print(self._elapsed_line)

    def _elapsed_line(self) -> str:
        elapsed = format_duration(time.monotonic() - self.started)
        return f"{self.label}: still scoring, {elapsed} so far"


_ACTIVE: contextvars.ContextVar[_Evaluation | None] = contextvars.ContextVar(
    "metric_progress", default=None
)


@contextlib.contextmanager
def metric_progress(
    label: str, *, stream: TextIO | None = None, interval: float = PROGRESS_INTERVAL
) -> Iterator[None]:
    """Periodic lines while a metric runs inside the block, once it has run ``interval`` s.

    The sampling loops (:func:`generate_batch_factor_code`, :func:`obtain_representation`)
    print ``label: codes done/total (pct) rate points/s ETA ...``; in between (a classifier
    being fitted, a plugin's own loop) a line says how long the metric has run. A metric that
    finishes within ``interval`` prints nothing. Outside such a block nothing is printed.
    """
    evaluation = _Evaluation(label, stream if stream is not None else sys.stderr, interval)
    token = _ACTIVE.set(evaluation)
    stop = threading.Event()
    thread = threading.Thread(target=evaluation.heartbeat, args=(stop,), daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        _ACTIVE.reset(token)


class _SamplingProgress:
    """Progress lines of one sampling loop inside :func:`metric_progress` (else silent)."""

    def __init__(self, total: int, what: str) -> None:
        self.evaluation = _ACTIVE.get()
        self.progress = None
        self.shown = False
        if self.evaluation is not None:
            label = f"{self.evaluation.label}: {what}"
            self.progress = Progress(total, label, unit="points", stream=self.evaluation.stream)

    def update(self, done: int) -> None:
        if self.evaluation is None or self.progress is None:
            return
        progress = self.progress
        finished = done >= progress.total
        self.evaluation.sampling = not finished
        if self.evaluation.print(lambda: progress.line(done), force=finished and self.shown):
            self.shown = True


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
    num_dims = None
    progress = _SamplingProgress(num_points, "codes")
    while done < num_points:
        n = min(num_points - done, batch_size)
        batch_factors, batch_observations = ground_truth_data.sample(n, random_state)
        batch_codes = _represent(representation_function, batch_observations, num_dims)
        num_dims = batch_codes.shape[1]
        codes.append(batch_codes)
        factors.append(np.asarray(batch_factors))
        done += n
        progress.update(done)
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


def _discretize(
    target: np.ndarray, num_bins: int, discretizer: BoundDiscretizer | None
) -> np.ndarray:
    """``discretizer(target)`` if given (a plugin passes the gin-bound :func:`make_discretizer`),
    else the reference default :func:`histogram_discretize` with ``num_bins`` bins."""
    if discretizer is None:
        return histogram_discretize(target, num_bins)
    discretized = np.asarray(discretizer(target))
    if discretized.shape != np.shape(target):
        raise ValueError(
            f"the discretizer returned shape {discretized.shape} for values of shape "
            f"{np.shape(target)}"
        )
    return discretized


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


def obtain_representation(
    observations: np.ndarray, representation_function: RepresentationFunction, batch_size: int
) -> np.ndarray:
    """Codes (N, D) of ``observations``, ``batch_size`` at a time (reference:
    ``utils.obtain_representation``, which returns the transpose)."""
    batch_size = _check_positive_int(batch_size, "batch_size")
    codes = []
    num_dims = None
    progress = _SamplingProgress(len(observations), "codes")
    for start in range(0, len(observations), batch_size):
        batch = _represent(
            representation_function, observations[start : start + batch_size], num_dims
        )
        num_dims = batch.shape[1]
        codes.append(batch)
        progress.update(start + len(batch))
    return np.concatenate(codes, axis=0)


def normalize_data(
    data: np.ndarray, mean: np.ndarray | None = None, stddev: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Standardise the columns of (N, D) ``data``: ``(data - mean) / stddev`` (population std).

    As disentanglement_lib's ``utils.normalize_data`` (which works on the transpose): the mean and
    standard deviation are computed from ``data`` unless given, and returned for reuse on a test
    set. Statistics keep the input's dtype (float32 codes give float32 statistics).
    """
    # The reference reduces over the points axis of a (D, N) view of the same memory; reducing a
    # transposed view keeps numpy's summation order, hence bit-identical float32 results.
    view = data.T
    if mean is None:
        mean = np.mean(view, axis=1)
    if stddev is None:
        stddev = np.std(view, axis=1)
    normalized = (view - mean[:, np.newaxis]) / stddev[:, np.newaxis]
    return normalized.T, mean, stddev


# --- predictors for the downstream task (gin names as in disentanglement_lib) ---------------


@gin.configurable("logistic_regression_cv")
def logistic_regression_cv() -> linear_model.LogisticRegressionCV:
    """``LogisticRegressionCV(Cs=10, cv=KFold(n_splits=5))``: disentanglement_lib's
    ``logistic_regression_cv`` (5 unshuffled folds, 10 regularisation strengths)."""
    return linear_model.LogisticRegressionCV(Cs=10, cv=model_selection.KFold(n_splits=5))


@gin.configurable("gradient_boosting_classifier")
def gradient_boosting_classifier() -> ensemble.GradientBoostingClassifier:
    """scikit-learn's default ``GradientBoostingClassifier()``: disentanglement_lib's
    ``gradient_boosting_classifier`` (100 depth-3 trees, learning rate 0.1)."""
    return ensemble.GradientBoostingClassifier()


@gin.configurable("hist_gradient_boosting_classifier")
def hist_gradient_boosting_classifier() -> ensemble.HistGradientBoostingClassifier:
    """A fast stand-in for :func:`gradient_boosting_classifier` (not in disentanglement_lib):
    histogram boosting with the same shape of ensemble (100 iterations of depth-3 trees with at
    most 8 leaves, leaves of one sample allowed, learning rate 0.1, no early stopping)."""
    return ensemble.HistGradientBoostingClassifier(
        max_iter=100,
        max_depth=3,
        max_leaf_nodes=8,
        min_samples_leaf=1,
        learning_rate=0.1,
        early_stopping=False,
    )


Predictor = Callable[[], Any]


@gin.configurable("predictor")
def make_predictor_fn(predictor_fn: Predictor = logistic_regression_cv) -> Predictor:
    """The gin configurable ``predictor``: returns ``predictor_fn``, a function that builds a
    fresh classifier (``predictor.predictor_fn = @gradient_boosting_classifier``).

    disentanglement_lib has no default (``gin.REQUIRED``); here it is
    :func:`logistic_regression_cv`, the predictor of its ``downstream_task_logistic_regression``.
    """
    return predictor_fn


def _seeded(model: Any, random_state: np.random.RandomState) -> Any:
    """Give a scikit-learn estimator whose ``random_state`` is unset ``random_state``.

    disentanglement_lib leaves it unset, so boosted trees break ties between equally good splits
    with NumPy's global generator; with ``tie_breaking="fork"`` they draw from a fork of the
    metric's generator instead (reproducible from the seed, but not the reference's draws).
    """
    get_params = getattr(model, "get_params", None)
    if (
        get_params is not None
        and "random_state" in get_params()
        and (get_params()["random_state"] is None)
    ):
        model.set_params(random_state=random_state)
    return model


def _warn(message: str) -> None:
    warnings.warn(message, RuntimeWarning, stacklevel=3)


def _as_tuple(value: object, name: str) -> tuple[int, ...]:
    values = (value,) if isinstance(value, numbers.Integral) else value
    if not isinstance(values, Sequence) or isinstance(values, str) or not values:
        raise ValueError(f"{name} must be a positive integer or a list of them, got {value!r}")
    return tuple(_check_positive_int(v, name) for v in values)
