"""Datasets held on the training device, and the samplers that draw batches there.

A :class:`ResidentData` holds every observation of a deterministic dataset (one whose
observations are a function of the factor configuration: procedural datasets, arrays, their
perturbed twins) on a torch device, once, in canonical order and in the models' layout
``(N, C, H, W)``. Storage is uint8 codes with a float32 code book of at most 256 values, which is
exact for 8-bit images, binary images and their additive twins with few distinct values (dSprites
and its oblique twins: 0, eps, 1 - eps, 1); a dataset with more distinct values (a noise twin) is
kept as float32. Either way :meth:`ResidentData.observations` returns exactly the float32 values
the host dataset's ``sample_observations_from_factors`` returns, transposed to NCHW.

Batches are drawn as indices into that store, for S independent *streams* (one per training
seed) at once, by one of two factor sources with the sample kinds of
:mod:`disentangle_bench.data.sampling`:

- :class:`HostFactors`: the host samplers' own ``sample_factors`` with
  ``np.random.RandomState(seed)`` per stream: exactly the factors, hence exactly the batches, that
  ``bench run`` with that seed trains on; only the integer indices travel to the device.
- :class:`DeviceFactors`: the same distributions drawn on the device from one
  ``torch.Generator`` (no host work and no transfer per step). Single observations: every factor
  uniform and independent; natural pairs: the truncated, renormalised discrete Laplace transition
  of each movable factor, and one movable factor (uniform) redrawn from its transition without its
  current value where nothing moved; weak pairs: ``k`` distinct factors (uniform among those with
  more than one value; ``k = -1``: uniform in 1 .. F-1 per pair) each moved to another value,
  uniform among the others. The draws differ from the host's (another generator), the
  distributions do not (``tests/test_resident_data.py``).

Indices are ``(S, B)`` for single observations and ``(S, 2, B)`` for pairs; gathering them from a
:class:`ResidentData` gives ``(S, B, C, H, W)`` or ``(S, 2, B, C, H, W)``, the layout
:class:`~disentangle_bench.pipeline.batched.BatchedModels` takes (one slice per model).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import torch

from disentangle_bench.data.ground_truth import GroundTruthData, factor_bases
from disentangle_bench.data.procedural import ProceduralData
from disentangle_bench.data.sampling import NaturalPairSampler, WeakPairSampler
from disentangle_bench.util.errors import ConfigError

#: The most distinct values a dataset may have to be stored as uint8 codes.
MAX_CODES = 256
DEFAULT_CHUNK_SIZE = 8192
SAMPLE_KINDS = ("single", "natural_pairs", "weak_pairs")


def to_nchw(observations: np.ndarray | torch.Tensor) -> torch.Tensor:
    """``(..., H, W, C)`` -> a contiguous ``(..., C, H, W)`` tensor (the models' layout)."""
    tensor = torch.as_tensor(observations)
    return tensor.movedim(-1, -3).contiguous()


class _CodeBook:
    """Float32 values written chunk by chunk into uint8 codes, or into float32 once more than
    :data:`MAX_CODES` distinct values have been seen."""

    def __init__(self, count: int, shape: tuple[int, int, int], device: torch.device) -> None:
        self.device = device
        self.shape = (count, *shape)
        self.values = torch.empty(0, dtype=torch.float32, device=device)  # in order of discovery
        self.codes: torch.Tensor | None = torch.empty(self.shape, dtype=torch.uint8, device=device)
        self.floats: torch.Tensor | None = None

    def write(self, start: int, chunk: torch.Tensor) -> None:
        chunk = chunk.to(device=self.device, dtype=torch.float32)
        stop = start + chunk.shape[0]
        if self.floats is None:
            # A sample of the chunk with too many new values spares the full sort.
            sample = self._new(torch.unique(chunk.reshape(-1)[::997][: 4 * MAX_CODES]))
            seen = self._new(torch.unique(chunk)) if self._fits(sample) else sample
            if self._fits(seen):
                self.values = torch.cat([self.values, seen])
                sorted_values, order = torch.sort(self.values)
                position = torch.searchsorted(sorted_values, chunk.reshape(-1))
                self.codes[start:stop] = order[position].reshape(chunk.shape).to(torch.uint8)
                return
            self._to_floats(start)
        self.floats[start:stop] = chunk

    def _new(self, candidates: torch.Tensor) -> torch.Tensor:
        """The sorted distinct ``candidates`` not yet in the code book."""
        if not len(self.values):
            return candidates
        sorted_values, _ = torch.sort(self.values)
        position = torch.searchsorted(sorted_values, candidates).clamp(max=len(sorted_values) - 1)
        return candidates[sorted_values[position] != candidates]

    def _fits(self, new: torch.Tensor) -> bool:
        return len(self.values) + len(new) <= MAX_CODES

    def _to_floats(self, written: int) -> None:
        self.floats = torch.empty(self.shape, dtype=torch.float32, device=self.device)
        if written:
            self.floats[:written] = self.values[self.codes[:written].long()]
        self.codes = None

    def result(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.floats is not None:
            return self.floats, None
        table = torch.zeros(MAX_CODES, dtype=torch.float32, device=self.device)
        table[: len(self.values)] = self.values
        return self.codes, table


class ResidentData:
    """Every observation of ``data`` on ``device``: uint8 ``codes`` and a float32 ``table``
    (observation = ``table[code]``), or float32 ``values`` (``table`` None), ``(N, C, H, W)`` in
    canonical order.

    Build with :meth:`build` (or, for perturbed twins, with
    :func:`disentangle_bench.perturbations.resident.make_resident`, which computes a twin on the
    device from its resident base). ``data`` is kept for its description (factors, sizes).
    """

    def __init__(
        self, data: GroundTruthData, store: torch.Tensor, table: torch.Tensor | None
    ) -> None:
        height, width, channels = data.observation_shape
        expected = (data.num_configurations, channels, height, width)
        if tuple(store.shape) != expected:
            raise ValueError(f"store has shape {tuple(store.shape)}, expected {expected}")
        if (table is None) != (store.dtype != torch.uint8):
            raise ValueError("uint8 codes need a code book; float32 values take none")
        self.data = data
        self.store = store
        self.table = table
        self.device = store.device
        self.factors_num_values = tuple(int(s) for s in data.factors_num_values)
        self.bases = torch.as_tensor(
            factor_bases(self.factors_num_values), dtype=torch.int64, device=self.device
        )

    @property
    def num_configurations(self) -> int:
        return int(self.store.shape[0])

    @property
    def num_factors(self) -> int:
        return len(self.factors_num_values)

    @property
    def is_coded(self) -> bool:
        """Whether the store holds uint8 codes (else float32 values)."""
        return self.table is not None

    @property
    def nbytes(self) -> int:
        return self.store.numel() * self.store.element_size()

    def index_of(self, factors: torch.Tensor) -> torch.Tensor:
        """Canonical index ``(...)`` of int factor configurations ``(..., F)``."""
        return (factors.to(torch.int64) * self.bases).sum(dim=-1)

    def observations(self, index: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """The observations ``(..., C, H, W)`` at canonical indices ``(...)`` (on the device)."""
        index = torch.as_tensor(index, dtype=torch.int64, device=self.device)
        gathered = self.store[index.reshape(-1)]
        if self.table is not None:
            gathered = self.table[gathered.long()]
        gathered = gathered.reshape(*index.shape, *self.store.shape[1:])
        return gathered if dtype == torch.float32 else gathered.to(dtype)

    def observations_of(self, factors: torch.Tensor | np.ndarray) -> torch.Tensor:
        """The observations ``(N, C, H, W)`` of int factor configurations ``(N, F)``."""
        factors = torch.as_tensor(np.asarray(factors), dtype=torch.int64, device=self.device)
        return self.observations(self.index_of(factors))

    @classmethod
    def from_chunks(
        cls,
        data: GroundTruthData,
        chunks: Iterable[torch.Tensor],
        device: torch.device,
    ) -> ResidentData:
        """From float32 ``(n, C, H, W)`` chunks of every observation in canonical order."""
        height, width, channels = data.observation_shape
        book = _CodeBook(data.num_configurations, (channels, height, width), device)
        start = 0
        for chunk in chunks:
            book.write(start, chunk)
            start += chunk.shape[0]
        if start != data.num_configurations:
            raise ValueError(f"{start} observations for {data.num_configurations} configurations")
        store, table = book.result()
        return cls(data, store, table)

    @classmethod
    def build(
        cls,
        data: GroundTruthData,
        device: torch.device,
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        workers: int = 1,
    ) -> ResidentData:
        """Every observation of ``data`` computed once on the host and moved to ``device``.

        A :class:`~disentangle_bench.data.procedural.ProceduralData` dataset is rendered straight
        into uint8 codes (``workers`` threads render chunks in parallel); any other dataset is
        read through ``sample_observations_from_factors`` in chunks of ``chunk_size``. Raises
        :class:`ConfigError` for a dataset whose observations depend on the random state.
        """
        check_deterministic(data)
        if isinstance(data, ProceduralData):
            return _build_procedural(data, device, chunk_size, workers)

        def chunks() -> Iterator[torch.Tensor]:
            for start, factors in _factor_chunks(data, chunk_size):
                del start
                host = data.sample_observations_from_factors(factors, np.random.RandomState(0))
                yield to_nchw(np.ascontiguousarray(host, dtype=np.float32)).to(device)

        return cls.from_chunks(data, chunks(), device)


def _factor_chunks(data: GroundTruthData, chunk_size: int) -> Iterator[tuple[int, np.ndarray]]:
    total = data.num_configurations
    for start in range(0, total, chunk_size):
        yield start, data.factors_of(np.arange(start, min(start + chunk_size, total)))


def _build_procedural(
    data: ProceduralData, device: torch.device, chunk_size: int, workers: int
) -> ResidentData:
    height, width, channels = data.observation_shape
    codes = torch.empty(
        (data.num_configurations, channels, height, width), dtype=torch.uint8, device=device
    )
    starts = list(range(0, data.num_configurations, chunk_size))

    def render(start: int) -> np.ndarray:
        stop = min(start + chunk_size, data.num_configurations)
        return data.render_factors(data.factors_of(np.arange(start, stop)))

    with ThreadPoolExecutor(max_workers=max(1, int(workers))) as pool:
        for start, images in zip(starts, pool.map(render, starts)):
            codes[start : start + len(images)] = to_nchw(images).to(device)
    # The host's conversion: binary images are their values, others are scaled by 1/255.
    table = np.arange(MAX_CODES, dtype=np.float32)
    if not data.binary:
        table *= np.float32(1.0 / 255.0)
    return ResidentData(data, codes, torch.from_numpy(table).to(device))


def check_deterministic(data: GroundTruthData, probes: int = 16) -> None:
    """Raise :class:`ConfigError` unless ``data`` gives the same observations for the same
    configurations under two different random states (a resident copy would freeze noise that
    the dataset draws per batch)."""
    count = min(probes, data.num_configurations)
    index = np.random.RandomState(12345).choice(data.num_configurations, count, replace=False)
    factors = data.factors_of(np.sort(index))
    first = data.sample_observations_from_factors(factors, np.random.RandomState(1))
    second = data.sample_observations_from_factors(factors, np.random.RandomState(2))
    if not np.array_equal(first, second):
        raise ConfigError(
            f"{data!r} draws its observations from the random state, so it cannot be held on the "
            "device once; train it with the host samplers"
        )


# -- factor sources ------------------------------------------------------------------------------


def _host_factor_function(
    data: GroundTruthData, kind: str, options: dict[str, Any]
) -> Callable[[int, np.random.RandomState], np.ndarray]:
    """The host samplers' factor draws: (num, F) for single, (2, num, F) for pairs."""
    if kind == "single":
        return data.sample_factors
    sampler: Any
    if kind == "natural_pairs":
        sampler = NaturalPairSampler(data, **options)
    elif kind == "weak_pairs":
        sampler = WeakPairSampler(data, **options)
    else:
        raise ConfigError(f"unknown sample kind {kind!r}; expected one of {SAMPLE_KINDS}")
    return lambda num, random_state: np.stack(sampler.sample_factors(num, random_state))


class HostFactors:
    """Factor indices drawn by the host samplers, one ``np.random.RandomState(seed)`` per stream:
    the exact factor stream of ``bench run`` with each seed (for a deterministic dataset, whose
    observations consume no random numbers)."""

    def __init__(
        self,
        data: GroundTruthData,
        kind: str,
        seeds: Sequence[int],
        device: torch.device,
        options: dict[str, Any] | None = None,
    ) -> None:
        self.kind = kind
        self.draw = _host_factor_function(data, kind, dict(options or {}))
        self.random_states = [np.random.RandomState(int(seed)) for seed in seeds]
        self.bases = factor_bases(data.factors_num_values)
        self.device = device

    def __call__(self, batch_size: int) -> torch.Tensor:
        """Canonical indices ``(S, B)`` (single) or ``(S, 2, B)`` (pairs) on the device."""
        index = np.stack([self.draw(batch_size, rs) @ self.bases for rs in self.random_states])
        tensor = torch.from_numpy(index)
        if self.device.type == "cuda":
            return tensor.pin_memory().to(self.device, non_blocking=True)
        return tensor.to(self.device)


class DeviceFactors:
    """Factor indices drawn on the device (module docstring), ``streams`` at a time, from one
    ``torch.Generator`` on ``device`` seeded with ``seed``."""

    def __init__(
        self,
        data: GroundTruthData,
        kind: str,
        streams: int,
        device: torch.device,
        seed: int = 0,
        options: dict[str, Any] | None = None,
    ) -> None:
        if kind not in SAMPLE_KINDS:
            raise ConfigError(f"unknown sample kind {kind!r}; expected one of {SAMPLE_KINDS}")
        options = dict(options or {})
        self.kind = kind
        self.streams = int(streams)
        self.device = device
        self.sizes = [int(s) for s in data.factors_num_values]
        self.bases = torch.as_tensor(factor_bases(self.sizes), dtype=torch.int64, device=device)
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(int(seed))
        self.sizes_tensor = torch.as_tensor(self.sizes, dtype=torch.int64, device=device)
        if kind == "natural_pairs":
            host = NaturalPairSampler(data, **options)  # validates rate and movable factors
            self.movable = list(host.movable)
            self.cumulative = []
            self.cumulative_other = []
            for i in self.movable:
                transition = host.transition[i]
                self.cumulative.append(
                    torch.as_tensor(np.cumsum(transition, axis=1), device=device)
                )
                other = transition.copy()
                np.fill_diagonal(other, 0.0)
                other /= other.sum(axis=1, keepdims=True)
                self.cumulative_other.append(
                    torch.as_tensor(np.cumsum(other, axis=1), device=device)
                )
        elif kind == "weak_pairs":
            host = WeakPairSampler(data, **options)  # validates k
            self.movable = list(host.movable)
            self.k = host.k

    def _uniform(self, *shape: int) -> torch.Tensor:
        return torch.rand(shape, generator=self.generator, device=self.device, dtype=torch.float64)

    def factors(self, batch_size: int) -> torch.Tensor:
        """Factor configurations ``(S, B, F)`` (single) or ``(S, 2, B, F)`` (pairs)."""
        shape = (self.streams, batch_size)
        first = torch.stack(
            [
                torch.randint(size, shape, generator=self.generator, device=self.device)
                for size in self.sizes
            ],
            dim=-1,
        )
        if self.kind == "single":
            return first
        second = self._natural(first) if self.kind == "natural_pairs" else self._weak(first)
        return torch.stack([first, second], dim=1)

    def __call__(self, batch_size: int) -> torch.Tensor:
        """Canonical indices ``(S, B)`` (single) or ``(S, 2, B)`` (pairs) on the device."""
        return (self.factors(batch_size) * self.bases).sum(dim=-1)

    def _natural(self, first: torch.Tensor) -> torch.Tensor:
        streams, batch = first.shape[:2]
        second = first.clone()
        moves = self._uniform(streams, batch, len(self.movable))
        for column, i in enumerate(self.movable):
            rows = self.cumulative[column][first[..., i]]
            second[..., i] = _inverse_cdf(rows, moves[..., column])
        unchanged = (second == first).all(dim=-1)
        choice = torch.randint(
            len(self.movable), (streams, batch), generator=self.generator, device=self.device
        )
        redraw = self._uniform(streams, batch)
        for column, i in enumerate(self.movable):
            rows = self.cumulative_other[column][first[..., i]]
            other = _inverse_cdf(rows, redraw)
            second[..., i] = torch.where(unchanged & (choice == column), other, second[..., i])
        return second

    def _weak(self, first: torch.Tensor) -> torch.Tensor:
        streams, batch = first.shape[:2]
        count = len(self.movable)
        if self.k == -1:
            k = torch.randint(
                1, count, (streams, batch), generator=self.generator, device=self.device
            )
        else:
            k = torch.full((streams, batch), self.k, dtype=torch.int64, device=self.device)
        ranks = self._uniform(streams, batch, count).argsort(dim=-1).argsort(dim=-1)
        offsets = self._uniform(streams, batch, count)
        second = first.clone()
        for column, i in enumerate(self.movable):
            size = self.sizes[i]
            change = ranks[..., column] < k
            shift = 1 + torch.floor(offsets[..., column] * (size - 1)).to(torch.int64)
            second[..., i] = torch.where(change, (first[..., i] + shift) % size, first[..., i])
        return second


def _inverse_cdf(cumulative: torch.Tensor, uniforms: torch.Tensor) -> torch.Tensor:
    """The first index whose cumulative probability exceeds u (the host sampler's rule)."""
    index = (cumulative <= uniforms[..., None]).sum(dim=-1)
    return index.clamp(max=cumulative.shape[-1] - 1)


def dlib_factors(
    data: GroundTruthData, num_points: int, seed: int = 0, batch_size: int = 16
) -> np.ndarray:
    """The factors ``(num_points, F)`` disentanglement_lib's ``generate_batch_factor_code``
    samples with ``np.random.RandomState(seed)`` in batches of ``batch_size`` (MIG's defaults:
    10,000 points, batches of 16), for a deterministic dataset (whose observations draw nothing).
    Encoding their resident observations and passing the codes to a metric's array core gives the
    metric's score up to the encoder's rounding."""
    random_state = np.random.RandomState(seed)
    chunks, done = [], 0
    while done < num_points:
        n = min(batch_size, num_points - done)
        chunks.append(data.sample_factors(n, random_state))
        done += n
    return np.concatenate(chunks, axis=0)
