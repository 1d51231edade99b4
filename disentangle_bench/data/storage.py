"""Image storage: in-memory stores, and the on-disk cache of materialised datasets.

A cache entry is a directory ``<root>/<kind>/<name>-<key>/`` with ``images.npy`` (uint8, one row
per image in canonical factor order; binary datasets bit-packed with ``np.packbits``, 8 pixels
per byte) and ``meta.json`` (shape, packing, content fingerprint, SHA-256 of the stored bytes).
An entry is built under a temporary name in the same directory and renamed only once both files
are complete and flushed, so an interrupted build is never used, and rebuilding after a crash
works. The root is ``$DISENTANGLE_BENCH_CACHE`` (default ``~/.cache/disentangle_bench``).
"""

from __future__ import annotations

import abc
import contextlib
import hashlib
import json
import os
import shutil
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from disentangle_bench.util.errors import DataError
from disentangle_bench.util.files import atomic_write_json
from disentangle_bench.util.progress import Progress

CACHE_ENV = "DISENTANGLE_BENCH_CACHE"
CACHE_FORMAT_VERSION = 1
IMAGES_FILE = "images.npy"
META_FILE = "meta.json"
# Entries up to this size are read into memory (and their bytes verified against the SHA-256
# recorded at build time); larger ones are memory-mapped and only their size is checked.
VERIFY_LIMIT_BYTES = 2 << 30
STALE_TEMPORARY_SECONDS = 3600.0


def cache_root() -> Path:
    """The cache directory: ``$DISENTANGLE_BENCH_CACHE`` or ``~/.cache/disentangle_bench``."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "disentangle_bench"


def stable_key(*parts: Any) -> str:
    """A short hex key from a ``repr``-stable description (arrays hashed by their bytes)."""
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            digest.update(str(part.dtype).encode() + repr(part.shape).encode())
            digest.update(np.ascontiguousarray(part).tobytes())
        else:
            digest.update(repr(part).encode())
        digest.update(b"\x00")
    return digest.hexdigest()[:16]


# -- in-memory stores -------------------------------------------------------------------------


class ImageStore(abc.ABC):
    """All images of a dataset in canonical order; ``get`` returns (n, H, W, C) arrays."""

    shape: tuple[int, int, int, int]

    @abc.abstractmethod
    def get(self, index: np.ndarray) -> np.ndarray:
        """Images at ``index`` (int array), shape (n, H, W, C), in the store's dtype."""

    @property
    @abc.abstractmethod
    def nbytes(self) -> int:
        """Bytes held (in memory or mapped)."""

    def __len__(self) -> int:
        return self.shape[0]

    def chunks(self, chunk_size: int = 8192) -> Iterator[np.ndarray]:
        for start in range(0, len(self), chunk_size):
            yield self.get(np.arange(start, min(start + chunk_size, len(self))))


class ArrayStore(ImageStore):
    """An (N, H, W, C) array or memory map (uint8, or float32 in [0, 1])."""

    def __init__(self, images: np.ndarray) -> None:
        if images.ndim != 4:
            raise ValueError(f"images must be (N, H, W, C), got {images.shape}")
        self.images = images
        self.shape = tuple(int(s) for s in images.shape)  # type: ignore[assignment]

    def get(self, index: np.ndarray) -> np.ndarray:
        index = np.asarray(index, dtype=np.int64)
        if isinstance(self.images, np.memmap) and index.size > 1:
            # Sorted reads are much faster from a page-cold memory map; restore the order after.
            order = np.argsort(index, kind="stable")
            out = np.empty((index.size, *self.shape[1:]), dtype=self.images.dtype)
            out[order] = self.images[index[order]]
            return out
        return self.images[index]

    @property
    def nbytes(self) -> int:
        return int(self.images.nbytes)


class PackedStore(ImageStore):
    """Binary images stored 8 pixels per byte (``np.packbits`` over each flattened image)."""

    def __init__(self, packed: np.ndarray, image_shape: Sequence[int]) -> None:
        pixels = int(np.prod(image_shape))
        if packed.ndim != 2 or packed.shape[1] != (pixels + 7) // 8:
            raise ValueError(f"packed array {packed.shape} does not hold images {image_shape}")
        self.packed = packed
        self.pixels = pixels
        self.shape = (int(packed.shape[0]), *(int(s) for s in image_shape))  # type: ignore[assignment]

    def get(self, index: np.ndarray) -> np.ndarray:
        rows = self.packed[np.asarray(index, dtype=np.int64)]
        bits = np.unpackbits(rows, axis=1, count=self.pixels)
        return bits.reshape(len(rows), *self.shape[1:])

    @property
    def nbytes(self) -> int:
        return int(self.packed.nbytes)


def pack_images(images: np.ndarray) -> np.ndarray:
    """Bit-pack binary (n, H, W, C) images in {0, 1} into (n, ceil(HWC / 8)) uint8 rows."""
    return np.packbits(images.reshape(len(images), -1), axis=1)


# -- cache entries ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CacheEntry:
    """A complete cache entry: its directory, metadata and store."""

    directory: Path
    meta: dict[str, Any]
    store: ImageStore

    @property
    def fingerprint(self) -> str:
        return str(self.meta["fingerprint"])

    @property
    def disk_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.directory.iterdir() if p.is_file())


def entry_directory(kind: str, name: str, key: str, root: Path | None = None) -> Path:
    return (root or cache_root()) / kind / f"{name}-{key}"


def _stored_row_shape(image_shape: Sequence[int], packed: bool) -> tuple[int, ...]:
    if packed:
        return ((int(np.prod(image_shape)) + 7) // 8,)
    return tuple(int(s) for s in image_shape)


def _load_store(directory: Path, meta: dict[str, Any], *, verify: bool) -> ImageStore:
    path = directory / IMAGES_FILE
    image_shape = tuple(meta["image_shape"])
    count = int(meta["count"])
    packed = bool(meta["packed"])
    expected = (count, *_stored_row_shape(image_shape, packed))
    size = path.stat().st_size
    in_memory = size <= VERIFY_LIMIT_BYTES
    array = np.load(path, mmap_mode=None if in_memory else "r", allow_pickle=False)
    if tuple(array.shape) != expected or array.dtype != np.dtype(meta["dtype"]):
        raise DataError(f"{path}: holds {array.dtype} {array.shape}, meta.json says {expected}")
    if verify and in_memory:
        digest = hashlib.sha256(np.ascontiguousarray(array).data).hexdigest()
        if digest != meta["data_sha256"]:
            raise DataError(f"{path}: contents do not match the SHA-256 in {META_FILE}")
    if packed:
        return PackedStore(array, image_shape)
    return ArrayStore(array)


def load_entry(directory: Path, *, verify: bool = True) -> CacheEntry:
    """Load a complete entry; raises :class:`DataError` if it is missing or damaged."""
    meta_path = directory / META_FILE
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"no cache entry at {directory}") from None
    except (OSError, ValueError) as error:
        raise DataError(f"{meta_path}: unreadable ({error})") from None
    if meta.get("format_version") != CACHE_FORMAT_VERSION:
        raise DataError(
            f"{meta_path}: cache format {meta.get('format_version')!r} is not "
            f"{CACHE_FORMAT_VERSION}"
        )
    try:
        store = _load_store(directory, meta, verify=verify)
    except (OSError, ValueError, KeyError) as error:
        raise DataError(f"{directory / IMAGES_FILE}: unreadable ({error})") from None
    return CacheEntry(directory, meta, store)


def find_entry(directory: Path, *, verify: bool = True) -> CacheEntry | None:
    """The entry at ``directory`` if it exists and is sound; a damaged one is removed."""
    if not (directory / META_FILE).exists():
        return None
    try:
        return load_entry(directory, verify=verify)
    except DataError as error:
        print(f"bench: discarding damaged cache entry: {error}", file=sys.stderr, flush=True)
        shutil.rmtree(directory, ignore_errors=True)
        return None


def _remove_stale_temporaries(directory: Path) -> None:
    now = time.time()
    for candidate in directory.parent.glob(f".{directory.name}.tmp-*"):
        try:
            if now - candidate.stat().st_mtime > STALE_TEMPORARY_SECONDS:
                shutil.rmtree(candidate, ignore_errors=True)
        except OSError:
            pass


def build_entry(
    directory: Path,
    chunks: Iterable[np.ndarray],
    *,
    count: int,
    image_shape: Sequence[int],
    factors_num_values: Sequence[int],
    packed: bool,
    meta: dict[str, Any] | None = None,
    label: str = "build",
    dtype: np.dtype | str = np.uint8,
) -> CacheEntry:
    """Write ``chunks`` (canonical order, (n, H, W, C) each) as a new entry, atomically.

    The content fingerprint is :func:`~disentangle_bench.data.ground_truth.content_fingerprint`
    of the unpacked images. If another process completes the same entry first, its entry is
    used and this build is discarded.
    """
    from disentangle_bench.data.ground_truth import fingerprint_header

    directory.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(directory)
    temporary = directory.parent / f".{directory.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    temporary.mkdir()
    dtype = np.dtype(dtype)
    image_shape = tuple(int(s) for s in image_shape)
    try:
        stored = np.lib.format.open_memmap(
            temporary / IMAGES_FILE,
            mode="w+",
            dtype=dtype,
            shape=(count, *_stored_row_shape(image_shape, packed)),
        )
        content = hashlib.sha256(
            fingerprint_header(factors_num_values, dtype, (count, *image_shape))
        )
        stored_digest = hashlib.sha256()
        progress = Progress(count, label, unit="images")
        done = 0
        for chunk in chunks:
            chunk = np.ascontiguousarray(chunk, dtype=dtype)
            if chunk.shape[1:] != image_shape or done + len(chunk) > count:
                raise ValueError(f"chunk of shape {chunk.shape} does not fit {image_shape}")
            content.update(chunk.data)
            rows = pack_images(chunk) if packed else chunk
            stored[done : done + len(chunk)] = rows
            stored_digest.update(np.ascontiguousarray(rows).data)
            done += len(chunk)
            progress.update(done)
        if done != count:
            raise ValueError(f"built {done} images, expected {count}")
        stored.flush()
        del stored
        record = {
            **(meta or {}),
            "format_version": CACHE_FORMAT_VERSION,
            "count": count,
            "image_shape": list(image_shape),
            "dtype": str(dtype),
            "packed": packed,
            "factors_num_values": [int(s) for s in factors_num_values],
            "fingerprint": content.hexdigest(),
            "data_sha256": stored_digest.hexdigest(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        with open(temporary / IMAGES_FILE, "rb+") as handle:
            os.fsync(handle.fileno())
        atomic_write_json(temporary / META_FILE, record)
        try:
            os.rename(temporary, directory)
        except OSError:
            if not (directory / META_FILE).exists():
                raise
            shutil.rmtree(temporary, ignore_errors=True)  # another process finished first
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    return load_entry(directory, verify=False)


def load_or_build(
    directory: Path,
    chunks: Callable[[], Iterable[np.ndarray]],
    **build_arguments: Any,
) -> CacheEntry:
    """The entry at ``directory``, built from ``chunks()`` first if it is missing or damaged."""
    entry = find_entry(directory)
    if entry is not None:
        return entry
    return build_entry(directory, chunks(), **build_arguments)


# -- fingerprints of datasets rendered on demand ------------------------------------------------


def fingerprint_record_path(name: str, key: str, root: Path | None = None) -> Path:
    return (root or cache_root()) / "fingerprints" / f"{name}-{key}.json"


def cached_fingerprint(
    name: str,
    key: str,
    compute: Callable[[], str],
    probe: Callable[[np.ndarray], np.ndarray],
    num_configurations: int,
    *,
    num_probes: int = 8,
) -> str:
    """A content fingerprint computed once and recorded in the cache.

    The record also holds the SHA-256 of ``num_probes`` images spread over the grid; they are
    re-rendered with ``probe(index)`` and compared on every later use, so a renderer that changed
    without changing the cache key is caught without hashing every image again.
    """
    path = fingerprint_record_path(name, key)
    probes = np.unique(np.linspace(0, num_configurations - 1, num_probes).astype(np.int64))

    def probe_digests() -> list[str]:
        images = probe(probes)
        return [hashlib.sha256(np.ascontiguousarray(image).data).hexdigest() for image in images]

    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        if record["probes"] == probes.tolist() and record["probe_sha256"] == probe_digests():
            return str(record["fingerprint"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    fingerprint = compute()
    record = {
        "fingerprint": fingerprint,
        "probes": probes.tolist(),
        "probe_sha256": probe_digests(),
    }
    # A read-only cache only costs the recomputation next time.
    with contextlib.suppress(OSError):
        atomic_write_json(path, record)
    return fingerprint


def directory_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
