"""Export a dataset object as a Hugging Face dataset directory (Parquet shards and a card).

Layout (a directory that ``datasets.load_dataset(DIR)`` reads with nothing of this project
installed)::

    DIR/README.md                          dataset card: YAML front matter (license, features,
                                           configs, disentangle_bench metadata) + description
    DIR/data/train-00000-of-0000N.parquet  Parquet shards, rows in canonical factor order
    DIR/disentangle_bench.json             the same metadata as JSON

The directory is built as ``.DIR.tmp-<host>-<pid>-<hex>`` beside ``DIR`` and renamed when
complete; one left by a killed export (SIGKILL, SIGTERM) is removed by the next export into the
same folder (:func:`~disentangle_bench.data.storage.remove_stale_temporaries`).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from disentangle_bench.data.ground_truth import GroundTruthData, fingerprint_header
from disentangle_bench.data.hub.card import dataset_card
from disentangle_bench.data.hub.metadata import (
    CARD_FILE,
    DATA_DIR,
    METADATA_FILE,
    describe,
    uint8_chunks,
    value_grid_of,
)
from disentangle_bench.data.storage import remove_stale_temporaries, temporary_path
from disentangle_bench.util.errors import DataError
from disentangle_bench.util.images import encode_png
from disentangle_bench.util.progress import Progress

DEFAULT_MAX_SHARD_BYTES = 256 << 20


def features_for(metadata: dict[str, Any], image_format: str):
    import datasets

    names = metadata["factor_names"]
    shape = tuple(metadata["observation_shape"])
    if image_format == "png":
        image = datasets.Image()
    elif image_format == "array":
        image = datasets.Array3D(shape=shape, dtype="uint8")
    else:
        raise DataError(f"unknown image format {image_format!r}; use 'png' or 'array'")
    columns: dict[str, Any] = {"image": image}
    for factor, size in zip(names, metadata["factors_num_values"]):
        columns[f"label_{factor}"] = datasets.ClassLabel(names=[str(i) for i in range(int(size))])
    for factor in names:
        columns[f"value_{factor}"] = datasets.Value("float32")
    return datasets.Features(columns)


def _image_array(images: np.ndarray, image_format: str, features) -> Any:
    import pyarrow as pa

    if image_format == "png":
        encoded = [encode_png(image) for image in images]
        return pa.StructArray.from_arrays(
            [pa.array(encoded, type=pa.binary()), pa.nulls(len(encoded), type=pa.string())],
            names=["bytes", "path"],
        )
    from datasets.features.features import numpy_to_pyarrow_listarray

    storage = numpy_to_pyarrow_listarray(np.ascontiguousarray(images))
    return pa.ExtensionArray.from_storage(features["image"](), storage)


def export_dataset(
    data: GroundTruthData,
    out_dir: Path | str,
    *,
    name: str,
    parameters: dict[str, Any] | None = None,
    seed: int = 0,
    image_format: str = "array",
    overwrite: bool = False,
    max_shard_bytes: int = DEFAULT_MAX_SHARD_BYTES,
    chunk_size: int = 4096,
) -> dict[str, Any]:
    """Write ``data`` as a Hugging Face dataset directory; returns its metadata.

    The directory is built under a temporary name beside ``out_dir`` and renamed when complete;
    an existing ``out_dir`` is replaced only with ``overwrite``.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(out_dir)
    if out.exists() and not overwrite:
        raise DataError(f"{out} exists; choose another directory or pass --overwrite")
    metadata = describe(data, name, parameters=parameters, seed=seed)
    metadata["image_encoding"] = image_format
    features = features_for(metadata, image_format)
    schema = features.arrow_schema
    names = metadata["factor_names"]
    grid = value_grid_of(data)
    total = data.num_configurations
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(out.parent)  # left by a killed export
        temporary = temporary_path(out, "tmp")
        (temporary / DATA_DIR).mkdir(parents=True)
    except OSError as error:
        raise DataError(f"cannot write the export {out}: {error}") from None
    try:
        content = hashlib.sha256(
            fingerprint_header(data.factors_num_values, np.uint8, (total, *data.observation_shape))
        )
        progress = Progress(total, f"export {name}", unit="images")
        shards: list[Path] = []
        writer = None
        shard_bytes = 0
        done = 0
        for factors, images in uint8_chunks(data, seed=seed, chunk_size=chunk_size):
            content.update(np.ascontiguousarray(images).data)
            columns = {"image": _image_array(images, image_format, features)}
            for i, factor in enumerate(names):
                columns[f"label_{factor}"] = pa.array(factors[:, i], type=pa.int64())
            for i, factor in enumerate(names):
                columns[f"value_{factor}"] = pa.array(
                    grid[i][factors[:, i]].astype(np.float32), type=pa.float32()
                )
            table = pa.Table.from_pydict(columns, schema=schema)
            if writer is None or shard_bytes >= max_shard_bytes:
                if writer is not None:
                    writer.close()
                shards.append(temporary / DATA_DIR / f"shard-{len(shards):05d}.parquet")
                writer = pq.ParquetWriter(shards[-1], schema)
                shard_bytes = 0
            writer.write_table(table)
            shard_bytes += table.nbytes
            done += len(images)
            progress.update(done)
        if writer is not None:
            writer.close()
        for number, shard in enumerate(shards):
            shard.rename(shard.parent / f"train-{number:05d}-of-{len(shards):05d}.parquet")
        metadata["fingerprint"] = content.hexdigest()
        metadata["num_shards"] = len(shards)
        metadata["num_bytes"] = sum(p.stat().st_size for p in (temporary / DATA_DIR).iterdir())
        (temporary / METADATA_FILE).write_text(
            json.dumps(metadata, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
        (temporary / CARD_FILE).write_text(
            dataset_card(metadata, features, len(shards)), encoding="utf-8"
        )
        _replace_directory(temporary, out)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    return metadata


def _replace_directory(new: Path, target: Path) -> None:
    """Put ``new`` at ``target``; an existing ``target`` is removed only after the rename."""
    if target.exists():
        old = temporary_path(target, "tmp")  # removed below, or by the next export if killed
        target.rename(old)
        new.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        new.rename(target)
