"""Export any dataset in disentanglement_lib's file layouts, so its tools (and disent's) read it.

Layouts, written under ``DIR`` at disentanglement_lib's relative paths (so that
``DISENTANGLEMENT_LIB_DATA=DIR`` points its loaders at them):

- ``dsprites_npz``: ``DIR/dsprites/dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz`` with ``imgs``
  (N, 64, 64): uint8 in {0, 1} for binary data, otherwise float32 ``round(255 x) / 255``;
  ``latents_classes`` (N, 6) int64 and ``latents_values`` (N, 6) float64 with the constant
  colour factor first (class 0, value 1) as in DeepMind's file; ``metadata`` a pickled dict with
  ``latents_sizes`` ``[1, *sizes]``, ``latents_names`` and this project's provenance. Needs a
  1-channel dataset with 5 factors. Written compressed, streamed (the full grid never sits in
  memory).
- ``shapes3d_h5``: ``DIR/3dshapes/3dshapes.h5`` (DeepMind's layout; needs h5py) with ``images``
  (N, 64, 64, 3) uint8 ``round(255 x)`` and ``labels`` (N, F) float64 (the factor values).
- ``shapes3d_npz``: the same arrays in disentanglement_lib's
  ``DIR/3dshapes/look-at-object-room_floor-hueXwall-hueXobj-hueXobj-sizeXobj-shapeXview-azi.npz``.

The file names are disentanglement_lib's only for its full grids (dSprites' factor sizes
(3, 6, 40, 32, 32), 3dshapes' (10, 10, 10, 8, 4, 15)): its loaders take the factor sizes from
the file name they look for, not from the file, and would misread any other grid. Another grid
is written under a name that spells its own sizes, which disentanglement_lib never opens by
mistake (``dsprites/dsprites_ndarray_co1sh3sc3or4x8y8_64x64.npz`` for ``dsprites_small``,
``3dshapes/3dshapes_2x2x2x2x2x15.h5``); this project's loaders read it with ``path`` set.

``auto`` chooses ``shapes3d_h5``, disentanglement_lib's own file, for RGB data; without h5py the
export is refused (name ``--layout shapes3d_npz`` to write the npz instead), never silently
switched.

Rows are in canonical factor order. ``DIR/disentangle_bench.json`` records the provenance (as in
the Hugging Face export). Each file is written under a temporary name
(``.NAME.tmp-<host>-<pid>-<hex>``) and renamed when complete; one left by a killed export is
removed by the next export into the same folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from disentangle_bench.data.ground_truth import GroundTruthData, fingerprint_header
from disentangle_bench.data.hub import METADATA_FILE, describe, uint8_chunks, value_grid_of
from disentangle_bench.data.loaders import DSPRITES_FILE, SHAPES3D_FILES
from disentangle_bench.data.storage import remove_stale_temporaries, temporary_path
from disentangle_bench.util.errors import DataError
from disentangle_bench.util.progress import Progress

LAYOUTS = ("auto", "dsprites_npz", "shapes3d_h5", "shapes3d_npz")
DSPRITES_LATENT_NAMES = ("color", "shape", "scale", "orientation", "posX", "posY")
#: The grids disentanglement_lib's loaders assume for the files they open by name.
DSPRITES_FULL_SIZES = (3, 6, 40, 32, 32)
SHAPES3D_FULL_SIZES = (10, 10, 10, 8, 4, 15)


def choose_layout(data: GroundTruthData, layout: str) -> str:
    if layout not in LAYOUTS:
        raise DataError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    if layout != "auto":
        return layout
    if data.observation_shape[2] == 1:
        return "dsprites_npz"
    return "shapes3d_h5"


def _require_h5py() -> Any:
    """The h5py module; refuses the layout (one line) where it is not installed."""
    try:
        import h5py
    except ImportError:
        raise DataError(
            "the shapes3d_h5 layout (the default for RGB data: disentanglement_lib's "
            "3dshapes.h5) needs h5py: pip install 'disentangle-bench[h5]', or pass --layout "
            "shapes3d_npz for its npz file"
        ) from None
    return h5py


def target_file(data: GroundTruthData, layout: str) -> str:
    """The file a layout writes, relative to ``DIR``: disentanglement_lib's own name for its
    full grid, else a name that spells this grid's factor sizes."""
    sizes = tuple(int(s) for s in data.factors_num_values)
    if layout == "dsprites_npz":
        if sizes == DSPRITES_FULL_SIZES or len(sizes) != 5:
            return DSPRITES_FILE
        shape, scale, orientation, x, y = sizes
        return f"dsprites/dsprites_ndarray_co1sh{shape}sc{scale}or{orientation}x{x}y{y}_64x64.npz"
    full = sizes == SHAPES3D_FULL_SIZES
    grid = "x".join(str(s) for s in sizes)
    if layout == "shapes3d_h5":
        return SHAPES3D_FILES[0] if full else f"3dshapes/3dshapes_{grid}.h5"
    return SHAPES3D_FILES[2] if full else f"3dshapes/3dshapes_{grid}.npz"


def is_full_grid(data: GroundTruthData, layout: str) -> bool:
    """Whether the layout's file is the one disentanglement_lib opens (its full grid)."""
    return target_file(data, layout) in (DSPRITES_FILE, SHAPES3D_FILES[0], SHAPES3D_FILES[2])


def _temporary(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path.parent)  # left by a killed export
    return temporary_path(path, "tmp")


def _write_npy_header(handle: Any, shape: tuple[int, ...], dtype: np.dtype) -> None:
    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_2_0(handle, header)


def _zip_array(archive: zipfile.ZipFile, key: str, array: np.ndarray) -> None:
    with archive.open(f"{key}.npy", "w", force_zip64=True) as handle:
        np.lib.format.write_array(handle, array, allow_pickle=True)


def export_dlib(
    data: GroundTruthData,
    out_dir: Path | str,
    *,
    name: str,
    layout: str = "auto",
    parameters: dict[str, Any] | None = None,
    seed: int = 0,
    overwrite: bool = False,
    chunk_size: int = 8192,
) -> Path:
    """Write ``data`` in a disentanglement_lib layout under ``out_dir``; returns the file
    (:func:`target_file`: disentanglement_lib's name only for its full grid)."""
    layout = choose_layout(data, layout)
    if layout == "dsprites_npz":
        _check_dsprites(data)
    else:
        _check_rgb(data, layout)
        if layout == "shapes3d_h5":
            _require_h5py()
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise DataError(f"--to {out} is a file, not a directory")
    target = out / target_file(data, layout)
    if target.exists() and not overwrite:
        raise DataError(f"{target} exists; choose another directory or pass --overwrite")
    metadata = describe(data, name, parameters=parameters, seed=seed)
    metadata["layout"] = layout
    total = data.num_configurations
    shape = tuple(data.observation_shape)
    content = hashlib.sha256(fingerprint_header(data.factors_num_values, np.uint8, (total, *shape)))
    chunks = uint8_chunks(data, seed=seed, chunk_size=chunk_size)
    progress = Progress(total, f"export {name} ({layout})", unit="images")
    temporary = _temporary(target)
    try:
        if layout == "dsprites_npz":
            _write_dsprites(data, temporary, chunks, content, progress, metadata)
        elif layout == "shapes3d_h5":
            _write_shapes3d_h5(data, temporary, chunks, content, progress)
        else:
            _write_shapes3d_npz(data, temporary, chunks, content, progress)
        metadata["fingerprint"] = content.hexdigest()
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    record = _temporary(out / METADATA_FILE)
    try:
        record.write_text(json.dumps(metadata, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(record, out / METADATA_FILE)
    except BaseException:
        record.unlink(missing_ok=True)
        raise
    return target


def _labels(data: GroundTruthData) -> tuple[np.ndarray, np.ndarray]:
    factors = data.factors_of(np.arange(data.num_configurations))
    grid = value_grid_of(data)
    values = np.stack([grid[i][factors[:, i]] for i in range(data.num_factors)], axis=1)
    return factors, values


def _check_dsprites(data: GroundTruthData) -> None:
    if data.observation_shape[2] != 1 or data.num_factors != 5:
        raise DataError(
            "the dsprites_npz layout needs a 1-channel dataset with 5 factors (shape, scale, "
            f"orientation, x, y); this one has shape {tuple(data.observation_shape)} and "
            f"{data.num_factors} factors: use --layout shapes3d_h5 or shapes3d_npz"
        )


def _write_dsprites(data, path, chunks, content, progress, metadata) -> None:
    _check_dsprites(data)
    binary = bool(getattr(_base(data), "binary", False)) and not hasattr(data, "perturbation")
    factors, values = _labels(data)
    total = data.num_configurations
    sizes = [1, *data.factors_num_values]
    classes = np.concatenate([np.zeros((total, 1), np.int64), factors], axis=1)
    latent_values = np.concatenate([np.ones((total, 1)), values], axis=1)
    info = {
        "latents_sizes": np.array(sizes, dtype=np.int64),
        "latents_names": DSPRITES_LATENT_NAMES,
        "latents_possible_values": {
            n: np.unique(latent_values[:, i]) for i, n in enumerate(DSPRITES_LATENT_NAMES)
        },
        "description": f"{metadata['dataset']}, exported by {metadata['created_by']}",
        "disentangle_bench": json.dumps(metadata, sort_keys=True),
    }
    dtype = np.dtype(np.uint8 if binary else np.float32)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        with zf.open("imgs.npy", "w", force_zip64=True) as handle:
            _write_npy_header(handle, (total, 64, 64), dtype)
            done = 0
            for _, images in chunks:
                content.update(np.ascontiguousarray(images).data)
                if binary:
                    if images.max(initial=0) > 1 and not np.all((images == 0) | (images == 255)):
                        raise DataError("a binary dataset produced non-binary images")
                    rows = (images[..., 0] > 127).astype(np.uint8)
                else:
                    rows = images[..., 0].astype(np.float32) / np.float32(255.0)
                handle.write(np.ascontiguousarray(rows).tobytes())
                done += len(images)
                progress.update(done)
        _zip_array(zf, "latents_classes", classes)
        _zip_array(zf, "latents_values", latent_values)
        _zip_array(zf, "metadata", np.array(info, dtype=object))


def _base(data: GroundTruthData) -> Any:
    from disentangle_bench.data.hub import unwrap

    return unwrap(data)[0]


def _check_rgb(data: GroundTruthData, layout: str) -> None:
    if tuple(data.observation_shape) != (64, 64, 3):
        raise DataError(
            f"the {layout} layout needs 64x64 RGB images; this dataset has shape "
            f"{tuple(data.observation_shape)} (use --layout dsprites_npz for 1-channel data)"
        )


def _write_shapes3d_h5(data, path, chunks, content, progress) -> None:
    _check_rgb(data, "shapes3d_h5")
    h5py = _require_h5py()
    _, labels = _labels(data)
    total = data.num_configurations
    with h5py.File(path, "w") as handle:
        images = handle.create_dataset(
            "images",
            shape=(total, 64, 64, 3),
            dtype=np.uint8,
            chunks=(min(total, 256), 64, 64, 3),
            compression="gzip",
            compression_opts=4,
        )
        handle.create_dataset("labels", data=labels.astype(np.float64))
        done = 0
        for _, block in chunks:
            content.update(np.ascontiguousarray(block).data)
            images[done : done + len(block)] = block
            done += len(block)
            progress.update(done)


def _write_shapes3d_npz(data, path, chunks, content, progress) -> None:
    _check_rgb(data, "shapes3d_npz")
    _, labels = _labels(data)
    total = data.num_configurations
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        with zf.open("images.npy", "w", force_zip64=True) as handle:
            _write_npy_header(handle, (total, 64, 64, 3), np.dtype(np.uint8))
            done = 0
            for _, block in chunks:
                content.update(np.ascontiguousarray(block).data)
                handle.write(np.ascontiguousarray(block).tobytes())
                done += len(block)
                progress.update(done)
        _zip_array(zf, "labels", labels.astype(np.float64))
