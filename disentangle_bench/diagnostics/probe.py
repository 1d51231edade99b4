"""Supervised probes: are the factors still decodable from the (perturbed) observations?

A perturbation that hides the variance structure must keep every factor; these probes measure it
on held-out factor configurations (a probe that only memorised the training images would not
generalise to unseen configurations).

- :func:`linear_probe_r2`: ordinary least squares from observations to factor values, R^2 on a
  held-out split (for the synthetic linear dataset, where decodability is linear).
- :func:`ridge_probe_accuracy`: ridge regression from observations to each factor's index,
  rounded to the nearest grid value; per-factor accuracy on held-out configurations. No training
  budget to choose (the ridge penalty is picked by leave-one-out on the training split); exact
  wherever a factor is a linear function of the pixels (a blob's centre is its intensity
  centroid).
- :func:`conv_probe_accuracy`: a small convolutional classifier with one softmax head per factor,
  trained with a fixed seed and budget; per-factor accuracy on held-out configurations. Its
  features are both position-bound (flattened) and position-free (global max pool), so shape and
  orientation generalise to positions a configuration was not seen at.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from disentangle_bench.data.ground_truth import GroundTruthData


def held_out_split(num: int, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a seeded random train / test split of ``num`` configurations."""
    order = np.random.RandomState(seed).permutation(num)
    cut = int(round(num * (1.0 - test_fraction)))
    return order[:cut], order[cut:]


def all_observations(data: GroundTruthData) -> tuple[np.ndarray, np.ndarray]:
    """(factors, observations) of every configuration in canonical order."""
    factors = data.factors_of(np.arange(data.num_configurations))
    observations = data.sample_observations_from_factors(factors, np.random.RandomState(0))
    return factors, observations


def linear_probe_r2(
    data: GroundTruthData, *, test_fraction: float = 0.2, seed: int = 0
) -> np.ndarray:
    """Held-out R^2 of a least-squares map from observations to each factor's index."""
    factors, observations = all_observations(data)
    x = observations.reshape(len(factors), -1).astype(np.float64)
    x = np.hstack([x, np.ones((len(x), 1))])
    train, test = held_out_split(len(x), test_fraction, seed)
    weights, *_ = np.linalg.lstsq(x[train], factors[train].astype(np.float64), rcond=None)
    residual = factors[test] - x[test] @ weights
    total = factors[test] - factors[test].mean(axis=0)
    return 1.0 - (residual**2).sum(axis=0) / np.maximum((total**2).sum(axis=0), 1e-12)


#: The ridge penalties :func:`ridge_probe_accuracy` chooses from.
RIDGE_ALPHAS = tuple(float(a) for a in np.logspace(-4, 2, 13))


def ridge_probe_accuracy(
    data: GroundTruthData, *, test_fraction: float = 0.3, seed: int = 0
) -> np.ndarray:
    """Per-factor held-out accuracy of ridge regression from the pixels to the factor's index,
    rounded to the nearest index (penalty from :data:`RIDGE_ALPHAS` by leave-one-out)."""
    from sklearn.linear_model import RidgeCV

    factors, observations = all_observations(data)
    x = observations.reshape(len(factors), -1).astype(np.float64)
    train, test = held_out_split(len(x), test_fraction, seed)
    accuracy = np.zeros(factors.shape[1])
    for k, size in enumerate(data.factors_num_values):
        model = RidgeCV(alphas=RIDGE_ALPHAS).fit(x[train], factors[train, k])
        predicted = np.clip(np.round(model.predict(x[test])), 0, size - 1)
        accuracy[k] = float(np.mean(predicted == factors[test, k]))
    return accuracy


class _ProbeNet(nn.Module):
    def __init__(self, channels: int, height: int, width: int, num_classes: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(channels, 16, kernel_size=4, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 32, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, 32, kernel_size=4, stride=2, padding=1),
            nn.ReLU(),
        )
        self.located = nn.Sequential(
            nn.Flatten(), nn.Linear(32 * (height // 4) * (width // 4), 128), nn.ReLU()
        )
        self.head = nn.Linear(128 + 32, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.features(x)
        pooled = features.amax(dim=(2, 3))
        return self.head(torch.cat([self.located(features), pooled], dim=1))


def conv_probe_accuracy(
    data: GroundTruthData,
    *,
    steps: int = 1500,
    batch_size: int = 64,
    test_fraction: float = 0.3,
    seed: int = 0,
) -> np.ndarray:
    """Per-factor accuracy on held-out configurations of a small conv classifier.

    Every configuration is observed once; a seeded ``test_fraction`` of them is held out. Image
    height and width must be multiples of 4.
    """
    height, width = data.observation_shape[:2]
    if height % 4 or width % 4:
        raise ValueError(
            f"the conv probe needs height and width divisible by 4, got {height}x{width}"
        )
    factors, observations = all_observations(data)
    x = torch.from_numpy(np.ascontiguousarray(observations.transpose(0, 3, 1, 2)))
    sizes = list(data.factors_num_values)
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    train, test = held_out_split(len(x), test_fraction, seed)
    torch.manual_seed(seed)
    net = _ProbeNet(x.shape[1], x.shape[2], x.shape[3], int(offsets[-1]))
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    targets = torch.from_numpy(factors)
    batches = np.random.RandomState(seed)
    for _ in range(steps):
        index = torch.from_numpy(train[batches.randint(len(train), size=batch_size)])
        logits = net(x[index])
        loss = sum(
            nn.functional.cross_entropy(logits[:, offsets[k] : offsets[k + 1]], targets[index, k])
            for k in range(len(sizes))
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        logits = torch.cat([net(x[test[i : i + 512]]) for i in range(0, len(test), 512)])
    predictions = [
        logits[:, offsets[k] : offsets[k + 1]].argmax(dim=1).numpy() for k in range(len(sizes))
    ]
    return np.array([np.mean(p == factors[test, k]) for k, p in enumerate(predictions)])
