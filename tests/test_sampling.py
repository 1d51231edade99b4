"""Training samplers: single observations, natural pairs (Laplace transitions), weak pairs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from disentangle_bench.data.ground_truth import ArrayGroundTruthData
from disentangle_bench.data.sampling import (
    NaturalPairSampler,
    SingleSampler,
    WeakPairSampler,
    make_sampler,
)
from disentangle_bench.pipeline.training import to_model_input
from disentangle_bench.util.errors import ConfigError, PluginError

SIZES = (3, 4, 5, 32)


def indexed_dataset(sizes=SIZES, categorical=()):
    """Each observation (1, 1, 1) holds its own index, so it can be traced back to its factors."""
    count = int(np.prod(sizes))
    images = np.arange(count, dtype=np.float64).reshape(count, 1, 1, 1)
    data = ArrayGroundTruthData(images, [f"f{i}" for i in range(len(sizes))], sizes)
    data._scale = np.float32(1.0)  # keep the raw index as the observation value
    data.categorical_factors = tuple(categorical)
    return data


def factors_of_observations(data, observations):
    return data.factors_of(np.round(observations.reshape(-1)).astype(np.int64))


def test_single_sampler_is_the_datasets_own_sampling():
    data = indexed_dataset()
    expected = data.sample_observations(16, np.random.RandomState(3))
    assert np.array_equal(SingleSampler(data)(16, np.random.RandomState(3)), expected)
    assert isinstance(make_sampler(object(), data), SingleSampler)


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_weak_pairs_differ_in_exactly_k_factors(k):
    data = indexed_dataset()
    sampler = WeakPairSampler(data, k=k)
    pairs = sampler(2000, np.random.RandomState(0))
    assert pairs.shape == (2, 2000, 1, 1, 1) and pairs.dtype == np.float32
    first, second = (factors_of_observations(data, p) for p in pairs)
    differing = (first != second).sum(axis=1)
    assert np.all(differing == k)
    # Which factors change is uniform: each factor changes in about k / F of the pairs.
    share = (first != second).mean(axis=0)
    assert np.allclose(share, k / len(SIZES), atol=0.05)
    # A changed factor takes each of its other values about equally often.
    changed = first[:, 3] != second[:, 3]
    step = (second[changed, 3] - first[changed, 3]) % 32
    assert step.min() >= 1 and len(np.unique(step)) == 31


def test_weak_pairs_with_random_k_cover_1_to_f_minus_1():
    data = indexed_dataset()
    first, second = WeakPairSampler(data, k=-1).sample_factors(3000, np.random.RandomState(1))
    counts = np.bincount((first != second).sum(axis=1), minlength=5)
    assert counts[0] == 0 and counts[4] == 0
    assert np.allclose(counts[1:4] / 3000, 1 / 3, atol=0.04)


def test_weak_pairs_ignore_single_valued_factors_and_check_k():
    data = indexed_dataset(sizes=(1, 4, 5))
    first, second = WeakPairSampler(data, k=2).sample_factors(500, np.random.RandomState(0))
    assert np.all(first[:, 0] == second[:, 0]) and np.all((first != second).sum(1) == 2)
    with pytest.raises(ConfigError, match="k=3 differing factors need at least 3 factors"):
        WeakPairSampler(data, k=3)
    with pytest.raises(ConfigError, match="random k"):
        WeakPairSampler(indexed_dataset(sizes=(1, 4)), k=-1)


def truncated_laplace(size, start, rate):
    values = np.arange(size)
    weights = np.exp(-np.abs(values - start) * rate / np.log(size))
    return weights / weights.sum()


def test_natural_transitions_follow_the_truncated_laplace_and_are_sparse():
    data = indexed_dataset()
    rate = 1.0
    first, second = NaturalPairSampler(data, rate=rate).sample_factors(
        40000, np.random.RandomState(0)
    )
    # Every pair differs.
    assert np.all((first != second).any(axis=1))
    # Per factor, P(second | first) is the discrete Laplace of scale ln(n)/rate truncated to the
    # grid (renormalised): compare on the 32-valued factor from a middle and an edge value.
    for start in (15, 0):
        rows = first[:, 3] == start
        empirical = np.bincount(second[rows, 3], minlength=32) / rows.sum()
        expected = truncated_laplace(32, start, rate)
        assert np.abs(empirical - expected).max() < 0.03
    # Sparse: small moves dominate, large ones are rare but present (heavy tails).
    moves = np.abs(second[:, 3] - first[:, 3])
    assert np.median(moves) <= 3 and (moves >= 15).mean() < 0.05 and moves.max() >= 20
    # A larger rate makes transitions sparser.
    first_s, second_s = NaturalPairSampler(data, rate=4.0).sample_factors(
        20000, np.random.RandomState(0)
    )
    assert np.abs(second_s[:, 3] - first_s[:, 3]).mean() < 0.5 * moves.mean()


def test_natural_pairs_keep_categorical_factors_and_need_a_movable_one():
    data = indexed_dataset(categorical=("f0",))
    pairs = NaturalPairSampler(data)(1000, np.random.RandomState(0))
    first, second = (factors_of_observations(data, p) for p in pairs)
    assert np.all(first[:, 0] == second[:, 0]) and np.all((first != second).any(axis=1))
    with pytest.raises(ConfigError, match="factor that can move"):
        NaturalPairSampler(indexed_dataset(sizes=(3, 1), categorical=("f0",)))
    with pytest.raises(ConfigError, match="not factors"):
        NaturalPairSampler(indexed_dataset(categorical=("colour",)))


def test_samplers_draw_only_from_the_given_random_state():
    data = indexed_dataset()
    for sampler in (NaturalPairSampler(data), WeakPairSampler(data, k=2)):
        np.random.seed(0)
        a = sampler(64, np.random.RandomState(5))
        np.random.seed(1)
        torch.manual_seed(1)
        b = sampler(64, np.random.RandomState(5))
        assert np.array_equal(a, b)


def test_pairs_become_a_2_n_c_h_w_tensor():
    pairs = np.random.RandomState(0).rand(2, 3, 4, 5, 6).astype(np.float32)
    tensor = to_model_input(pairs, torch.device("cpu"))
    assert tensor.shape == (2, 3, 6, 4, 5)
    assert torch.equal(tensor[1, 2, :, 3, 4], torch.from_numpy(pairs[1, 2, 3, 4, :]))


class PairModel:
    name = "pair_model"

    def __init__(self, sample_kind="weak_pairs", **options):
        self.sample_kind = sample_kind
        self.sample_options = options


def test_make_sampler_reports_what_the_dataset_cannot_do():
    data = indexed_dataset()
    with pytest.raises(ConfigError, match="model 'pair_model' cannot train on this dataset"):
        make_sampler(PairModel(k=9), data)
    assert isinstance(make_sampler(PairModel(k=2), data), WeakPairSampler)
    assert isinstance(make_sampler(PairModel("natural_pairs", rate=2.0), data), NaturalPairSampler)
    with pytest.raises(PluginError, match="sample_kind 'triples'"):
        make_sampler(PairModel("triples"), data)
    with pytest.raises(PluginError, match="invalid sample_options"):
        make_sampler(PairModel(colour=1), data)
