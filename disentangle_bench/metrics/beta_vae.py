"""BetaVAE score, score for score as disentanglement_lib 1.5's ``beta_vae_sklearn``.

Higgins et al., "beta-VAE: Learning Basic Visual Concepts with a Constrained Variational
Framework", ICLR 2017, Sec. 3; the scikit-learn variant of disentanglement_lib's
``evaluation/metrics/beta_vae.py`` (google-research). One training point: draw a factor ``k``
uniformly, two batches of ``batch_size`` factor vectors that agree on factor ``k``; the feature is
the mean over the batch of ``|z(x1) - z(x2)|`` and the label is ``k``. A logistic regression
predicts ``k``; the scores are its train and evaluation accuracies.

It is an interventional metric: the pairs need factor vectors that agree on one factor, so the
array core takes the features (or the paired codes), not a plain (codes, factors) sample.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from sklearn import linear_model

from disentangle_bench.data.ground_truth import GroundTruthData
from disentangle_bench.metrics.utils import (
    RepresentationFunction,
    _check_2d,
    _check_classes,
    _check_positive_int,
    _represent,
    one_thread,
)

__all__ = ["BetaVAESklearn", "beta_vae_features", "beta_vae_sklearn"]


def beta_vae_features(codes1: np.ndarray, codes2: np.ndarray) -> np.ndarray:
    """Features (P, D) from paired code batches (P, B, D): ``mean_b |codes1 - codes2|``.

    ``codes1[p]`` and ``codes2[p]`` encode two batches of factor vectors that agree on the
    factor that is training point ``p``'s label.
    """
    codes1, codes2 = np.asarray(codes1), np.asarray(codes2)
    if codes1.ndim != 3 or codes1.shape != codes2.shape:
        raise ValueError(
            "codes1 and codes2 must be (num_points, batch_size, D) arrays of one shape, got "
            f"{codes1.shape} and {codes2.shape}"
        )
    for codes in (codes1, codes2):
        if codes.dtype.kind == "f" and not np.all(np.isfinite(codes)):
            raise ValueError("codes contain NaN or infinite values")
    features = np.zeros((codes1.shape[0], codes1.shape[2]))
    for p in range(codes1.shape[0]):
        features[p] = np.mean(np.abs(codes1[p] - codes2[p]), axis=0)
    return features


def _check_features(features: np.ndarray, labels: np.ndarray, name: str) -> tuple[np.ndarray, ...]:
    features = _check_2d(features, f"{name}_features")
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.shape[0] != features.shape[0]:
        raise ValueError(
            f"{name}_labels must be a 1-D array with one label per row of {name}_features "
            f"({features.shape[0]}), got shape {labels.shape}"
        )
    if features.shape[0] < 1:
        raise ValueError(f"{name}_features has no points")
    if not np.all(np.isfinite(features)):
        raise ValueError(f"{name}_features contains NaN or infinite values")
    return features, labels


@one_thread
def beta_vae_sklearn(
    train_features: np.ndarray,
    train_labels: np.ndarray,
    eval_features: np.ndarray,
    eval_labels: np.ndarray,
    random_state: np.random.RandomState | int | None = None,
) -> dict[str, float]:
    """Accuracy of ``LogisticRegression(random_state=random_state)`` predicting the fixed factor.

    Features as from :func:`beta_vae_features`, labels are factor indices. Returns
    ``train_accuracy`` and ``eval_accuracy`` (fractions of points whose factor is predicted).
    With its default lbfgs solver the regression draws nothing from ``random_state``.
    """
    train_features, train_labels = _check_features(train_features, train_labels, "train")
    eval_features, eval_labels = _check_features(eval_features, eval_labels, "eval")
    if train_features.shape[1] != eval_features.shape[1]:
        raise ValueError("train_features and eval_features have different numbers of dimensions")
    _check_classes(train_labels, "the fixed-factor label")
    model = linear_model.LogisticRegression(random_state=random_state)
    model.fit(train_features, train_labels)
    return {
        "train_accuracy": float(np.mean(model.predict(train_features) == train_labels)),
        "eval_accuracy": float(model.score(eval_features, eval_labels)),
    }


def _paired_codes(
    data: GroundTruthData,
    representation_function: RepresentationFunction,
    batch_size: int,
    num_points: int,
    random_state: np.random.RandomState,
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """``num_points`` triples ``(k, codes1, codes2)`` of (batch_size, D) codes of two factor
    batches that agree on factor ``k``, drawn exactly as the reference draws per point: the
    factor index, two factor batches, two observation batches."""
    num_dims = None
    for _ in range(num_points):
        index = random_state.randint(data.num_factors)
        factors1 = data.sample_factors(batch_size, random_state)
        factors2 = data.sample_factors(batch_size, random_state)
        factors2[:, index] = factors1[:, index]
        observations1 = data.sample_observations_from_factors(factors1, random_state)
        observations2 = data.sample_observations_from_factors(factors2, random_state)
        codes1 = _represent(representation_function, observations1, num_dims)
        codes2 = _represent(representation_function, observations2, codes1.shape[1])
        num_dims = codes1.shape[1]
        yield index, codes1, codes2


def _sample_features(
    data: GroundTruthData,
    representation_function: RepresentationFunction,
    batch_size: int,
    num_points: int,
    random_state: np.random.RandomState,
) -> tuple[np.ndarray, np.ndarray]:
    """Features (num_points, D) and labels: :func:`beta_vae_features` of each sampled pair, one
    pair in memory at a time."""
    rows, labels = [], []
    for index, codes1, codes2 in _paired_codes(
        data, representation_function, batch_size, num_points, random_state
    ):
        rows.append(beta_vae_features(codes1[np.newaxis], codes2[np.newaxis])[0])
        labels.append(index)
    return np.stack(rows), np.asarray(labels, dtype=np.int64)


class BetaVAESklearn:
    """The BetaVAE score plugin ``beta_vae_sklearn(batch_size, num_train, num_eval)``.

    Result keys ``train_accuracy``, ``eval_accuracy``. Defaults: unsupervised_study_v1
    (batch 64, 10,000 training and 5,000 evaluation points). The training and the evaluation
    features are drawn (:func:`beta_vae_features` of each pair), then scored by
    :func:`beta_vae_sklearn`.
    """

    name = "beta_vae_sklearn"
    result_keys = ("train_accuracy", "eval_accuracy")

    def __init__(self, batch_size: int = 64, num_train: int = 10000, num_eval: int = 5000) -> None:
        self.batch_size = _check_positive_int(batch_size, "batch_size")
        self.num_train = _check_positive_int(num_train, "num_train")
        self.num_eval = _check_positive_int(num_eval, "num_eval")

    def __call__(
        self,
        ground_truth_data: GroundTruthData,
        representation_function: RepresentationFunction,
        random_state: np.random.RandomState,
    ) -> dict[str, float]:
        if ground_truth_data.num_factors < 2:
            raise ValueError("the BetaVAE score needs at least 2 factors to tell apart")
        sample = (ground_truth_data, representation_function, self.batch_size)
        train_features, train_labels = _sample_features(*sample, self.num_train, random_state)
        # The reference fits between the two draws; the fit draws nothing (lbfgs), so drawing
        # the evaluation set first draws the same.
        eval_features, eval_labels = _sample_features(*sample, self.num_eval, random_state)
        return beta_vae_sklearn(
            train_features, train_labels, eval_features, eval_labels, random_state
        )

    def __repr__(self) -> str:
        return (
            f"BetaVAESklearn(batch_size={self.batch_size}, num_train={self.num_train}, "
            f"num_eval={self.num_eval})"
        )
