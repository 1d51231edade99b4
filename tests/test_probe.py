"""The learned conv probe: decodes factors at held-out configurations, deterministically."""

from __future__ import annotations

import numpy as np
import pytest

from disentangle_bench.data.ground_truth import ArrayGroundTruthData
from disentangle_bench.diagnostics.probe import conv_probe_accuracy, held_out_split


def blocks() -> ArrayGroundTruthData:
    """16x16 binary images of a 2x2 or 3x3 block at 6 x 6 positions (72 configurations)."""
    images = np.zeros((2, 6, 6, 16, 16, 1), dtype=np.uint8)
    for size in range(2):
        for x in range(6):
            for y in range(6):
                images[size, x, y, 2 * y + 1 : 2 * y + 3 + size, 2 * x + 1 : 2 * x + 3 + size] = 1
    return ArrayGroundTruthData(
        images.reshape(-1, 16, 16, 1), ["size", "x", "y"], (2, 6, 6), binary=True
    )


def test_conv_probe_decodes_held_out_configurations():
    accuracy = conv_probe_accuracy(blocks(), steps=150)
    assert accuracy.shape == (3,)
    # Chance is 1/2 for size and 1/6 for the positions; 22 configurations are held out.
    assert np.all(accuracy >= 0.6)
    assert accuracy[2] >= 0.95
    assert np.array_equal(accuracy, conv_probe_accuracy(blocks(), steps=150))


def test_conv_probe_fails_on_structureless_labels():
    # The same images assigned to other configurations: labels no longer follow the pixels, so
    # held-out accuracy on the positions falls towards chance (1/6).
    images = blocks()._images.reshape(2, 6, 6, 16, 16, 1).transpose(0, 2, 1, 3, 4, 5)
    permuted = np.random.RandomState(0).permutation(72)
    shuffled = ArrayGroundTruthData(
        images.reshape(-1, 16, 16, 1)[permuted], ["size", "x", "y"], (2, 6, 6), binary=True
    )
    accuracy = conv_probe_accuracy(shuffled, steps=150)
    assert accuracy[1] < 0.5 and accuracy[2] < 0.5


def test_held_out_split_is_a_seeded_partition():
    train, test = held_out_split(10, 0.3, seed=1)
    assert len(test) == 3 and sorted(np.concatenate([train, test])) == list(range(10))
    assert np.array_equal(test, held_out_split(10, 0.3, seed=1)[1])


def test_conv_probe_rejects_sizes_it_cannot_pool():
    images = np.zeros((4, 6, 6, 1), dtype=np.uint8)
    data = ArrayGroundTruthData(images, ["a", "b"], (2, 2), binary=True)
    with pytest.raises(ValueError, match="divisible by 4"):
        conv_probe_accuracy(data, steps=1)


def test_ridge_probe_reads_a_blob_centre_exactly_and_fails_on_shuffled_labels():
    from disentangle_bench.data.blob import Blob
    from disentangle_bench.diagnostics.probe import all_observations, ridge_probe_accuracy

    blob = Blob()
    # The centre of a blob that stays inside the image is its intensity centroid: linear.
    assert np.array_equal(ridge_probe_accuracy(blob), [1.0, 1.0])
    _, images = all_observations(blob)
    permuted = np.random.RandomState(0).permutation(len(images))
    shuffled = ArrayGroundTruthData(
        images[permuted], list(blob.factor_names), blob.factors_num_values, binary=False
    )
    assert np.all(ridge_probe_accuracy(shuffled) < 0.3)  # chance is 1/16
