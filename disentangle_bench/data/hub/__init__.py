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

One module per job:

- :mod:`~.metadata`: what an export records (provenance, uint8 content, file names);
- :mod:`~.card`: the dataset card (``huggingface_hub.DatasetCard``);
- :mod:`~.export`: Parquet shards, metadata and card, written atomically;
- :mod:`~.publish`: the upload to the Hub;
- :mod:`~.importing`: schema checks, image decoding and storage in the cache (download);
- :mod:`~.dataset`: the ``hf_dataset`` plugin.
"""

from disentangle_bench.data.hub.card import dataset_card, loading_snippet
from disentangle_bench.data.hub.dataset import HubDataset
from disentangle_bench.data.hub.export import export_dataset, features_for
from disentangle_bench.data.hub.importing import (
    download,
    downloaded,
    hub_directory,
    import_directory,
    repo_slug,
)
from disentangle_bench.data.hub.metadata import (
    CARD_FILE,
    FORMAT_VERSION,
    METADATA_FILE,
    describe,
    uint8_chunks,
    unwrap,
    value_grid_of,
)
from disentangle_bench.data.hub.publish import publish_directory

__all__ = [
    "CARD_FILE",
    "FORMAT_VERSION",
    "METADATA_FILE",
    "HubDataset",
    "dataset_card",
    "describe",
    "download",
    "downloaded",
    "export_dataset",
    "features_for",
    "hub_directory",
    "import_directory",
    "loading_snippet",
    "publish_directory",
    "repo_slug",
    "uint8_chunks",
    "unwrap",
    "value_grid_of",
]
