"""Publish an export directory to the Hugging Face Hub with ``huggingface_hub``."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from disentangle_bench.data.hub.metadata import CARD_FILE, METADATA_FILE
from disentangle_bench.util.errors import DataError

REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")


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
    from huggingface_hub import HfApi

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
