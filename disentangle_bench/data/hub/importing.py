"""Bring a Hugging Face dataset (an export directory or a Hub repo) into the cache.

Reads this project's schema and the community one (TFDS-style ``image`` + ``label_<factor>``
[+ ``value_<factor>``] columns, as the existing dSprites / Shapes3D datasets on the Hub publish),
checks it, decodes the images and stores them in canonical order in the cache
(``$DISENTANGLE_BENCH_CACHE/hub/<name>/``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from disentangle_bench.data.ground_truth import content_fingerprint, factor_bases
from disentangle_bench.data.hub.metadata import METADATA_FILE
from disentangle_bench.data.hub.publish import REPO_ID
from disentangle_bench.data.storage import (
    META_FILE,
    CacheEntry,
    build_entry,
    cache_root,
    find_entry,
)
from disentangle_bench.util.errors import DataError
from disentangle_bench.util.images import ImageDecodeError, decode_image
from disentangle_bench.util.progress import Progress

IMAGE_SIZE = 64
#: Factor orders of datasets already on the Hub (TFDS names), used when no metadata says.
KNOWN_FACTOR_ORDERS = (
    ("shape", "scale", "orientation", "x_position", "y_position"),
    ("shape", "scale", "orientation", "position_x", "position_y"),
    ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation"),
)
SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def hub_directory(slug: str) -> Path:
    return cache_root() / "hub" / slug


def repo_slug(repo_id: str) -> str:
    return repo_id.replace("/", "--")


def local_slug(path: Path) -> str:
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:8]
    return f"local--{path.resolve().name}-{digest}"


def _read_metadata(directory: Path) -> dict[str, Any] | None:
    path = directory / METADATA_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise DataError(f"{path}: unreadable ({error})") from None


def _factor_order(label_columns: list[str], metadata: dict[str, Any] | None, source: str):
    if metadata is not None:
        names = list(metadata["factor_names"])
        missing = [f"label_{n}" for n in names if f"label_{n}" not in label_columns]
        if missing:
            raise DataError(f"{source}: missing label column {', '.join(missing)}")
        return names
    present = [c[len("label_") :] for c in label_columns]
    for order in KNOWN_FACTOR_ORDERS:
        if set(order) <= set(present):
            return list(order) + [n for n in present if n not in order]
    return present


def _decode(dataset: Any, feature: Any, source: str, start: int, stop: int) -> np.ndarray:
    """uint8 (n, H, W, C) images of rows ``start:stop`` of the image column."""
    import datasets

    if isinstance(feature, datasets.Image):
        values = dataset.with_format("arrow")[start:stop]["image"]
        images = []
        for offset, item in enumerate(values.to_pylist()):
            row = start + offset
            if item is None or (item.get("bytes") is None and not item.get("path")):
                raise DataError(f"{source}: column 'image': row {row} has no image")
            data = item.get("bytes")
            if data is None:
                data = Path(item["path"]).read_bytes()
            try:
                images.append(decode_image(data))
            except ImageDecodeError as error:
                raise DataError(f"{source}: column 'image': row {row}: {error}") from None
        shapes = {image.shape for image in images}
        if len(shapes) > 1:
            raise DataError(f"{source}: column 'image': images of different shapes {shapes}")
        return np.stack(images)
    if isinstance(feature, (datasets.Array2D, datasets.Array3D)):
        rows = dataset.with_format("numpy", dtype=np.uint8)[start:stop]["image"]
        array = np.asarray(rows)
        if array.dtype == object:
            raise DataError(f"{source}: column 'image': images of different shapes")
        return array if array.ndim == 4 else array[..., None]
    raise DataError(
        f"{source}: column 'image' has type {type(feature).__name__}; expected Image or Array3D"
    )


def import_directory(
    local: Path, target: Path, *, source: str, overwrite: bool = False
) -> CacheEntry:
    """Read a Hugging Face dataset directory, check its schema, store it in the cache."""
    import datasets

    if (target / META_FILE).exists() and not overwrite:
        entry = find_entry(target)
        if entry is not None:
            return entry
    metadata = _read_metadata(local)
    try:
        dataset = datasets.load_dataset(str(local), split="train")
    except Exception as error:
        raise DataError(
            f"{source}: not a loadable dataset ({type(error).__name__}: {error})"
        ) from None
    features = dataset.features
    if "image" not in features:
        raise DataError(f"{source}: no 'image' column (columns: {', '.join(features) or 'none'})")
    label_columns = [c for c in features if c.startswith("label_")]
    if not label_columns:
        raise DataError(f"{source}: no label_<factor> columns (columns: {', '.join(features)})")
    names = _factor_order(label_columns, metadata, source)
    labels = dataset.select_columns([f"label_{n}" for n in names]).with_format("numpy")[:]
    columns = []
    sizes = []
    for name in names:
        column = f"label_{name}"
        feature = features[column]
        values = np.asarray(labels[column])
        if values.dtype.kind not in "iu":
            raise DataError(f"{source}: column '{column}' is {values.dtype}, not integer labels")
        if isinstance(feature, datasets.ClassLabel):
            size = feature.num_classes
        else:
            size = int(values.max(initial=-1)) + 1
        if metadata is not None:
            size = int(metadata["factors_num_values"][names.index(name)])
        if len(values) and (values.min() < 0 or values.max() >= size):
            bad = int(np.flatnonzero((values < 0) | (values >= size))[0])
            raise DataError(
                f"{source}: column '{column}': label {int(values[bad])} at row {bad} is off "
                f"the grid (0..{size - 1})"
            )
        columns.append(values.astype(np.int64))
        sizes.append(size)
    recorded_sizes = list(sizes)
    if metadata is None:
        # A constant factor of a community dataset (such as dSprites' colour) carries no
        # information: drop it. Datasets with our metadata keep the factors they recorded.
        keep = [i for i, s in enumerate(sizes) if s > 1]
        names = [names[i] for i in keep]
        columns = [columns[i] for i in keep]
        sizes = [sizes[i] for i in keep]
    factors = np.stack(columns, axis=1) if columns else np.zeros((len(dataset), 0), np.int64)
    count = int(np.prod(sizes))
    index = factors @ factor_bases(sizes)
    counts = np.bincount(index, minlength=count)
    if len(dataset) != count or np.any(counts != 1):
        raise DataError(
            f"{source}: the label columns do not cover the factor grid {tuple(sizes)} exactly "
            f"once ({len(dataset)} rows for {count} configurations; "
            f"{int(np.sum(counts == 0))} missing, {int(np.sum(counts > 1))} repeated)"
        )
    grid = _value_grid(dataset, features, names, factors, sizes, metadata, source)
    return _store_images(
        dataset,
        features["image"],
        index,
        names,
        sizes,
        grid,
        metadata,
        target,
        source,
        local,
        recorded_sizes,
    )


def _value_grid(dataset, features, names, factors, sizes, metadata, source):
    grid = []
    for i, name in enumerate(names):
        column = f"value_{name}"
        if column not in features:
            grid.append(np.arange(sizes[i], dtype=np.float64))
            continue
        values = np.asarray(dataset.select_columns([column]).with_format("numpy")[:][column])
        values = values.astype(np.float64)
        per_class = np.full(sizes[i], np.nan)
        per_class[factors[:, i]] = values
        off = np.flatnonzero(~np.isclose(per_class[factors[:, i]], values, rtol=0, atol=1e-6))
        if off.size:
            row = int(off[0])
            raise DataError(
                f"{source}: column '{column}': value {values[row]:.6g} at row {row} is off the "
                f"grid (label {int(factors[row, i])} has value {per_class[factors[row, i]]:.6g} "
                "elsewhere)"
            )
        if metadata is not None:
            expected = np.asarray(metadata["factor_values"][name], dtype=np.float64)
            if expected.shape != per_class.shape or not np.allclose(
                expected, per_class, rtol=0, atol=1e-5
            ):
                raise DataError(
                    f"{source}: column '{column}': values are off the grid recorded in "
                    f"{METADATA_FILE}"
                )
            per_class = expected
        grid.append(per_class)
    return grid


def _store_images(
    dataset, feature, index, names, sizes, grid, metadata, target, source, local, recorded_sizes
):
    count = len(index)
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = target.parent / f".{target.name}.scratch-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    scratch.mkdir()
    try:
        images = None
        progress = Progress(count, f"import {source}", unit="images")
        only_binary_255 = True
        only_binary_1 = True
        for start in range(0, count, 4096):
            decoded = _decode(dataset, feature, source, start, min(start + 4096, count))
            if decoded.shape[1:3] != (IMAGE_SIZE, IMAGE_SIZE) or decoded.shape[3] not in (1, 3):
                raise DataError(
                    f"{source}: column 'image': row {start} has shape {decoded.shape[1:]}; "
                    f"expected ({IMAGE_SIZE}, {IMAGE_SIZE}, 1 or 3)"
                )
            if images is None:
                images = np.lib.format.open_memmap(
                    scratch / "images.npy",
                    mode="w+",
                    dtype=np.uint8,
                    shape=(count, *decoded.shape[1:]),
                )
            elif decoded.shape[1:] != images.shape[1:]:
                raise DataError(
                    f"{source}: column 'image': row {start} has shape {decoded.shape[1:]}, "
                    f"earlier rows {images.shape[1:]}"
                )
            images[index[start : start + len(decoded)]] = decoded
            only_binary_255 &= bool(np.all((decoded == 0) | (decoded == 255)))
            only_binary_1 &= bool(decoded.max(initial=0) <= 1)
            progress.update(start + len(decoded))
        assert images is not None
        received = content_fingerprint(images, recorded_sizes)
        if metadata is not None and metadata.get("fingerprint") not in (None, received):
            raise DataError(
                f"{source}: the images do not match the fingerprint in {METADATA_FILE} "
                "(corrupt or modified data files)"
            )
        binary = only_binary_1 or only_binary_255
        divisor = 255 if (only_binary_255 and not only_binary_1) else 1

        def chunks():
            for start in range(0, count, 8192):
                block = np.asarray(images[start : start + 8192])
                yield block // divisor if binary else block

        record = {
            "name": target.name,
            "source": source,
            "local_path": str(local),
            "binary": binary,
            "factor_names": names,
            "factor_values": [list(map(float, g)) for g in grid],
            "received_fingerprint": received,
            "export_metadata": metadata,
        }
        if target.exists():
            shutil.rmtree(target)
        entry = build_entry(
            target,
            chunks(),
            count=count,
            image_shape=images.shape[1:],
            factors_num_values=sizes,
            packed=binary,
            meta=record,
            label=f"store {target.name}",
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return entry


def download(
    source: str, *, name: str | None = None, overwrite: bool = False
) -> tuple[str, CacheEntry]:
    """Bring a dataset (a local directory or a Hub repo id) into the cache; returns its name."""
    local = Path(source).expanduser()
    if local.is_dir():
        slug = name or local_slug(local)
    else:
        if not REPO_ID.match(source):
            raise DataError(f"{source!r} is neither a directory nor a Hub repo id 'org/name'")
        slug = name or repo_slug(source)
        local = _snapshot(source)
    if not SLUG.fullmatch(slug):
        raise DataError(f"invalid dataset name {slug!r}: use letters, digits, '.', '_', '-'")
    entry = import_directory(local, hub_directory(slug), source=source, overwrite=overwrite)
    return slug, entry


def _snapshot(repo_id: str) -> Path:
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id=repo_id, repo_type="dataset"))
    except Exception as error:
        raise DataError(f"cannot download {repo_id}: {type(error).__name__}: {error}") from error


def downloaded() -> list[dict[str, Any]]:
    """Datasets in the cache's ``hub`` folder: name, source, sizes."""
    root = cache_root() / "hub"
    found = []
    if root.is_dir():
        for directory in sorted(root.iterdir()):
            meta_path = directory / META_FILE
            if directory.name.startswith(".") or not meta_path.is_file():
                continue
            try:
                meta = json.loads(meta_path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            found.append(
                {
                    "name": directory.name,
                    "source": meta.get("source"),
                    "factor_names": meta.get("factor_names"),
                    "factors_num_values": meta.get("factors_num_values"),
                }
            )
    return found
