"""Hugging Face datasets: export, publish, download, and the ``hf_dataset`` dataset.

Export layout (a directory that ``datasets.load_dataset(DIR)`` reads with nothing of this project
installed)::

    DIR/README.md                          dataset card: YAML front matter (license, features,
                                           configs, disentangle_bench metadata) + description
    DIR/data/train-00000-of-0000N.parquet  Parquet shards, rows in canonical factor order
    DIR/disentangle_bench.json             the same metadata as JSON

Columns: ``image`` (``Array3D`` uint8 (H, W, C) by default, readable with nothing but
``datasets``; or ``Image()``, PNG, with ``image_format='png'``, which the Hub's viewer shows and
reading needs Pillow),
``label_<factor>`` (``ClassLabel``: the factor index) and ``value_<factor>`` (float32: its
physical value), one pair per factor in factor order. Images are ``round(255 * observation)`` as
uint8 (8-bit; binary datasets give 0 and 255). Metadata records the dataset, its base and
parameters, any perturbation and its parameters, the seed (datasets whose observations draw from
the random state, such as ``noisy_dsprites``, are exported with ``np.random.RandomState(seed)``),
the source dataset's fingerprint and the content fingerprint of the exported uint8 images
(:func:`~disentangle_bench.data.ground_truth.content_fingerprint`), and the format version.

Download (``bench datasets download``) reads this schema and the community one (TFDS-style
``image`` + ``label_<factor>`` [+ ``value_<factor>``] columns, as the existing dSprites / Shapes3D
datasets on the Hub publish), checks it, and stores the images in canonical order in the cache
(``$DISENTANGLE_BENCH_CACHE/hub/<name>/``); configs then use ``experiment.datasets =
['hf_dataset']`` with ``hf_dataset.path = '<name>'`` (or the repo id, or an export directory).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from disentangle_bench.data.ground_truth import (
    GroundTruthData,
    factor_bases,
    fingerprint_header,
)
from disentangle_bench.data.storage import (
    META_FILE,
    CacheEntry,
    build_entry,
    cache_root,
    find_entry,
    load_entry,
)
from disentangle_bench.data.stored import StoredData
from disentangle_bench.util.errors import DataError
from disentangle_bench.util.progress import Progress

FORMAT_VERSION = 1
METADATA_FILE = "disentangle_bench.json"
CARD_FILE = "README.md"
DATA_DIR = "data"
IMAGE_SIZE = 64
DEFAULT_MAX_SHARD_BYTES = 256 << 20
REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
#: Factor orders of datasets already on the Hub (TFDS names), used when no metadata says.
KNOWN_FACTOR_ORDERS = (
    ("shape", "scale", "orientation", "x_position", "y_position"),
    ("shape", "scale", "orientation", "position_x", "position_y"),
    ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation"),
)
PERTURBATION_CITATION = """@inproceedings{zietlow2021demystifying,
  title = {Demystifying Inductive Biases for (Beta-)VAE Based Architectures},
  author = {Zietlow, Dominik and Rolinek, Michal and Martius, Georg},
  booktitle = {Proceedings of the 38th International Conference on Machine Learning},
  year = {2021}
}"""


# -- what a dataset object is -------------------------------------------------------------------


def unwrap(data: Any) -> tuple[Any, list[Any]]:
    """The innermost base dataset and the perturbations applied to it, innermost first."""
    perturbations = []
    while hasattr(data, "base") and hasattr(data, "perturbation"):
        perturbations.append(data.perturbation)
        data = data.base
    return data, perturbations[::-1]


def value_grid_of(data: GroundTruthData) -> tuple[np.ndarray, ...]:
    """Physical factor values: the base dataset's, through any perturbation wrappers."""
    base, _ = unwrap(data)
    grid = getattr(base, "value_grid", None)
    if grid is None or len(grid) != len(data.factors_num_values):
        return tuple(np.arange(s, dtype=np.float64) for s in data.factors_num_values)
    return tuple(np.asarray(v, dtype=np.float64) for v in grid)


def _perturbation_record(perturbation: Any) -> dict[str, Any]:
    parameters = perturbation.parameters() if hasattr(perturbation, "parameters") else {}
    doc = (type(perturbation).__doc__ or "").strip().split("\n\n")[0]
    return {
        "name": getattr(perturbation, "name", type(perturbation).__name__),
        "parameters": _json_safe(parameters),
        "description": " ".join(doc.split()),
    }


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def uint8_chunks(
    data: GroundTruthData, *, seed: int = 0, chunk_size: int = 4096
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(factors, uint8 images) in canonical order: ``round(255 * observation)``.

    Observations come from ``sample_observations_from_factors`` with one
    ``np.random.RandomState(seed)`` shared by all chunks, in order (so datasets that draw from
    the random state export reproducibly).
    """
    random_state = np.random.RandomState(seed)
    total = data.num_configurations
    for start in range(0, total, chunk_size):
        factors = data.factors_of(np.arange(start, min(start + chunk_size, total)))
        observations = np.asarray(data.sample_observations_from_factors(factors, random_state))
        if observations.shape[1:] != tuple(data.observation_shape):
            raise DataError(
                f"the dataset returned observations of shape {observations.shape[1:]}, not "
                f"{tuple(data.observation_shape)}"
            )
        if not np.all(np.isfinite(observations)) or observations.min(initial=0) < 0:
            raise DataError("the dataset returned observations outside [0, 1]")
        if observations.max(initial=0) > 1:
            raise DataError("the dataset returned observations outside [0, 1]")
        yield factors, np.round(observations * np.float32(255.0)).astype(np.uint8)


def describe(
    data: GroundTruthData,
    name: str,
    *,
    parameters: dict[str, Any] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Provenance metadata of a dataset object (everything but the export fingerprint)."""
    from disentangle_bench import __version__

    base, perturbations = unwrap(data)
    grid = value_grid_of(data)
    base_name = getattr(base, "name", name.split("+")[0])
    return {
        "format_version": FORMAT_VERSION,
        "created_by": f"disentangle-bench {__version__}",
        "dataset": name,
        "base_dataset": base_name,
        "base_parameters": _json_safe(parameters or {}),
        "base_fingerprint": base.fingerprint,
        "perturbation": _perturbation_record(perturbations[-1]) if perturbations else None,
        "perturbations": [_perturbation_record(p) for p in perturbations],
        "seed": int(seed),
        "stochastic": bool(getattr(base, "stochastic", False)),
        "source_fingerprint": data.fingerprint,
        "factor_names": list(data.factor_names),
        "categorical_factors": list(getattr(base, "categorical_factors", ())),
        "factors_num_values": [int(s) for s in data.factors_num_values],
        "factor_values": {n: [float(v) for v in g] for n, g in zip(data.factor_names, grid)},
        "observation_shape": [int(s) for s in data.observation_shape],
        "num_rows": int(data.num_configurations),
        "image_scale": 255,
        "row_order": "canonical: row-major over the factors in factor order, last fastest",
        "license": getattr(base, "license", "other"),
        "citation": getattr(base, "citation", ""),
        "description": getattr(base, "description", "") or (type(base).__doc__ or "").strip(),
    }


# -- export -------------------------------------------------------------------------------------


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
        from disentangle_bench.data.png import encode_png

        encoded = [encode_png(image) for image in images]
        return pa.StructArray.from_arrays(
            [pa.array(encoded, type=pa.binary()), pa.nulls(len(encoded), type=pa.string())],
            names=["bytes", "path"],
        )
    from datasets.features.features import numpy_to_pyarrow_listarray

    storage = numpy_to_pyarrow_listarray(np.ascontiguousarray(images))
    return pa.ExtensionArray.from_storage(features["image"](), storage)


def _size_category(n: int) -> str:
    for limit, label in (
        (1_000, "n<1K"),
        (10_000, "1K<n<10K"),
        (100_000, "10K<n<100K"),
        (1_000_000, "100K<n<1M"),
        (10_000_000, "1M<n<10M"),
    ):
        if n < limit:
            return label
    return "10M<n<100M"


def loading_snippet(source: str, factor_names: list[str]) -> str:
    """Python that loads an export as float32 images and int labels with only ``datasets``."""
    return f"""import numpy as np
from datasets import load_dataset

ds = load_dataset({json.dumps(str(source))}, split="train")
factors = {json.dumps(list(factor_names))}
images = ds.select_columns(["image"]).with_format("numpy", dtype=np.uint8)[:]["image"]
images = images.astype(np.float32) / 255.0  # (N, H, W, C) in [0, 1], rows in factor order
columns = ds.select_columns([f"label_{{f}}" for f in factors]).with_format("numpy")[:]
labels = np.stack([columns[f"label_{{f}}"] for f in factors], axis=1)  # (N, F) indices"""


def dataset_card(metadata: dict[str, Any], features, num_shards: int) -> str:
    """README.md: YAML front matter (what the Hub and ``datasets`` read) and a description."""
    import yaml

    names = metadata["factor_names"]
    front = {
        "license": metadata["license"],
        "pretty_name": metadata["dataset"],
        "tags": ["disentanglement", "representation-learning", "disentangle-bench"],
        "size_categories": [_size_category(metadata["num_rows"])],
        "configs": [
            {
                "config_name": "default",
                "data_files": [{"split": "train", "path": f"{DATA_DIR}/train-*.parquet"}],
            }
        ],
        "dataset_info": {
            "features": features._to_yaml_list(),
            "splits": [
                {
                    "name": "train",
                    "num_bytes": int(metadata.get("num_bytes", 0)),
                    "num_examples": metadata["num_rows"],
                }
            ],
        },
        "disentangle_bench": {
            k: v for k, v in metadata.items() if k not in ("citation", "description")
        },
    }
    header = yaml.safe_dump(front, sort_keys=False, allow_unicode=True, width=100)
    rows = [
        f"| `{n}` | {s} | {', '.join(f'{v:.4g}' for v in metadata['factor_values'][n][:8])}"
        f"{', ...' if s > 8 else ''} |"
        for n, s in zip(names, metadata["factors_num_values"])
    ]
    perturbation = metadata["perturbation"]
    if perturbation:
        params = ", ".join(f"{k}={v}" for k, v in perturbation["parameters"].items())
        perturbed = (
            f"This is the **perturbed** twin of `{metadata['base_dataset']}`: perturbation "
            f"`{perturbation['name']}` ({params}). {perturbation['description']} The factors "
            "(labels and values) are exactly those of the base dataset; only the images differ."
        )
    else:
        perturbed = "This is the original (unperturbed) dataset."
    citations = "\n\n".join(c for c in (metadata["citation"], PERTURBATION_CITATION) if c)
    shape = tuple(metadata["observation_shape"])
    stochastic = (
        f"\nObservations of this dataset draw from a random state; this export used "
        f"`np.random.RandomState({metadata['seed']})` over the rows in order.\n"
        if metadata["stochastic"]
        else ""
    )
    pillow = (
        ' (and Pillow for the PNG images: `pip install "datasets[vision]"`)'
        if metadata.get("image_encoding") == "png"
        else ""
    )
    snippet = loading_snippet("REPO_OR_DIR", names)
    return f"""---
{header}---

# {metadata["dataset"]}

{metadata["description"]}

{perturbed}
{stochastic}
{metadata["num_rows"]:,} images of {shape[0]}x{shape[1]} pixels ({shape[2]} channel(s)), one per
configuration of the factors below, in row-major order (last factor fastest), written by
{metadata["created_by"]} (format version {metadata["format_version"]}) in {num_shards} Parquet
shard(s). Pixel values are `round(255 * x)` for observations `x` in [0, 1].

| factor | values | physical values |
|---|---|---|
{chr(10).join(rows)}

Columns: `image`, then `label_<factor>` (class index) and `value_<factor>` (float32) per factor.
Content fingerprint (SHA-256 over the factor grid and all uint8 images in row order):
`{metadata["fingerprint"]}`.

## Loading

With nothing but `datasets`{pillow}:

```python
{snippet}
```

## Citation

```bibtex
{citations}
```
"""


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
    temporary = out.parent / f".{out.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    (temporary / DATA_DIR).mkdir(parents=True)
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
        old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
        target.rename(old)
        new.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        new.rename(target)


# -- publish ------------------------------------------------------------------------------------


def publish_directory(
    directory: Path | str,
    repo_id: str,
    *,
    private: bool = False,
    token: str | None = None,
    commit_message: str | None = None,
) -> Any:
    """Create the dataset repo (if needed) and upload an export directory with huggingface_hub."""
    directory = Path(directory)
    if not REPO_ID.match(repo_id):
        raise DataError(f"invalid repo id {repo_id!r}; expected 'organisation/name'")
    if not (directory / METADATA_FILE).is_file() or not (directory / CARD_FILE).is_file():
        raise DataError(f"{directory} is not a dataset export (no {METADATA_FILE} / {CARD_FILE})")
    try:
        from huggingface_hub import HfApi
    except ImportError:
        raise DataError(
            "publishing needs huggingface_hub; pip install 'disentangle-bench[hub]'"
        ) from None
    metadata = json.loads((directory / METADATA_FILE).read_text(encoding="utf-8"))
    api = HfApi(token=token)
    try:
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        return api.upload_folder(
            repo_id=repo_id,
            folder_path=str(directory),
            repo_type="dataset",
            commit_message=commit_message
            or f"Upload {metadata['dataset']} (fingerprint {metadata['fingerprint'][:12]})",
        )
    except Exception as error:  # network, authentication, permissions: one clear line
        raise DataError(
            f"publishing to {repo_id} failed: {type(error).__name__}: {error}"
        ) from error


# -- import / download --------------------------------------------------------------------------


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
        from disentangle_bench.data.png import PNGError, decode_png

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
                image = decode_png(data)
            except PNGError:
                image = _decode_with_pillow(data, source, row)
            images.append(image)
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


def _decode_with_pillow(data: bytes, source: str, row: int) -> np.ndarray:
    try:
        import io

        from PIL import Image
    except ImportError:
        raise DataError(
            f"{source}: column 'image': row {row} is not a PNG this decoder reads; install "
            "Pillow to read other image formats"
        ) from None
    try:
        with Image.open(io.BytesIO(data)) as opened:
            image = np.asarray(opened)
    except Exception as error:
        raise DataError(f"{source}: column 'image': row {row} is unreadable ({error})") from None
    if image.dtype == bool:
        image = image.astype(np.uint8) * 255
    return image[..., None] if image.ndim == 2 else image[..., :3]


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
        from disentangle_bench.data.ground_truth import content_fingerprint

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
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", slug):
        raise DataError(f"invalid dataset name {slug!r}: use letters, digits, '.', '_', '-'")
    entry = import_directory(local, hub_directory(slug), source=source, overwrite=overwrite)
    return slug, entry


def _snapshot(repo_id: str) -> Path:
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise DataError("downloading needs huggingface_hub; pip install huggingface_hub") from None
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


class HubDataset(StoredData):
    """A dataset downloaded with ``bench datasets download`` (or an export directory).

    Hyperparameter ``path``: the name printed by ``bench datasets download``, a Hub repo id
    already downloaded, or a local export directory (imported into the cache on first use).
    """

    name: ClassVar[str] = "hf_dataset"

    def __init__(self, path: str | None = None) -> None:
        if not path:
            raise DataError(
                "hf_dataset needs hf_dataset.path: a name from `bench datasets download`, a "
                "downloaded repo id, or an export directory"
            )
        self.path = str(path)
        directory = self._resolve(self.path)
        self._entry = load_entry(directory)
        meta = self._entry.meta
        self._names = tuple(meta["factor_names"])
        self._sizes = tuple(int(s) for s in meta["factors_num_values"])
        self._values = tuple(np.asarray(v, dtype=np.float64) for v in meta["factor_values"])
        self._shape = tuple(int(s) for s in meta["image_shape"])  # type: ignore[assignment]
        self.binary = bool(meta["binary"])
        export = meta.get("export_metadata") or {}
        self.license = export.get("license", "other")
        self.citation = export.get("citation", "")
        self.description = export.get("description", f"Downloaded from {meta.get('source')}.")
        known = set(self._names)
        self.categorical_factors = tuple(
            n for n in export.get("categorical_factors", ()) if n in known
        )

    @staticmethod
    def _resolve(path: str) -> Path:
        for slug in (path, repo_slug(path)):
            if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", slug):
                candidate = hub_directory(slug)
                if (candidate / META_FILE).is_file():
                    return candidate
        local = Path(path).expanduser()
        if local.is_dir():
            print(f"hf_dataset: importing {local} into the cache", file=sys.stderr, flush=True)
            slug, entry = download(str(local))
            return entry.directory
        raise DataError(
            f"hf_dataset: {path!r} is not a downloaded dataset; run `bench datasets download "
            f"{path}` first (or give an export directory)"
        )

    def load_entry(self) -> CacheEntry:
        assert self._entry is not None
        return self._entry
