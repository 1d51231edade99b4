"""Datasets rendered from their factor indices by a deterministic renderer.

:class:`ProceduralData` gives every procedural dataset the same storage behaviour:

- ``cache=True``: all images are materialised once and batches are sampled from memory. Small
  grids (at most :attr:`ProceduralData.memory_limit` images) are rendered into memory at first
  use; larger ones are read from the on-disk cache (:mod:`disentangle_bench.data.storage`),
  which is built, with progress lines, the first time.
- ``cache=False``: every batch is rendered on demand; the content fingerprint is computed once
  (streaming over all images) and recorded in the cache, checked against re-rendered probes.

Either way the observations are identical, and so is the fingerprint:
:func:`~disentangle_bench.data.ground_truth.content_fingerprint` of all uint8 images.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np

from disentangle_bench.data.ground_truth import (
    GroundTruthData,
    chunked_fingerprint,
    content_fingerprint,
)
from disentangle_bench.data.storage import (
    ArrayStore,
    CacheEntry,
    ImageStore,
    cached_fingerprint,
    entry_directory,
    load_or_build,
    stable_key,
)

DEFAULT_CHUNK_SIZE = 4096


class ProceduralData(GroundTruthData):
    """A grid dataset whose uint8 images come from :meth:`render_factors`."""

    name: ClassVar[str]
    #: Images hold only 0 and 1 (observations are the stored values); otherwise 0-255 / 255.
    binary: ClassVar[bool] = False
    #: Bump when the renderer's output changes, so that cache entries are not reused.
    renderer_version: ClassVar[int] = 1
    #: Grids up to this many images are materialised in memory only, never on disk.
    memory_limit: ClassVar[int] = 100_000
    #: Metadata written into dataset cards.
    license: ClassVar[str] = "apache-2.0"
    citation: ClassVar[str] = ""
    description: ClassVar[str] = ""
    #: Factors without an order (pair samplers never move them; e.g. a shape).
    categorical_factors: ClassVar[tuple[str, ...]] = ()

    def __init__(self, cache: bool = True) -> None:
        self.cache = bool(cache)
        self._store: ImageStore | None = None
        self._entry: CacheEntry | None = None
        self._fingerprint: str | None = None

    # -- to implement ---------------------------------------------------------------------------

    @abc.abstractmethod
    def render_factors(self, factors: np.ndarray) -> np.ndarray:
        """uint8 (N, H, W, C) images for int factor indices (N, F)."""

    def key_parameters(self) -> tuple[Any, ...]:
        """Hyperparameters that change the images (part of the cache key)."""
        return ()

    # -- grid helpers ---------------------------------------------------------------------------

    def check_factors(self, factors: np.ndarray) -> np.ndarray:
        """int64 (N, F) factor indices, validated against the grid (ValueError otherwise)."""
        given = np.asarray(factors)
        if given.ndim != 2 or given.shape[1] != self.num_factors:
            raise ValueError(f"factors must be (N, {self.num_factors}), got {given.shape}")
        checked = given.astype(np.int64)
        if np.any(checked != given):
            raise ValueError("factor indices must be integers")
        sizes = np.asarray(self.factors_num_values)
        if np.any((checked < 0) | (checked >= sizes)):
            raise ValueError(f"factor indices out of range for sizes {tuple(sizes)}")
        return checked

    def cache_key(self) -> str:
        cls = type(self)
        return stable_key(
            cls.__module__,
            cls.__qualname__,
            self.renderer_version,
            tuple(self.observation_shape),
            self.key_parameters(),
            *self.value_grid,
        )

    @property
    def uses_disk(self) -> bool:
        return self.num_configurations > self.memory_limit

    def iter_images(self, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[np.ndarray]:
        """All images, uint8 (n, H, W, C) chunks, rendered in canonical (index) order."""
        total = self.num_configurations
        for start in range(0, total, chunk_size):
            index = np.arange(start, min(start + chunk_size, total), dtype=np.int64)
            yield self.render_factors(self.factors_of(index))

    # -- storage --------------------------------------------------------------------------------

    def materialise(self) -> ImageStore:
        """Every image in canonical order, from memory or the disk cache (built if missing)."""
        if self._store is None:
            if self.uses_disk:
                self._entry = load_or_build(
                    entry_directory("procedural", self.name, self.cache_key()),
                    lambda: self.iter_images(8192),
                    count=self.num_configurations,
                    image_shape=self.observation_shape,
                    factors_num_values=self.factors_num_values,
                    packed=self.binary,
                    meta={"name": self.name, "parameters": repr(self.key_parameters())},
                    label=f"render {self.name}",
                )
                self._store = self._entry.store
                self._fingerprint = self._entry.fingerprint
            else:
                images = np.concatenate(list(self.iter_images()))
                self._store = ArrayStore(images)
                self._fingerprint = content_fingerprint(images, self.factors_num_values)
        return self._store

    def images_of(self, factors: np.ndarray) -> np.ndarray:
        """uint8 (N, H, W, C) images of int factor indices (N, F)."""
        factors = self.check_factors(factors)
        if self.cache:
            return self.materialise().get(self.index_of(factors))
        return self.render_factors(factors)

    def sample_observations_from_factors(
        self, factors: np.ndarray, random_state: np.random.RandomState
    ) -> np.ndarray:
        del random_state  # rendering is deterministic
        images = self.images_of(factors).astype(np.float32)
        if not self.binary:
            images *= np.float32(1.0 / 255.0)
        return images

    @property
    def fingerprint(self) -> str:
        """``content_fingerprint`` of all uint8 images, computed once."""
        if self._fingerprint is None:
            if self.cache:
                self.materialise()
            else:
                shape = (self.num_configurations, *self.observation_shape)

                def compute() -> str:
                    return chunked_fingerprint(
                        self.iter_images(8192), self.factors_num_values, np.uint8, shape
                    )

                if not self.uses_disk:
                    self._fingerprint = compute()
                else:
                    self._fingerprint = cached_fingerprint(
                        self.name,
                        self.cache_key(),
                        compute,
                        lambda index: self.render_factors(self.factors_of(index)),
                        self.num_configurations,
                    )
        assert self._fingerprint is not None
        return self._fingerprint

    def storage_info(self) -> dict[str, Any]:
        """Where the images live and how many bytes they take."""
        image_bytes = int(np.prod(self.observation_shape))
        if self.binary:
            stored = self.num_configurations * ((image_bytes + 7) // 8)
        else:
            stored = self.num_configurations * image_bytes
        directory = entry_directory("procedural", self.name, self.cache_key())
        on_disk = directory.exists() and (directory / "meta.json").exists()
        if not self.cache:
            kind = "rendered on demand; size if cached"
        elif self.uses_disk:
            kind = "disk cache" if on_disk else "disk cache (not built yet)"
        else:
            kind = "in memory"
        return {
            "kind": kind,
            "bytes": stored,
            "packed": bool(self.binary),
            "path": str(directory) if self.uses_disk and (self.cache or on_disk) else None,
            "built": bool(on_disk),
        }
