"""Datasets whose images come from a cache entry (converted files, downloaded datasets)."""

from __future__ import annotations

import abc
from typing import Any, ClassVar

import numpy as np

from disentangle_bench.data.ground_truth import GroundTruthData
from disentangle_bench.data.storage import CacheEntry, ImageStore


class StoredData(GroundTruthData):
    """Ground-truth data backed by a :class:`~disentangle_bench.data.storage.CacheEntry`.

    Subclasses set ``_names``, ``_sizes``, ``_values``, ``_shape`` and ``binary`` at
    construction (cheaply, from file headers or metadata) and implement :meth:`load_entry`,
    which is called once, at the first observation or fingerprint request.
    """

    name: ClassVar[str]
    license: ClassVar[str] = "other"
    citation: ClassVar[str] = ""
    description: ClassVar[str] = ""
    categorical_factors: tuple[str, ...] = ()

    _names: tuple[str, ...]
    _sizes: tuple[int, ...]
    _values: tuple[np.ndarray, ...]
    _shape: tuple[int, int, int]
    binary: bool = False

    _entry: CacheEntry | None = None

    @abc.abstractmethod
    def load_entry(self) -> CacheEntry:
        """The cache entry holding every image in canonical order (built if needed)."""

    @property
    def entry(self) -> CacheEntry:
        if self._entry is None:
            self._entry = self.load_entry()
        return self._entry

    @property
    def store(self) -> ImageStore:
        return self.entry.store

    @property
    def factor_names(self) -> tuple[str, ...]:
        return self._names

    @property
    def factors_num_values(self) -> tuple[int, ...]:
        return self._sizes

    @property
    def observation_shape(self) -> tuple[int, int, int]:
        return self._shape

    @property
    def value_grid(self) -> tuple[np.ndarray, ...]:
        return self._values

    @property
    def fingerprint(self) -> str:
        return self.entry.fingerprint

    def images_of(self, factors: np.ndarray) -> np.ndarray:
        """Stored uint8 (N, H, W, C) images of int factor indices (N, F)."""
        factors = np.asarray(factors, dtype=np.int64)
        sizes = np.asarray(self._sizes)
        if factors.ndim != 2 or factors.shape[1] != len(sizes):
            raise ValueError(f"factors must be (N, {len(sizes)}), got {factors.shape}")
        if np.any((factors < 0) | (factors >= sizes)):
            raise ValueError(f"factor indices out of range for sizes {tuple(sizes)}")
        return self.store.get(self.index_of(factors))

    def sample_observations_from_factors(
        self, factors: np.ndarray, random_state: np.random.RandomState
    ) -> np.ndarray:
        del random_state  # stored images are a fixed function of the factors
        images = self.images_of(factors).astype(np.float32)
        if not self.binary:
            images *= np.float32(1.0 / 255.0)
        return images

    def storage_info(self) -> dict[str, Any]:
        entry = self._entry
        if entry is None:
            return {"kind": "cache (not loaded yet)", "bytes": None, "path": None}
        return {
            "kind": "disk cache",
            "bytes": entry.disk_bytes,
            "packed": bool(entry.meta.get("packed")),
            "path": str(entry.directory),
            "built": True,
        }
