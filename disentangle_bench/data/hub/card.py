"""The dataset card (``README.md``): YAML front matter that the Hub and ``datasets`` read, and
a description with the factor table, the loading code and the citations.

The front matter is a :class:`huggingface_hub.DatasetCardData` (license, name, tags, size,
the Parquet data files, this project's metadata); its ``dataset_info`` (features and splits) is
written by ``datasets``' own :meth:`~datasets.info.DatasetInfosDict.to_dataset_card_data`, as
``push_to_hub`` does.
"""

from __future__ import annotations

import json
from typing import Any

from disentangle_bench.data.hub.metadata import DATA_DIR

PERTURBATION_CITATION = """@inproceedings{zietlow2021demystifying,
  title = {Demystifying Inductive Biases for (Beta-)VAE Based Architectures},
  author = {Zietlow, Dominik and Rolinek, Michal and Martius, Georg},
  booktitle = {Proceedings of the 38th International Conference on Machine Learning},
  year = {2021}
}"""
TAGS = ["disentanglement", "representation-learning", "disentangle-bench"]


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


def card_data(metadata: dict[str, Any], features: Any) -> Any:
    """The card's front matter: a :class:`huggingface_hub.DatasetCardData`."""
    import datasets
    from datasets.info import DatasetInfosDict
    from huggingface_hub import DatasetCardData

    data = DatasetCardData(
        license=metadata["license"],
        pretty_name=metadata["dataset"],
        tags=list(TAGS),
        size_categories=[_size_category(metadata["num_rows"])],
        configs=[
            {
                "config_name": "default",
                "data_files": [{"split": "train", "path": f"{DATA_DIR}/train-*.parquet"}],
            }
        ],
        disentangle_bench={
            k: v for k, v in metadata.items() if k not in ("citation", "description")
        },
    )
    split = datasets.SplitInfo(
        name="train",
        num_bytes=int(metadata.get("num_bytes", 0)),
        num_examples=int(metadata["num_rows"]),
    )
    info = datasets.DatasetInfo(features=features, splits=datasets.SplitDict({"train": split}))
    DatasetInfosDict({"default": info}).to_dataset_card_data(data)
    return data


def dataset_card(metadata: dict[str, Any], features: Any, num_shards: int) -> str:
    """README.md: YAML front matter (what the Hub and ``datasets`` read) and a description."""
    from huggingface_hub import DatasetCard

    names = metadata["factor_names"]
    front = card_data(metadata, features)
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
    text = f"""
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
    return str(DatasetCard(f"---\n{front.to_yaml()}\n---\n{text}"))
