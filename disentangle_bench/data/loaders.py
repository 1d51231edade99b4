"""Loaders for the original dataset files, when a user has them.

Files are found through an explicit ``path`` hyperparameter or under ``$DISENTANGLEMENT_LIB_DATA``
at disentanglement_lib's relative paths (``disentanglement_lib/data/ground_truth/*.py``):

| dataset | file |
|---|---|
| ``dsprites_full`` | ``dsprites/dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz`` (DeepMind) |
| ``shapes3d_file`` | ``3dshapes/3dshapes.h5`` (DeepMind; needs h5py) or disentanglement_lib's npz |
| ``mpi3d_toy`` / ``mpi3d_realistic`` / ``mpi3d_real`` | ``mpi3d_<variant>/mpi3d_<variant>.npz`` |

Construction reads only the headers and labels and checks keys, shapes, dtypes and the factor
grid (npz members with ``allow_pickle=False``, and only the array members a loader needs: a file
never runs code); the images are streamed once, at first use, into the on-disk cache
(bit-packed for binary dSprites, uint8 memory maps otherwise), keyed by the file's path, size
and modification time.
Every problem with a file (missing, truncated, corrupt, wrong keys, shapes, dtypes or grid) is a
:class:`~disentangle_bench.util.errors.DataError` that names the file and what is wrong.
"""

from __future__ import annotations

import os
import struct
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from disentangle_bench.data.dsprites import DSPRITES_CITATION
from disentangle_bench.data.dsprites import FACTOR_NAMES as DSPRITES_FACTORS
from disentangle_bench.data.ground_truth import factor_bases
from disentangle_bench.data.storage import CacheEntry, entry_directory, load_or_build, stable_key
from disentangle_bench.data.stored import StoredData
from disentangle_bench.util.errors import DataError

DATA_ENV = "DISENTANGLEMENT_LIB_DATA"
DSPRITES_FILE = "dsprites/dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
SHAPES3D_FILES = (
    "3dshapes/3dshapes.h5",
    "3dshapes.h5",
    "3dshapes/look-at-object-room_floor-hueXwall-hueXobj-hueXobj-sizeXobj-shapeXview-azi.npz",
)
SHAPES3D_FACTORS = ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
MPI3D_FACTORS = (
    "object_color",
    "object_shape",
    "object_size",
    "camera_height",
    "background_color",
    "horizontal_axis",
    "vertical_axis",
)
MPI3D_SIZES = (6, 6, 2, 3, 3, 40, 40)
SHAPES3D_CITATION = """@misc{3dshapes18,
  title = {3D Shapes Dataset},
  author = {Burgess, Chris and Kim, Hyunjik},
  howpublished = {https://github.com/deepmind/3dshapes-dataset/},
  year = {2018}
}"""
MPI3D_CITATION = """@inproceedings{gondal2019transfer,
  title = {On the Transfer of Inductive Bias from Simulation to the Real World: a New
           Disentanglement Dataset},
  author = {Gondal, Muhammad Waleed and Wuthrich, Manuel and Miladinovic, Djordje and
            Locatello, Francesco and Breidt, Martin and Volchkov, Valentin and Akpo, Joel and
            Bachem, Olivier and Sch{\\"o}lkopf, Bernhard and Bauer, Stefan},
  booktitle = {Advances in Neural Information Processing Systems},
  year = {2019}
}"""
CHUNK_ROWS = 8192
_READ_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    ValueError,
    OSError,
    KeyError,
    struct.error,
)


def resolve_data_file(
    path: str | os.PathLike | None, candidates: Sequence[str], dataset: str
) -> Path:
    """``path`` if given, else the first candidate under ``$DISENTANGLEMENT_LIB_DATA``."""
    if path:
        resolved = Path(path).expanduser()
        if not resolved.is_file():
            raise DataError(f"{dataset}: file not found: {resolved}")
        return resolved
    root = os.environ.get(DATA_ENV)
    if not root:
        raise DataError(
            f"{dataset} needs its data file: bind {dataset}.path = '/path/to/file' or set "
            f"{DATA_ENV} to the folder that holds {candidates[0]}"
        )
    for candidate in candidates:
        resolved = Path(root).expanduser() / candidate
        if resolved.is_file():
            return resolved
    raise DataError(
        f"{dataset}: none of {', '.join(candidates)} found under {DATA_ENV}={root}; "
        f"bind {dataset}.path to the file"
    )


# -- array sources: npz members and HDF5 datasets, read whole or in row chunks -------------------


class ArraySource:
    """Named arrays in one file; every read error becomes a DataError naming the file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, what: str, error: BaseException | None = None) -> DataError:
        detail = f" ({type(error).__name__}: {error})" if error is not None else ""
        return DataError(f"{self.path}: {what}{detail}")

    def keys(self) -> list[str]:
        raise NotImplementedError

    def header(self, key: str) -> tuple[tuple[int, ...], np.dtype]:
        raise NotImplementedError

    def read(self, key: str) -> np.ndarray:
        raise NotImplementedError

    def iter_rows(self, key: str, chunk_rows: int = CHUNK_ROWS) -> Iterator[np.ndarray]:
        raise NotImplementedError

    def require(self, keys: Sequence[str]) -> None:
        missing = [key for key in keys if key not in self.keys()]
        if missing:
            raise self.fail(
                f"missing key(s) {', '.join(missing)} (has {', '.join(self.keys()) or 'none'})"
            )


class NpzSource(ArraySource):
    """An ``.npz`` archive; members are parsed with numpy's ``.npy`` header readers."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        try:
            self.zip = zipfile.ZipFile(path)
            self._members = {
                name[: -len(".npy")]: name for name in self.zip.namelist() if name.endswith(".npy")
            }
        except _READ_ERRORS as error:
            raise self.fail("not a readable .npz file (truncated or corrupt?)", error) from None

    def keys(self) -> list[str]:
        return list(self._members)

    def _open(self, key: str) -> tuple[Any, tuple[int, ...], np.dtype, bool]:
        handle = self.zip.open(self._members[key])
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
        return handle, tuple(int(s) for s in shape), np.dtype(dtype), bool(fortran)

    def header(self, key: str) -> tuple[tuple[int, ...], np.dtype]:
        try:
            handle, shape, dtype, _ = self._open(key)
            handle.close()
        except _READ_ERRORS as error:
            raise self.fail(f"cannot read the header of {key!r}", error) from None
        return shape, dtype

    def read(self, key: str) -> np.ndarray:
        """The array member ``key``; object (pickled) members are refused, never unpickled."""
        try:
            with self.zip.open(self._members[key]) as handle:
                return np.lib.format.read_array(handle, allow_pickle=False)
        except ValueError as error:
            if "allow_pickle" in str(error):
                raise self.fail(f"{key!r} holds pickled objects, which are never loaded") from None
            raise self.fail(f"cannot read {key!r} (truncated or corrupt?)", error) from None
        except _READ_ERRORS as error:
            raise self.fail(f"cannot read {key!r} (truncated or corrupt?)", error) from None

    def iter_rows(self, key: str, chunk_rows: int = CHUNK_ROWS) -> Iterator[np.ndarray]:
        try:
            handle, shape, dtype, fortran = self._open(key)
        except _READ_ERRORS as error:
            raise self.fail(f"cannot read the header of {key!r}", error) from None
        if fortran and len(shape) > 1:
            raise self.fail(f"{key!r} is stored in Fortran order; save it in C order")
        row_bytes = int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize
        with handle:
            for start in range(0, shape[0], chunk_rows):
                rows = min(chunk_rows, shape[0] - start)
                try:
                    data = handle.read(rows * row_bytes)
                except _READ_ERRORS as error:
                    raise self.fail(f"{key!r} is corrupt at row {start}", error) from None
                if len(data) != rows * row_bytes:
                    raise self.fail(f"{key!r} is truncated: it ends before row {start + rows}")
                yield np.frombuffer(data, dtype=dtype).reshape(rows, *shape[1:])


class H5Source(ArraySource):
    """An HDF5 file (needs h5py: ``pip install 'disentangle-bench[h5]'``)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        try:
            import h5py
        except ImportError:
            raise DataError(
                f"{path}: reading HDF5 files needs h5py; pip install 'disentangle-bench[h5]'"
            ) from None
        try:
            self.file = h5py.File(path, "r")
            self._keys = list(self.file.keys())
        except _READ_ERRORS as error:
            raise self.fail("not a readable HDF5 file (truncated or corrupt?)", error) from None

    def keys(self) -> list[str]:
        return self._keys

    def header(self, key: str) -> tuple[tuple[int, ...], np.dtype]:
        dataset = self.file[key]
        return tuple(int(s) for s in dataset.shape), np.dtype(dataset.dtype)

    def read(self, key: str) -> np.ndarray:
        try:
            return np.asarray(self.file[key][()])
        except _READ_ERRORS as error:
            raise self.fail(f"cannot read {key!r} (truncated or corrupt?)", error) from None

    def iter_rows(self, key: str, chunk_rows: int = CHUNK_ROWS) -> Iterator[np.ndarray]:
        dataset = self.file[key]
        for start in range(0, dataset.shape[0], chunk_rows):
            try:
                yield np.asarray(dataset[start : start + chunk_rows])
            except _READ_ERRORS as error:
                raise self.fail(f"{key!r} is corrupt near row {start}", error) from None


def open_source(path: Path) -> ArraySource:
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return NpzSource(path)
    if suffix in (".h5", ".hdf5"):
        return H5Source(path)
    raise DataError(f"{path}: unknown file type {suffix!r}; expected .npz, .h5 or .hdf5")


# -- grid checks --------------------------------------------------------------------------------


def check_canonical_classes(
    source: ArraySource, key: str, classes: np.ndarray, sizes: Sequence[int]
) -> None:
    """``classes`` (N, F) must list the full grid in row-major order (last factor fastest)."""
    expected_rows = int(np.prod(sizes))
    if classes.shape != (expected_rows, len(sizes)):
        raise source.fail(
            f"{key!r} has shape {classes.shape}, expected ({expected_rows}, {len(sizes)}) for "
            f"factor sizes {tuple(sizes)}"
        )
    if np.any(classes < 0) or np.any(classes >= np.asarray(sizes)):
        raise source.fail(f"{key!r} holds class indices outside the factor sizes {tuple(sizes)}")
    index = classes.astype(np.int64) @ factor_bases(sizes)
    wrong = np.flatnonzero(index != np.arange(expected_rows))
    if wrong.size:
        raise source.fail(
            f"{key!r} is not the factor grid in row-major order (first wrong row {wrong[0]}: "
            f"{classes[wrong[0]].tolist()})"
        )


def _grid_of_classes(source: ArraySource, key: str, classes: np.ndarray) -> list[int]:
    """Factor sizes of integer class indices (N, F): one more than each column's maximum."""
    if classes.ndim != 2 or classes.shape[0] == 0 or not np.issubdtype(classes.dtype, np.integer):
        raise source.fail(
            f"{key!r} has shape {classes.shape} and dtype {classes.dtype}; expected (N, F) "
            "integer class indices"
        )
    if np.any(classes < 0):
        raise source.fail(f"{key!r} holds negative class indices")
    return [int(s) + 1 for s in classes.max(axis=0)]


def grid_from_labels(
    source: ArraySource, key: str, labels: np.ndarray
) -> tuple[tuple[np.ndarray, ...], tuple[int, ...]]:
    """Factor values and sizes of float labels (N, F) that list a full grid in row-major order."""
    values = tuple(np.unique(labels[:, i]) for i in range(labels.shape[1]))
    sizes = tuple(len(v) for v in values)
    if int(np.prod(sizes)) != labels.shape[0]:
        raise source.fail(
            f"{key!r} has {labels.shape[0]} rows but its distinct values per factor "
            f"{sizes} make a grid of {int(np.prod(sizes))} (truncated, or not a full grid)"
        )
    classes = np.stack(
        [np.searchsorted(values[i], labels[:, i]) for i in range(labels.shape[1])], axis=1
    )
    check_canonical_classes(source, key, classes, sizes)
    return values, sizes


def file_cache_key(name: str, path: Path) -> str:
    stat = path.stat()
    return stable_key(name, str(path.resolve()), stat.st_size, stat.st_mtime_ns, 1)


class FileData(StoredData):
    """A dataset read from a file and converted once into the cache."""

    path: Path

    def image_chunks(self) -> Iterator[np.ndarray]:
        """uint8 (n, H, W, C) chunks in canonical order (binary: values 0 and 1)."""
        raise NotImplementedError

    def load_entry(self) -> CacheEntry:
        return load_or_build(
            entry_directory("files", self.name, file_cache_key(self.name, self.path)),
            self.image_chunks,
            count=self.num_configurations,
            image_shape=self._shape,
            factors_num_values=self._sizes,
            packed=self.binary,
            meta={"name": self.name, "source": str(self.path.resolve())},
            label=f"convert {self.path.name}",
        )


class DSpritesFile(FileData):
    """DeepMind's dSprites npz (``imgs``, ``latents_classes``, ``latents_values``).

    The factor grid is read from ``latents_classes`` (one more than each column's largest
    class; the rows must list that grid in row-major order, the colour column all 0 and then
    dropped), so files in this layout with another grid load too (e.g. an export of
    ``dsprites_small``). The ``metadata`` member, a pickled dict in DeepMind's file, is never
    read: unpickling a file runs code. ``imgs`` may be uint8 in {0, 1} (binary) or float32 in
    [0, 1] (quantised to 8 bits on loading).
    """

    name: ClassVar[str] = "dsprites_full"
    categorical_factors: tuple[str, ...] = ("shape",)
    cyclic_factors: tuple[str, ...] = ("orientation",)
    license: ClassVar[str] = "apache-2.0"
    citation: ClassVar[str] = DSPRITES_CITATION
    description: ClassVar[str] = "DeepMind's dSprites file (dsprites-dataset), as distributed."

    def __init__(self, path: str | None = None) -> None:
        self.path = resolve_data_file(path, (DSPRITES_FILE,), self.name)
        source = NpzSource(self.path)
        source.require(("imgs", "latents_classes", "latents_values"))
        classes = source.read("latents_classes")
        latents_sizes = _grid_of_classes(source, "latents_classes", classes)
        if len(latents_sizes) != 6 or latents_sizes[0] != 1:
            raise source.fail(
                f"'latents_classes' has a grid of sizes {latents_sizes}, not [1 (colour), shape, "
                "scale, orientation, x, y]"
            )
        sizes = tuple(latents_sizes[1:])
        count = int(np.prod(sizes))
        shape, dtype = source.header("imgs")
        if shape != (count, 64, 64):
            raise source.fail(f"'imgs' has shape {shape}, expected ({count}, 64, 64)")
        if dtype not in (np.dtype(np.uint8), np.dtype(np.float32)):
            raise source.fail(f"'imgs' has dtype {dtype}, expected uint8 or float32")
        check_canonical_classes(source, "latents_classes", classes, latents_sizes)
        values = np.asarray(source.read("latents_values"), dtype=np.float64)
        if values.shape != classes.shape:
            raise source.fail(f"'latents_values' has shape {values.shape}, not {classes.shape}")
        grid = []
        for i in range(1, 6):
            column = np.zeros(latents_sizes[i])
            column[classes[:, i]] = values[:, i]
            if not np.array_equal(column[classes[:, i]], values[:, i]):
                raise source.fail(f"'latents_values' column {i} is not a function of its class")
            grid.append(column)
        self._source = source
        self._names = DSPRITES_FACTORS
        self._sizes = sizes
        self._values = tuple(grid)
        self._shape = (64, 64, 1)
        self._float = dtype == np.dtype(np.float32)
        self.binary = not self._float

    def image_chunks(self) -> Iterator[np.ndarray]:
        for chunk in self._source.iter_rows("imgs"):
            if self._float:
                if not (np.all(chunk >= 0.0) and np.all(chunk <= 1.0)):
                    raise self._source.fail("'imgs' holds values outside [0, 1]")
                yield np.round(chunk * 255.0).astype(np.uint8)[..., None]
            else:
                if chunk.max(initial=0) > 1:
                    raise self._source.fail("'imgs' holds values other than 0 and 1")
                yield chunk[..., None]


class Shapes3DFile(FileData):
    """DeepMind's ``3dshapes.h5`` (or disentanglement_lib's npz): ``images`` (N, 64, 64, 3)
    uint8 and ``labels`` (N, 6) float64 in 3dshapes' factor order; the grid is read from the
    labels (distinct values per column) and must be complete and in row-major order."""

    name: ClassVar[str] = "shapes3d_file"
    categorical_factors: tuple[str, ...] = ("shape",)
    license: ClassVar[str] = "apache-2.0"
    citation: ClassVar[str] = SHAPES3D_CITATION
    description: ClassVar[str] = "DeepMind's 3dshapes file (3dshapes-dataset), as distributed."

    def __init__(self, path: str | None = None) -> None:
        self.path = resolve_data_file(path, SHAPES3D_FILES, self.name)
        source = open_source(self.path)
        source.require(("images", "labels"))
        labels = np.asarray(source.read("labels"), dtype=np.float64)
        if labels.ndim != 2 or labels.shape[1] != 6:
            raise source.fail(f"'labels' has shape {labels.shape}, expected (N, 6)")
        values, sizes = grid_from_labels(source, "labels", labels)
        shape, dtype = source.header("images")
        if shape != (labels.shape[0], 64, 64, 3):
            raise source.fail(
                f"'images' has shape {shape}, expected ({labels.shape[0]}, 64, 64, 3)"
            )
        if dtype != np.dtype(np.uint8):
            raise source.fail(f"'images' has dtype {dtype}, expected uint8")
        self._source = source
        self._names = SHAPES3D_FACTORS
        self._sizes = sizes
        self._values = values
        self._shape = (64, 64, 3)
        self.binary = False

    def image_chunks(self) -> Iterator[np.ndarray]:
        yield from self._source.iter_rows("images")


class MPI3DFile(FileData):
    """An MPI3D npz (``images`` (1036800, 64, 64, 3) uint8) in disentanglement_lib's factor
    order; factor values are the indices, as in disentanglement_lib."""

    variant: ClassVar[str] = "toy"
    factor_sizes: ClassVar[tuple[int, ...]] = MPI3D_SIZES
    categorical_factors: tuple[str, ...] = ("object_color", "object_shape", "background_color")
    license: ClassVar[str] = "cc-by-4.0"
    citation: ClassVar[str] = MPI3D_CITATION

    def __init__(self, path: str | None = None) -> None:
        relative = f"mpi3d_{self.variant}/mpi3d_{self.variant}.npz"
        self.path = resolve_data_file(path, (relative, f"mpi3d_{self.variant}.npz"), self.name)
        source = NpzSource(self.path)
        source.require(("images",))
        count = int(np.prod(self.factor_sizes))
        shape, dtype = source.header("images")
        if shape != (count, 64, 64, 3):
            raise source.fail(
                f"'images' has shape {shape}, expected ({count}, 64, 64, 3) for factor sizes "
                f"{self.factor_sizes}"
            )
        if dtype != np.dtype(np.uint8):
            raise source.fail(f"'images' has dtype {dtype}, expected uint8")
        self._source = source
        self._names = MPI3D_FACTORS
        self._sizes = tuple(self.factor_sizes)
        self._values = tuple(np.arange(s, dtype=np.float64) for s in self.factor_sizes)
        self._shape = (64, 64, 3)
        self.binary = False

    def image_chunks(self) -> Iterator[np.ndarray]:
        yield from self._source.iter_rows("images")


class MPI3DToy(MPI3DFile):
    """MPI3D-toy (Gondal et al. 2019): simple rendered images."""

    name: ClassVar[str] = "mpi3d_toy"
    variant: ClassVar[str] = "toy"
    description: ClassVar[str] = "MPI3D-toy (Gondal et al. 2019), as distributed."


class MPI3DRealistic(MPI3DFile):
    """MPI3D-realistic (Gondal et al. 2019): realistic renderings."""

    name: ClassVar[str] = "mpi3d_realistic"
    variant: ClassVar[str] = "realistic"
    description: ClassVar[str] = "MPI3D-realistic (Gondal et al. 2019), as distributed."


class MPI3DReal(MPI3DFile):
    """MPI3D-real (Gondal et al. 2019): photographs of the real robot platform."""

    name: ClassVar[str] = "mpi3d_real"
    variant: ClassVar[str] = "real"
    description: ClassVar[str] = "MPI3D-real (Gondal et al. 2019), as distributed."
