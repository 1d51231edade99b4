"""Bring a Hugging Face dataset (an export directory or a Hub repo) into the cache.

Reads this project's schema and the community one (TFDS-style ``image`` + ``label_<factor>``
[+ ``value_<factor>``] columns, as the existing dSprites / Shapes3D datasets on the Hub publish),
checks it, decodes the images and stores them in canonical order in the cache
(``$DISENTANGLE_BENCH_CACHE/hub/<name>/``).

Integrity: an export of this project (``disentangle_bench.json``, or the ``disentangle_bench``
section of its card) must record a content fingerprint, the card's and the JSON's must agree,
and the fingerprint is recomputed from the Parquet files on disk: each import reads them afresh
into a private Arrow cache inside its scratch folder (never ``datasets``' shared cache, which
would keep serving a shard changed in place). The scratch folder
(``.<name>.scratch-<host>-<pid>-<hex>`` beside the entry) is removed at the end, and one left by
a killed import is removed by the next import into the same folder
(:func:`~disentangle_bench.data.storage.remove_stale_temporaries`). ``datasets``' progress bars
and log lines are kept off stderr; every failure is one line.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from disentangle_bench.data.ground_truth import content_fingerprint, factor_bases
from disentangle_bench.data.hub.metadata import CARD_FILE, METADATA_FILE
from disentangle_bench.data.hub.publish import REPO_ID
from disentangle_bench.data.storage import (
    META_FILE,
    CacheEntry,
    build_entry,
    cache_root,
    find_entry,
    remove_stale_temporaries,
    temporary_path,
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
FINGERPRINT = re.compile(r"[0-9a-f]{64}")
#: The card's section that holds this project's metadata (:func:`.card.card_data`).
CARD_SECTION = "disentangle_bench"


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
        metadata = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise DataError(f"{path}: unreadable ({_one_line(error)})") from None
    if not isinstance(metadata, dict):
        raise DataError(f"{path}: not a JSON object")
    return metadata


def read_card(directory: Path, source: str) -> dict[str, Any] | None:
    """The dataset card's YAML front matter (None without a card or front matter); malformed
    YAML is one line with its line number."""
    from huggingface_hub.repocard import metadata_load

    path = directory / CARD_FILE
    if not path.is_file():
        return None
    try:
        front = metadata_load(path)
    except Exception as error:  # yaml's errors, or a block that is not a mapping
        mark = getattr(error, "problem_mark", None)  # the block starts on the card's line 2
        where = f", line {mark.line + 2}" if mark is not None else ""
        problem = getattr(error, "problem", None) or _one_line(error)
        raise DataError(
            f"{source}: the dataset card has malformed YAML front matter ({CARD_FILE}{where}): "
            f"{problem}"
        ) from None
    return front or None


def export_metadata(directory: Path, source: str) -> dict[str, Any] | None:
    """This project's metadata of an export: ``disentangle_bench.json``, else the card's
    ``disentangle_bench`` section; None for a dataset made elsewhere (a community dataset).

    An export must record a content fingerprint, and the card's must equal the JSON's.
    """
    metadata = _read_metadata(directory)
    card = read_card(directory, source)
    section = (card or {}).get(CARD_SECTION)
    if section is not None and not isinstance(section, dict):
        raise DataError(f"{source}: the card's '{CARD_SECTION}' section is not a mapping")
    if metadata is None and section is None:
        return None
    chosen = metadata if metadata is not None else section
    where = METADATA_FILE if metadata is not None else f"the card's '{CARD_SECTION}' section"
    _check_metadata(chosen, f"{source}: {where}")
    if metadata is not None and section is not None:
        for key in ("fingerprint", "factor_names", "factors_num_values"):
            if key in section and section.get(key) != metadata.get(key):
                raise DataError(
                    f"{source}: the card ({CARD_FILE}) and {METADATA_FILE} disagree on "
                    f"'{key}'; one of them was changed after the export"
                )
    if metadata is not None and section is not None and "fingerprint" not in section:
        raise DataError(f"{source}: the card ({CARD_FILE}) records no content fingerprint")
    return chosen


def _check_metadata(metadata: dict[str, Any], where: str) -> None:
    fingerprint = metadata.get("fingerprint")
    if fingerprint is None:
        raise DataError(
            f"{where} records no 'fingerprint' (the content fingerprint of the images), so the "
            "images cannot be checked; re-export the dataset with `bench datasets export`"
        )
    if not isinstance(fingerprint, str) or not FINGERPRINT.fullmatch(fingerprint):
        raise DataError(f"{where}: 'fingerprint' {fingerprint!r} is not a SHA-256 hex digest")
    names = metadata.get("factor_names")
    sizes = metadata.get("factors_num_values")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise DataError(f"{where}: 'factor_names' must be a list of names")
    if (
        not isinstance(sizes, list)
        or len(sizes) != len(names)
        or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in sizes)
    ):
        raise DataError(f"{where}: 'factors_num_values' must be one positive integer per factor")
    values = metadata.get("factor_values")
    if values is not None and not isinstance(values, dict):
        raise DataError(f"{where}: 'factor_values' must map each factor to its values")


def _one_line(error: BaseException) -> str:
    parts = [part.strip() for part in str(error).splitlines() if part.strip()]
    text = " ".join(parts) if parts else type(error).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def _root_cause(error: BaseException) -> BaseException:
    """The innermost cause of ``error`` (``datasets`` wraps the useful message)."""
    seen = {id(error)}
    while True:
        cause = error.__cause__ or error.__context__
        if cause is None or id(cause) in seen:
            return error
        seen.add(id(cause))
        error = cause


@contextlib.contextmanager
def quiet_datasets() -> Iterator[None]:
    """``datasets`` without its progress bars and log lines (restored afterwards)."""
    import datasets
    from datasets.utils import logging as datasets_logging

    bars = datasets.is_progress_bar_enabled()
    verbosity = datasets_logging.get_verbosity()
    datasets.disable_progress_bars()
    datasets_logging.set_verbosity_error()
    try:
        yield
    finally:
        datasets_logging.set_verbosity(verbosity)
        if bars:
            datasets.enable_progress_bars()


def _check_columns(local: Path, card: dict[str, Any] | None, source: str) -> None:
    """Each Parquet shard's columns are the card's features (a renamed or dropped column is
    named here, before ``datasets`` fails on it)."""
    import pyarrow.parquet as pq

    info = (card or {}).get("dataset_info")
    infos = info if isinstance(info, list) else [info]
    listed = None
    for item in infos:
        features = item.get("features") if isinstance(item, dict) else None
        if isinstance(features, list):
            listed = [f.get("name") for f in features if isinstance(f, dict)]
            break
    if not listed:
        return
    for shard in sorted(local.rglob("*.parquet")):
        if any(part.startswith(".") for part in shard.relative_to(local).parts):
            continue
        try:
            columns = pq.read_schema(shard).names
        except Exception as error:
            raise DataError(
                f"{source}: {shard} is not a Parquet file ({_one_line(error)})"
            ) from None
        if columns != listed:
            missing = [c for c in listed if c not in columns]
            extra = [c for c in columns if c not in listed]
            detail = "; ".join(
                text
                for text in (
                    f"missing {', '.join(missing)}" if missing else "",
                    f"unexpected {', '.join(extra)}" if extra else "",
                )
                if text
            )
            raise DataError(
                f"{source}: {shard.relative_to(local)} does not have the columns that the "
                f"dataset card ({CARD_FILE}) lists ({detail or 'in another order'})"
            )


def _load(local: Path, source: str, cache: Path) -> Any:
    """The ``train`` split read afresh from the files into a private Arrow cache."""
    import datasets

    try:
        with quiet_datasets():
            return datasets.load_dataset(
                str(local), split="train", cache_dir=str(cache), download_mode="force_redownload"
            )
    except Exception as error:
        cause = _root_cause(error)
        raise DataError(
            f"{source}: not a loadable dataset ({type(cause).__name__}: {_one_line(cause)})"
        ) from None


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
    if (target / META_FILE).exists() and not overwrite:
        entry = find_entry(target)
        if entry is not None:
            return entry
    metadata = export_metadata(local, source)
    _check_columns(local, read_card(local, source), source)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(target.parent)  # scratch left by a killed import
        scratch = temporary_path(target, "scratch")
        scratch.mkdir()
    except OSError as error:
        raise DataError(f"cannot write the dataset cache at {target.parent}: {error}") from None
    try:
        dataset = _load(local, source, scratch / "arrow")
        return _import(dataset, metadata, local, target, scratch, source)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _import(
    dataset: Any, metadata: dict[str, Any] | None, local: Path, target: Path, scratch: Path, source
) -> CacheEntry:
    import datasets

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
        scratch,
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
        recorded = (metadata or {}).get("factor_values") or {}
        if name in recorded:
            expected = np.asarray(recorded[name], dtype=np.float64)
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
    dataset,
    feature,
    index,
    names,
    sizes,
    grid,
    metadata,
    target,
    source,
    local,
    recorded_sizes,
    scratch,
):
    """Decode the images into ``scratch``, check the fingerprint, store the entry."""
    count = len(index)
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
    if metadata is not None and metadata["fingerprint"] != received:
        raise DataError(
            f"{source}: the images in the Parquet files do not match the recorded content "
            f"fingerprint ({received[:12]} != {metadata['fingerprint'][:12]}): corrupt or "
            "modified data files"
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
