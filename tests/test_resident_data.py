"""Data held on the device: the same observations as the host datasets, batches equal to the
host samplers' (host-drawn factors) or with their distributions (device-drawn factors)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import scipy.stats
import torch

from disentangle_bench.data.blob import Blob
from disentangle_bench.data.dsprites import ProceduralDSpritesSmall
from disentangle_bench.data.ground_truth import GroundTruthData
from disentangle_bench.data.resident import (
    DeviceFactors,
    HostFactors,
    ResidentData,
    dlib_factors,
    to_nchw,
)
from disentangle_bench.data.sampling import NaturalPairSampler, WeakPairSampler, make_sampler
from disentangle_bench.metrics.mig import MIG, mig
from disentangle_bench.metrics.utils import generate_batch_factor_code
from disentangle_bench.perturbations import counter_noise
from disentangle_bench.perturbations.matching import NormMatchedNoise
from disentangle_bench.perturbations.oblique import ObliqueStripes, ShuffledOblique
from disentangle_bench.perturbations.resident import (
    _device_field,
    check_against_host,
    make_resident,
    uniform_per_item,
)
from disentangle_bench.util.errors import BenchError, ConfigError

CPU = torch.device("cpu")
TWINS = (ObliqueStripes, NormMatchedNoise, ShuffledOblique)


def _every(data: GroundTruthData) -> np.ndarray:
    return data.factors_of(np.arange(data.num_configurations))


def _host_all(data: GroundTruthData) -> torch.Tensor:
    return to_nchw(data.sample_observations_from_factors(_every(data), np.random.RandomState(0)))


@pytest.fixture(scope="module")
def small():
    return ProceduralDSpritesSmall()


@pytest.fixture(scope="module")
def small_resident(small):
    return ResidentData.build(small, CPU)


@pytest.mark.parametrize("factory", [ProceduralDSpritesSmall, Blob])
def test_procedural_data_is_stored_as_codes_and_reads_back_exactly(factory):
    data = factory()
    resident = ResidentData.build(data, CPU, chunk_size=1000, workers=2)
    assert resident.is_coded and resident.store.dtype == torch.uint8
    assert resident.store.shape == (data.num_configurations, 1, *data.observation_shape[:2])
    assert torch.equal(
        resident.observations(torch.arange(data.num_configurations)), _host_all(data)
    )
    # observations_of takes factors; index_of is the canonical (row-major) index
    factors = data.sample_factors(50, np.random.RandomState(3))
    assert torch.equal(
        resident.index_of(torch.as_tensor(factors)), torch.as_tensor(data.index_of(factors))
    )
    expected = to_nchw(data.sample_observations_from_factors(factors, None))
    assert torch.equal(resident.observations_of(factors), expected)


@pytest.mark.parametrize("perturbation", TWINS, ids=lambda p: p.name)
@pytest.mark.parametrize("factory", [ProceduralDSpritesSmall, Blob])
def test_twins_computed_on_the_device_equal_the_host_twins(factory, perturbation):
    base = factory()
    twin = perturbation(eps=0.1, seed=0).apply(base)
    assert _device_field(twin) is not None  # computed on the device, not on the host
    resident = make_resident(twin, CPU, base=ResidentData.build(base, CPU), chunk_size=700)
    assert torch.equal(
        resident.observations(torch.arange(twin.num_configurations)), _host_all(twin)
    )
    # dSprites is binary: its oblique twins have 4 values (0, eps, 1 - eps, 1), uint8 codes;
    # the noise twin has a value per pixel, float32.
    if factory is ProceduralDSpritesSmall:
        assert resident.is_coded == (perturbation is not NormMatchedNoise)
        if resident.is_coded:
            values = resident.table[torch.unique(resident.store).long()]
            assert torch.equal(values, torch.tensor([0.0, 0.1, 0.9, 1.0]).float())


def test_a_perturbation_with_its_own_field_is_computed_on_the_host(small):
    class Inverted(ObliqueStripes):
        name = "inverted"

        def field(self, data, factors, observations):
            return -super().field(data, factors, observations)

    twin = Inverted(eps=0.1).apply(small)
    assert _device_field(twin) is None
    resident = make_resident(twin, CPU)
    assert torch.equal(
        resident.observations(torch.arange(twin.num_configurations)), _host_all(twin)
    )


def test_counter_noise_in_torch_equals_numpy():
    index = np.array([0, 1, 7, 2**20 + 3, 737_279, 2**40 + 12345], dtype=np.int64)
    for seed in (0, 3, 2**31 + 5):
        expected = counter_noise.uniform_per_item(seed, index, 4096)
        got = uniform_per_item(seed, torch.as_tensor(index), 4096).numpy()
        np.testing.assert_array_equal(got, expected)
    assert expected.min() >= 0.0 and expected.max() < 1.0


class _Ramp(GroundTruthData):
    """One factor of ``n`` values, 2 x 2 pixels, 4n distinct float32 values."""

    def __init__(self, n: int = 100, noisy: bool = False) -> None:
        self.n, self.noisy = n, noisy

    factor_names = ("level",)
    observation_shape = (2, 2, 1)
    fingerprint = "ramp"

    @property
    def factors_num_values(self):
        return (self.n,)

    def sample_observations_from_factors(self, factors, random_state):
        index = np.asarray(factors)[:, 0, None] * 4 + np.arange(4)[None, :]
        values = (index / 1000.0).astype(np.float32).reshape(-1, 2, 2, 1)
        if self.noisy:
            values = values + random_state.random_sample(values.shape).astype(np.float32)
        return values


def test_more_than_256_values_are_kept_as_float32_exactly():
    few, many = _Ramp(n=60), _Ramp(n=100)  # 240 and 400 distinct values
    coded = ResidentData.build(few, CPU, chunk_size=16)
    assert coded.is_coded
    assert torch.equal(coded.observations(torch.arange(60)), _host_all(few))
    kept = ResidentData.build(many, CPU, chunk_size=16)  # overflows in a later chunk
    assert not kept.is_coded and kept.store.dtype == torch.float32
    assert torch.equal(kept.observations(torch.arange(100)), _host_all(many))


def test_a_dataset_that_draws_its_observations_is_refused():
    with pytest.raises(ConfigError, match="cannot be held on the device"):
        ResidentData.build(_Ramp(noisy=True), CPU)


def test_a_resident_copy_that_differs_from_the_host_is_refused(small, small_resident):
    twin = ObliqueStripes(eps=0.1).apply(small)
    resident = make_resident(twin, CPU, base=small_resident, verify=0)
    check_against_host(resident, 64)  # equal: no error
    resident.store[:] = resident.store.flip(0)  # every image in the wrong place
    with pytest.raises(BenchError, match="differs from the host dataset"):
        check_against_host(resident, 64)


@pytest.mark.parametrize(
    ("kind", "options"),
    [("single", {}), ("natural_pairs", {"rate": 1.0}), ("weak_pairs", {"k": 2})],
)
def test_host_factors_give_exactly_the_host_samplers_batches(small, small_resident, kind, options):
    twin = ObliqueStripes(eps=0.1).apply(small)
    resident = make_resident(twin, CPU, base=small_resident)
    model = SimpleNamespace(name="stub", sample_kind=kind, sample_options=options)
    seeds = [0, 7, 3]
    factors = HostFactors(small, kind, seeds, CPU, options)  # the base's grid serves the twin
    samplers = [make_sampler(model, twin) for _ in seeds]
    states = [np.random.RandomState(seed) for seed in seeds]
    for _ in range(3):
        batch = resident.observations(factors(16))
        assert batch.shape[:2] == ((3, 16) if kind == "single" else (3, 2))
        for k, (sampler, state) in enumerate(zip(samplers, states, strict=True)):
            assert torch.equal(batch[k], to_nchw(sampler(16, state)))


def _draw(sampler, num, seed):
    first, second = sampler.sample_factors(num, np.random.RandomState(seed))
    return first, second


def _device_pairs(data, kind, num, seed, **options):
    factors = DeviceFactors(data, kind, 4, CPU, seed=seed, options=options).factors(num // 4)
    pairs = factors.permute(1, 0, 2, 3).reshape(2, num, -1).numpy()
    return pairs[0], pairs[1]


def _chi2_same(a: np.ndarray, b: np.ndarray) -> float:
    """p of a chi-square test that two samples of labels come from one distribution."""
    labels = np.unique(np.concatenate([a, b]))
    table = np.stack([(a[:, None] == labels).sum(0), (b[:, None] == labels).sum(0)])
    return float(scipy.stats.chi2_contingency(table)[1])


def _transition_p_values(host, device, data) -> list[float]:
    """One p per factor: the joint law of (first value, second value), and one for the number
    of factors that changed."""
    (h0, h1), (d0, d1) = host, device
    p = []
    for i, size in enumerate(data.factors_num_values):
        p.append(_chi2_same(h0[:, i] * size + h1[:, i], d0[:, i] * size + d1[:, i]))
    p.append(_chi2_same((h0 != h1).sum(1), (d0 != d1).sum(1)))
    return p


def test_device_natural_pairs_have_the_host_samplers_distribution(small):
    num = 20_000
    host = _draw(NaturalPairSampler(small, rate=1.0), num, 0)
    device = _device_pairs(small, "natural_pairs", num, 1, rate=1.0)
    assert min(_transition_p_values(host, device, small)) > 1e-3
    # every pair differs and the categorical shape never moves, as on the host
    first, second = device
    assert (first != second).any(axis=1).all()
    assert np.array_equal(first[:, 0], second[:, 0])
    # the test sees a wrong transition rate
    wrong = _device_pairs(small, "natural_pairs", num, 1, rate=3.0)
    assert min(_transition_p_values(host, wrong, small)) < 1e-6


@pytest.mark.parametrize("k", [1, 2, -1])
def test_device_weak_pairs_have_the_host_samplers_distribution(small, k):
    num = 20_000
    host = _draw(WeakPairSampler(small, k=k), num, 0)
    device = _device_pairs(small, "weak_pairs", num, 1, k=k)
    assert min(_transition_p_values(host, device, small)) > 1e-3
    changed = (device[0] != device[1]).sum(axis=1)
    if k == -1:
        assert changed.min() == 1 and changed.max() == small.num_factors - 1
    else:
        assert (changed == k).all()
    other = 1 if k != 1 else 2
    wrong = _device_pairs(small, "weak_pairs", num, 1, k=other)
    assert min(_transition_p_values(host, wrong, small)) < 1e-6


def test_device_single_factors_are_uniform_and_independent(small):
    factors = DeviceFactors(small, "single", 5, CPU, seed=2).factors(4000).reshape(-1, 5).numpy()
    for i, size in enumerate(small.factors_num_values):
        counts = np.bincount(factors[:, i], minlength=size)
        assert scipy.stats.chisquare(counts).pvalue > 1e-3
    joint = factors[:, 3] * 8 + factors[:, 4]  # the two positions: independent
    assert scipy.stats.chisquare(np.bincount(joint, minlength=64)).pvalue > 1e-3
    index = DeviceFactors(small, "single", 5, CPU, seed=2)(4000)
    assert index.shape == (5, 4000)
    assert torch.equal(index.reshape(-1), torch.as_tensor(small.index_of(factors)))


def test_device_factors_refuse_what_the_host_samplers_refuse(small):
    with pytest.raises(ConfigError):
        DeviceFactors(small, "weak_pairs", 2, CPU, options={"k": 9})
    with pytest.raises(ConfigError):
        DeviceFactors(small, "natural_pairs", 2, CPU, options={"rate": 0.0})
    with pytest.raises(ConfigError, match="unknown sample kind"):
        DeviceFactors(small, "triples", 2, CPU)


def test_mig_on_resident_codes_in_dlib_order_equals_the_metric_plugin(small, small_resident):
    weights = np.random.RandomState(0).randint(-3, 4, size=(64 * 64, 5)).astype(np.float64)

    def representation(observations):  # integer features: exact whatever the batching
        return observations.reshape(len(observations), -1) @ weights

    expected_codes, expected_factors = generate_batch_factor_code(
        small, representation, 1000, np.random.RandomState(0), 16
    )
    factors = dlib_factors(small, 1000, seed=0, batch_size=16)
    np.testing.assert_array_equal(factors, expected_factors)
    observations = small_resident.observations_of(factors).numpy()  # (N, 1, 64, 64)
    codes = observations.reshape(len(factors), -1) @ weights
    np.testing.assert_array_equal(codes, expected_codes)
    plugin = MIG(num_train=1000, batch_size=16)(small, representation, np.random.RandomState(0))
    assert mig(codes, factors) == plugin
