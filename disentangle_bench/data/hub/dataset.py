"""The ``hf_dataset`` dataset plugin: a dataset brought in with ``bench datasets download``.

Configs use ``experiment.datasets = ['hf_dataset']`` with ``hf_dataset.path = '<name>'`` (or the
repo id, or an export directory, which is imported into the cache on first use).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import ClassVar

import numpy as np

from disentangle_bench.data.hub.importing import SLUG, download, hub_directory, repo_slug
from disentangle_bench.data.storage import META_FILE, CacheEntry, load_entry
from disentangle_bench.data.stored import StoredData
from disentangle_bench.util.errors import DataError


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
            if SLUG.fullmatch(slug):
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
