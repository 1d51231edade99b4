"""Image storage: in-memory stores, and the on-disk cache of materialised datasets.

A cache entry is a directory ``<root>/<kind>/<name>-<key>/`` with ``images.npy`` (uint8, one row
per image in canonical factor order; binary datasets bit-packed with ``np.packbits``, 8 pixels
per byte) and ``meta.json`` (shape, packing, content fingerprint, SHA-256 of the stored bytes).
An entry is built under a temporary name in the same directory and renamed only once both files
are complete and flushed, so an interrupted build is never used, and rebuilding after a crash
works. An entry missing either file is discarded and rebuilt. The root is
``$DISENTANGLE_BENCH_CACHE`` (default ``~/.cache/disentangle_bench``).

Temporaries (``.<name>.tmp-<host>-<pid>-<hex>``, the hub importer's ``.<name>.scratch-...``,
:func:`~disentangle_bench.util.files.atomic_write`'s ``.<name>.<random>.tmp``) live beside their
target, in the folder the next build there cleans (:func:`remove_stale_temporaries`).

Loading re-derives what it checks where that is cheap (:data:`REDERIVE_LIMIT_BYTES`): the content
fingerprint of the images, not the one ``meta.json`` records (see ``CacheEntry.verified``).
"""

from __future__ import annotations

import abc
import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import socket
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
from disentangle_bench.util.writing import failure_reason

CACHE_ENV = "DISENTANGLE_BENCH_CACHE"
CACHE_FORMAT_VERSION = 1
IMAGES_FILE = "images.npy"
META_FILE = "meta.json"
# Entries up to this size are read into memory and verified; larger ones are memory-mapped and
# only their shape and size are checked.
VERIFY_LIMIT_BYTES = 2 << 30
# A verified entry's content fingerprint is re-derived from its images (and must equal the
# recorded one) when the unpacked images take at most this many bytes: always for unpacked
# entries read into memory (the same one pass over the bytes as a SHA-256 check), and for
# bit-packed ones up to this size (unpacking costs 8x the bytes). A larger packed entry (all of
# dSprites: 3 GB unpacked) is checked against the SHA-256 of its stored bytes instead, and its
# recorded fingerprint, written by the same build, is used.
REDERIVE_LIMIT_BYTES = 256 << 20
# A temporary whose creator cannot be seen (another host, no pid in its name) is stale after this.
STALE_TEMPORARY_SECONDS = 3600.0
HOST = re.sub(r"[^A-Za-z0-9_.]", "_", socket.gethostname())[:64] or "host"
_TEMPORARY = re.compile(
    r"^\..+\.(?:tmp|scratch)-(?:(?P<host>[A-Za-z0-9_.]+)-)?(?P<pid>[0-9]+)-[0-9a-f]{8}$"
)
_ATOMIC_TEMPORARY = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")  # util.files.atomic_write


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
    #: what loading checked: ``"fingerprint"`` (re-derived from the images, equal to the
    #: recorded one), ``"sha256"`` (stored bytes against the recorded SHA-256), ``"size"``
    #: (memory-mapped: shape and size only) or ``"none"`` (not verified)
    verified: str = "none"

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


def _load_store(directory: Path, meta: dict[str, Any], *, verify: bool) -> tuple[ImageStore, str]:
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
    store: ImageStore = PackedStore(array, image_shape) if packed else ArrayStore(array)
    if not verify:
        return store, "none"
    if not in_memory:
        return store, "size"
    unpacked_bytes = count * int(np.prod(image_shape)) * array.dtype.itemsize
    if not packed or unpacked_bytes <= REDERIVE_LIMIT_BYTES:
        if _rederived_fingerprint(store, meta) != meta["fingerprint"]:
            raise DataError(
                f"{path}: the images do not match the fingerprint recorded in {META_FILE}"
            )
        return store, "fingerprint"
    digest = hashlib.sha256(np.ascontiguousarray(array).data).hexdigest()
    if digest != meta["data_sha256"]:
        raise DataError(f"{path}: contents do not match the SHA-256 in {META_FILE}")
    return store, "sha256"


def _rederived_fingerprint(store: ImageStore, meta: dict[str, Any]) -> str:
    """The content fingerprint of the stored images (what ``build_entry`` recorded)."""
    from disentangle_bench.data.ground_truth import fingerprint_header

    dtype = np.dtype(meta["dtype"])
    digest = hashlib.sha256(
        fingerprint_header(meta["factors_num_values"], dtype, (len(store), *store.shape[1:]))
    )
    if isinstance(store, ArrayStore):  # slices of the array: no copies
        chunks: Iterable[np.ndarray] = (
            store.images[start : start + 16384] for start in range(0, len(store), 16384)
        )
    else:
        chunks = store.chunks(16384)
    for chunk in chunks:
        digest.update(np.ascontiguousarray(chunk, dtype=dtype).data)
    return digest.hexdigest()


def load_entry(directory: Path, *, verify: bool = True) -> CacheEntry:
    """Load a complete entry; raises :class:`DataError` if it is missing or damaged."""
    meta_path = directory / META_FILE
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"no cache entry at {directory}") from None
    except (OSError, ValueError) as error:
        raise DataError(f"{meta_path}: unreadable ({error})") from None
    if not isinstance(meta, dict) or meta.get("format_version") != CACHE_FORMAT_VERSION:
        found = meta.get("format_version") if isinstance(meta, dict) else None
        raise DataError(f"{meta_path}: cache format {found!r} is not {CACHE_FORMAT_VERSION}")
    try:
        store, verified = _load_store(directory, meta, verify=verify)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise DataError(f"{directory / IMAGES_FILE}: unreadable ({error})") from None
    return CacheEntry(directory, meta, store, verified)


def find_entry(directory: Path, *, verify: bool = True) -> CacheEntry | None:
    """The entry at ``directory`` if it exists and is sound; a damaged or incomplete one (a file
    missing, e.g. no ``meta.json``) is removed so that it can be rebuilt."""
    if not directory.exists():
        return None
    missing = [name for name in (META_FILE, IMAGES_FILE) if not (directory / name).is_file()]
    if missing:
        _discard(directory, f"{directory} is incomplete (no {', '.join(missing)})")
        return None
    try:
        return load_entry(directory, verify=verify)
    except DataError as error:
        _discard(directory, str(error))
        return None


def _discard(directory: Path, why: str) -> None:
    """Remove a damaged entry: renamed away first (atomic), so nobody meets it half-deleted."""
    print(f"bench: discarding damaged cache entry: {why}", file=sys.stderr, flush=True)
    doomed = temporary_path(directory, "tmp")
    try:
        os.rename(directory, doomed)
    except OSError:
        doomed = directory
    shutil.rmtree(doomed, ignore_errors=True)


def temporary_path(target: Path, kind: str = "tmp") -> Path:
    """A fresh name beside ``target`` for building it: ``.<name>.<kind>-<host>-<pid>-<hex>``,
    which :func:`remove_stale_temporaries` recognises (``kind``: ``tmp`` or ``scratch``)."""
    token = uuid.uuid4().hex[:8]
    return target.parent / f".{target.name}.{kind}-{HOST}-{os.getpid()}-{token}"


def remove_stale_temporaries(folder: Path, *, now: float | None = None) -> list[Path]:
    """Remove the stale temporaries in ``folder``; return what was removed.

    A temporary named with a pid of this host is stale when that process is gone, or when the
    process now holding the pid started after the temporary existed (a reused pid). Otherwise
    (another host, no pid, a pid whose start time cannot be read) it is stale when nothing in it
    changed for :data:`STALE_TEMPORARY_SECONDS` (an hour). Errors are ignored: cleaning is a
    courtesy, never a reason to fail.
    """
    now = time.time() if now is None else now
    try:
        candidates = [p for p in folder.iterdir() if p.name.startswith(".")]
    except OSError:
        return []
    removed = []
    for candidate in candidates:
        match = _TEMPORARY.match(candidate.name)
        if match is None and not _ATOMIC_TEMPORARY.match(candidate.name):
            continue
        try:
            if not _is_stale(candidate, match, now):
                continue
            if candidate.is_dir() and not candidate.is_symlink():
                shutil.rmtree(candidate)
            else:
                candidate.unlink()
        except OSError:
            continue
        removed.append(candidate)
    return removed


def _is_stale(path: Path, match: re.Match | None, now: float) -> bool:
    info = path.lstat()
    times = [info.st_mtime]
    if path.is_dir() and not path.is_symlink():
        with contextlib.suppress(OSError):
            times += [child.lstat().st_mtime for child in path.iterdir()]
    old = now - max(times) > STALE_TEMPORARY_SECONDS
    if match is None or match["host"] not in (None, HOST) or int(match["pid"]) <= 0:
        return old
    state = _process_state(int(match["pid"]), min(info.st_mtime, info.st_ctime))
    if state == "gone" or state == "newer":
        return True
    return state == "unknown" and old


def _process_state(pid: int, created: float) -> str:
    """``"gone"``, ``"newer"`` (alive but started after ``created``: a reused pid), ``"older"``
    (alive, started before: may be the creator) or ``"unknown"`` (alive, start not readable)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return "gone"
    except OSError as error:
        if error.errno != errno.EPERM:  # EPERM: alive, another user's
            return "unknown"
    started = _process_start(pid)
    if started is None:
        return "unknown"
    return "newer" if started > created + 2.0 else "older"


def _process_start(pid: int) -> float | None:
    """When process ``pid`` started (seconds since the epoch), from Linux's /proc; else None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        ticks = int(stat[stat.rindex(")") + 2 :].split()[19])
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def _cache_write_error(directory: Path, error: OSError) -> DataError:
    return DataError(
        f"cannot write the dataset cache entry {directory}: {failure_reason(error, directory)} "
        f"(set {CACHE_ENV} to a writable folder)"
    )


def _source_chunks(chunks: Iterable[np.ndarray], directory: Path) -> Iterator[np.ndarray]:
    """``chunks``, with a read error of the source told apart from a write error of the cache."""
    iterator = iter(chunks)
    while True:
        try:
            chunk = next(iterator)
        except StopIteration:
            return
        except OSError as error:
            raise DataError(
                f"cannot read the images for {directory.name}: {failure_reason(error)}"
            ) from None
        yield chunk


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

    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(directory.parent)
        temporary = temporary_path(directory, "tmp")
        temporary.mkdir()
    except OSError as error:
        raise _cache_write_error(directory, error) from None
    dtype = np.dtype(dtype)
    image_shape = tuple(int(s) for s in image_shape)
    try:
        stored = np.lib.format.open_memmap(
            temporary / IMAGES_FILE,
            mode="w+",
            dtype=dtype,
            shape=(count, *_stored_row_shape(image_shape, packed)),
        )
        _reserve(temporary / IMAGES_FILE)  # a full disk fails here, not as SIGBUS in the map
        content = hashlib.sha256(
            fingerprint_header(factors_num_values, dtype, (count, *image_shape))
        )
        stored_digest = hashlib.sha256()
        progress = Progress(count, label, unit="images")
        done = 0
        for chunk in _source_chunks(chunks, directory):
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
        _move_into_place(temporary, directory)
    except OSError as error:
        shutil.rmtree(temporary, ignore_errors=True)
        raise _cache_write_error(directory, error) from None
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    return load_entry(directory, verify=False)


def _reserve(path: Path) -> None:
    """Allocate the whole file now (``posix_fallocate``, where the platform has it)."""
    if not hasattr(os, "posix_fallocate"):
        return
    with open(path, "rb+") as handle:
        size = os.fstat(handle.fileno()).st_size
        try:
            os.posix_fallocate(handle.fileno(), 0, size)
        except OSError as error:
            if error.errno in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                return  # a file system without it: the memory map still works
            raise


def _move_into_place(temporary: Path, directory: Path) -> None:
    """Rename the finished ``temporary`` to ``directory``. A complete entry already there (a
    process that finished first) wins; an incomplete one is discarded and replaced."""
    for attempt in range(2):
        try:
            os.rename(temporary, directory)
            return
        except OSError:
            if not directory.exists():
                raise
        if (directory / META_FILE).is_file() and (directory / IMAGES_FILE).is_file():
            shutil.rmtree(temporary, ignore_errors=True)  # another process finished first
            return
        if attempt == 0:
            _discard(directory, f"{directory} is incomplete")
    os.rename(temporary, directory)


def load_or_build(
    directory: Path,
    chunks: Callable[[], Iterable[np.ndarray]],
    **build_arguments: Any,
) -> CacheEntry:
    """The entry at ``directory``, built from ``chunks()`` first if it is missing, damaged or
    incomplete."""
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
