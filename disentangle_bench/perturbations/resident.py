"""Perturbed twins computed on the device from their resident base.

:func:`make_resident` holds a dataset on the device (:class:`~disentangle_bench.data.resident.
ResidentData`). For a twin of the built-in kinds the perturbation is computed there, chunk by
chunk, from the resident base, with the same float32 operations as
:meth:`~disentangle_bench.perturbations.base.PerturbedData.sample_observations_from_factors`
(``clip(clean + eps * field)``), so the values are the host twin's bit for bit:

- ``oblique`` and ``oblique_shuffled`` (:class:`~.oblique.ObliqueStripes`): the pattern depends on
  the configuration only through its phase ``theta(w)``, which takes few values on a grid; the
  perturbation's own ``pattern`` is evaluated once per distinct phase on the host and looked up
  per configuration;
- ``noise`` and ``matched_noise`` (:class:`~.noise.MatchedNoise`): the counter-based uniform noise
  of :mod:`~.counter_noise` in int64 torch arithmetic (:func:`uniform_per_item`), equal to the
  numpy version.

Any other dataset is computed on the host (:meth:`ResidentData.build`). Every twin computed on
the device is compared with the host twin on ``verify`` sampled configurations before it is
returned; a mismatch raises :class:`~disentangle_bench.util.errors.BenchError`.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from disentangle_bench.data.ground_truth import GroundTruthData
from disentangle_bench.data.resident import (
    DEFAULT_CHUNK_SIZE,
    ResidentData,
    to_nchw,
)
from disentangle_bench.perturbations.base import PerturbedData
from disentangle_bench.perturbations.counter_noise import _GOLDEN, _MIX1, _MIX2, splitmix64
from disentangle_bench.perturbations.noise import MatchedNoise
from disentangle_bench.perturbations.oblique import ObliqueStripes
from disentangle_bench.util.errors import BenchError


def _signed(value: np.uint64) -> int:
    """The int64 with the same 64 bits as ``value``."""
    return int(np.array([value], dtype=np.uint64).view(np.int64)[0])


def _shift_right(z: torch.Tensor, bits: int) -> torch.Tensor:
    """Logical right shift of int64 bit patterns (as numpy's uint64 ``>>``)."""
    return (z >> bits) & ((1 << (64 - bits)) - 1)


def splitmix64_torch(x: torch.Tensor) -> torch.Tensor:
    """:func:`~.counter_noise.splitmix64` on int64 tensors holding uint64 bit patterns (int64
    addition and multiplication wrap modulo 2^64 with the same bits as uint64)."""
    z = x + _signed(_GOLDEN)
    z = (z ^ _shift_right(z, 30)) * _signed(_MIX1)
    z = (z ^ _shift_right(z, 27)) * _signed(_MIX2)
    return z ^ _shift_right(z, 31)


def uniform_per_item(seed: int, item_index: torch.Tensor, item_size: int) -> torch.Tensor:
    """:func:`~.counter_noise.uniform_per_item` on the device: float64 ``(N, item_size)``."""
    key = _signed(splitmix64(np.array([seed], dtype=np.uint64))[0])
    index = item_index.to(torch.int64)[:, None]
    pixels = torch.arange(item_size, dtype=torch.int64, device=item_index.device)[None, :]
    bits = splitmix64_torch((index * item_size + pixels) ^ key)
    return _shift_right(bits, 11).to(torch.float64) * (1.0 / (1 << 53))


def _oblique_field(
    twin: PerturbedData, base: ResidentData, chunk_size: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(canonical index, pattern (n, 1, H, W)) chunks of an oblique twin."""
    perturbation: ObliqueStripes = twin.perturbation  # type: ignore[assignment]
    data = twin.base
    every = data.factors_of(np.arange(data.num_configurations))
    theta = perturbation.phase(data, every)
    _, first, which = np.unique(theta, return_index=True, return_inverse=True)
    patterns = perturbation.pattern(data, every[first])  # (U, H, W), one per distinct phase
    table = torch.as_tensor(patterns, dtype=torch.float32, device=base.device)[:, None]
    which = torch.as_tensor(which.reshape(-1), dtype=torch.int64, device=base.device)
    for start in range(0, data.num_configurations, chunk_size):
        index = torch.arange(
            start, min(start + chunk_size, data.num_configurations), device=base.device
        )
        clean = base.observations(index)
        inward = torch.where(clean < 0.5, 1.0, -1.0).to(torch.float32)
        yield clean, inward * table[which[index]]


def _noise_field(
    twin: PerturbedData, base: ResidentData, chunk_size: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    perturbation: MatchedNoise = twin.perturbation  # type: ignore[assignment]
    height, width, channels = twin.observation_shape
    pixels = height * width * channels
    for start in range(0, twin.num_configurations, chunk_size):
        index = torch.arange(
            start, min(start + chunk_size, twin.num_configurations), device=base.device
        )
        u = uniform_per_item(perturbation.seed, index, pixels)
        field = (2.0 * u - 1.0).to(torch.float32).reshape(-1, height, width, channels)
        yield base.observations(index), to_nchw(field)


def _device_field(twin: GroundTruthData):
    """The device field of a twin of a built-in kind, or None."""
    if not isinstance(twin, PerturbedData) or type(twin)._perturb is not PerturbedData._perturb:
        return None
    kind = type(twin.perturbation)
    oblique = (
        issubclass(kind, ObliqueStripes)
        and kind.field is ObliqueStripes.field
        and kind.pattern is ObliqueStripes.pattern
        and kind.phase is ObliqueStripes.phase
    )
    if oblique:
        return _oblique_field
    if issubclass(kind, MatchedNoise) and kind.field is MatchedNoise.field:
        return _noise_field
    return None


def make_resident(
    data: GroundTruthData,
    device: torch.device,
    *,
    base: ResidentData | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    workers: int = 1,
    verify: int = 64,
) -> ResidentData:
    """``data`` on ``device``; a built-in twin is computed there from ``base`` (its base's
    resident copy, built here when not given). See the module docstring."""
    field = _device_field(data)
    if field is None:
        return ResidentData.build(data, device, chunk_size=chunk_size, workers=workers)
    if base is None:  # built (and checked to be deterministic) here
        base = ResidentData.build(data.base, device, chunk_size=chunk_size, workers=workers)
    if base.factors_num_values != tuple(data.factors_num_values):
        raise BenchError(f"the resident base of {data!r} has another factor grid")
    eps = torch.tensor(np.float32(data.perturbation.eps), device=device)
    value_range = data.value_range

    def chunks() -> Iterator[torch.Tensor]:
        for clean, values in field(data, base, chunk_size):
            perturbed = clean + eps * values
            if value_range is not None:
                perturbed = perturbed.clamp(float(value_range[0]), float(value_range[1]))
            yield perturbed

    resident = ResidentData.from_chunks(data, chunks(), device)
    if verify:
        check_against_host(resident, verify)
    return resident


def check_against_host(resident: ResidentData, num: int = 64, seed: int = 0) -> None:
    """Raise :class:`BenchError` unless ``num`` sampled configurations of ``resident`` equal the
    host dataset's observations exactly."""
    data = resident.data
    factors = data.sample_factors(min(num, data.num_configurations), np.random.RandomState(seed))
    host = data.sample_observations_from_factors(factors, np.random.RandomState(seed))
    device = resident.observations_of(factors).cpu()
    expected = to_nchw(np.ascontiguousarray(host, dtype=np.float32))
    if not torch.equal(device, expected):
        worst = float((device - expected).abs().max())
        raise BenchError(
            f"the resident copy of {data!r} differs from the host dataset (largest difference "
            f"{worst:.3g} over {len(factors)} configurations)"
        )
