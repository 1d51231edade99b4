"""The ground-truth data interface and the matched-noise perturbation."""

from __future__ import annotations

import numpy as np
import pytest

from disentangle_bench.data.ground_truth import ArrayGroundTruthData, factor_bases
from disentangle_bench.perturbations.counter_noise import uniform_per_item
from disentangle_bench.perturbations.noise import MatchedNoise


def grid_dataset(sizes=(2, 3, 4), shape=(4, 4, 1)):
    """Images that encode their own index in the first pixel (uint8 storage)."""
    n = int(np.prod(sizes))
    images = np.zeros((n, *shape), dtype=np.uint8)
    images.reshape(n, -1)[:, 0] = np.arange(n) * 7 % 256
    images.reshape(n, -1)[:, 1:] = 128
    names = [f"f{i}" for i in range(len(sizes))]
    return ArrayGroundTruthData(images, names, sizes)


def test_index_layout_is_row_major_mixed_radix():
    assert factor_bases((3, 6, 40, 32, 32)).tolist() == [245760, 40960, 1024, 32, 1]
    data = grid_dataset()
    index = np.arange(data.num_configurations)
    assert np.array_equal(data.index_of(data.factors_of(index)), index)
    assert data.factors_of(np.array([5]))[0].tolist() == [0, 1, 1]


def test_sample_factors_draws_each_factor_in_turn_from_the_random_state():
    data = grid_dataset()
    factors = data.sample_factors(50, np.random.RandomState(3))
    reference = np.random.RandomState(3)
    expected = np.stack([reference.randint(s, size=50) for s in (2, 3, 4)], axis=1)
    assert factors.dtype == np.int64
    assert np.array_equal(factors, expected)


def test_observations_are_float32_nhwc_in_unit_range():
    data = grid_dataset()
    factors, observations = data.sample(10, np.random.RandomState(0))
    assert observations.dtype == np.float32 and observations.shape == (10, 4, 4, 1)
    assert observations.min() >= 0.0 and observations.max() <= 1.0
    assert np.allclose(observations[:, 1, 0, 0], 128 / 255)
    first_pixel = np.round(observations[:, 0, 0, 0] * 255).astype(int)
    assert np.array_equal(first_pixel, data.index_of(factors) * 7 % 256)


def test_array_dataset_rejects_a_wrong_number_of_images():
    with pytest.raises(ValueError, match="24 images for a factor grid of 25"):
        ArrayGroundTruthData(np.zeros((24, 4, 4, 1), np.uint8), ["a", "b"], (5, 5))


def test_fingerprint_changes_with_any_pixel():
    a, b = grid_dataset(), grid_dataset()
    assert a.fingerprint == b.fingerprint and len(a.fingerprint) == 64
    b.images[7, 2, 2, 0] += 1
    b._fingerprint = None
    assert a.fingerprint != b.fingerprint


def test_counter_noise_is_fixed_per_item_and_independent_of_order():
    index = np.array([5, 0, 17, 5])
    u = uniform_per_item(seed=1, item_index=index, item_size=100)
    assert u.shape == (4, 100) and u.min() >= 0.0 and u.max() < 1.0
    assert np.array_equal(u[0], u[3])
    assert np.array_equal(u[2], uniform_per_item(1, np.array([17]), 100)[0])
    assert not np.array_equal(u[0], uniform_per_item(2, np.array([5]), 100)[0])
    many = uniform_per_item(0, np.arange(200), 4096)
    assert abs(many.mean() - 0.5) < 0.005 and abs(many.var() - 1 / 12) < 0.002


def test_matched_noise_is_bounded_fixed_per_image_and_keeps_the_factors():
    base = grid_dataset()
    perturbed = MatchedNoise(eps=0.1, seed=0).apply(base)
    assert perturbed.factors_num_values == base.factors_num_values
    assert perturbed.factor_names == base.factor_names
    factors = base.factors_of(np.arange(base.num_configurations))
    clean = base.sample_observations_from_factors(factors, np.random.RandomState(0))
    noisy = perturbed.sample_observations_from_factors(factors, np.random.RandomState(0))
    assert noisy.dtype == np.float32
    assert np.abs(noisy - clean).max() <= 0.1 + 1e-6
    assert np.abs(noisy - clean).max() > 0.09  # the noise really is of magnitude eps
    assert noisy.min() >= 0.0 and noisy.max() <= 1.0
    # The same configuration gets the same noise whenever and in whatever batch it is drawn.
    again = perturbed.sample_observations_from_factors(factors[::-1], np.random.RandomState(9))
    assert np.array_equal(again[::-1], noisy)
    # Mid-grey pixels are never clipped, so their noise is uniform on [-eps, eps].
    mid = (noisy - clean)[:, 1:, :, :]
    assert abs(mid.mean()) < 0.005 and mid.min() < -0.095 and mid.max() > 0.095


def test_perturbation_is_recorded_in_the_fingerprint():
    base = grid_dataset()
    a = MatchedNoise(eps=0.1, seed=0).apply(base).fingerprint
    assert a == MatchedNoise(eps=0.1, seed=0).apply(grid_dataset()).fingerprint
    assert a != base.fingerprint
    assert a != MatchedNoise(eps=0.2, seed=0).apply(base).fingerprint
    assert a != MatchedNoise(eps=0.1, seed=1).apply(base).fingerprint


def test_matched_noise_rejects_eps_outside_unit_interval():
    with pytest.raises(ValueError, match="eps"):
        MatchedNoise(eps=-0.1)
