"""The submission format: its JSON Schema, canonical serialisation and content hash.

A submission is one JSON object (format ``disentangle-bench-submission``, ``format_version`` 1)
described by ``submission.schema.json`` beside this module (JSON Schema draft 2020-12, shipped as
package data). Its ``content_hash`` is ``"sha256:" + sha256(canonical_json(submission without
content_hash))``, where the canonical JSON has sorted keys, separators ``,`` and ``:``, UTF-8 text
and no NaN or infinity (RFC 8785's ideas, with Python's shortest round-trip float repr).
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from importlib import resources
from typing import Any

from disentangle_bench.util.errors import BenchError

FORMAT = "disentangle-bench-submission"
FORMAT_VERSION = 1
SCHEMA_FILE = "submission.schema.json"
HASH_FIELD = "content_hash"

#: Limits on untrusted input (a submission file, its runs).
MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_RUNS = 5000
#: Largest integer anywhere in a submission (seeds, steps, counts).
MAX_INTEGER = 2**63 - 1
#: How many problems one error message lists before "and N more".
MAX_LISTED_PROBLEMS = 5


class SubmissionError(BenchError):
    """A submission that cannot be accepted (malformed, partial, duplicate, out of range)."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = list(problems)
        shown = "; ".join(problems[:MAX_LISTED_PROBLEMS])
        more = len(problems) - MAX_LISTED_PROBLEMS
        if more > 0:
            shown += f"; and {more} more problem{'s' if more > 1 else ''}"
        super().__init__(f"{source}: rejected: {shown}")


@lru_cache(maxsize=1)
def load_schema() -> dict[str, Any]:
    """The submission JSON Schema (package data)."""
    text = resources.files(__package__).joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    return json.loads(text)


def canonical_json(payload: Any) -> bytes:
    """The canonical UTF-8 serialisation hashed for ``content_hash`` (NaN is refused)."""
    return json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def sha256_hex(payload: Any) -> str:
    return hashlib.sha256(canonical_json(payload)).hexdigest()


def content_hash(submission: dict[str, Any]) -> str:
    """``sha256:<hex>`` over the canonical JSON of ``submission`` without its hash field."""
    body = {key: value for key, value in submission.items() if key != HASH_FIELD}
    return "sha256:" + sha256_hex(body)


def schema_problems(submission: Any) -> list[str]:
    """Every JSON Schema violation, as ``<json path>: <message>`` (stable order)."""
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(load_schema())
    problems = []
    for error in sorted(validator.iter_errors(submission), key=_error_order):
        where = "$" + "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}" for part in error.absolute_path
        )
        problems.append(f"{where}: {_message(error)}")
    return problems


def _message(error: Any) -> str:
    """jsonschema's message, without quoting a huge offending value."""
    limit = error.validator_value
    if error.validator == "maxItems":
        return f"has more than {limit} items (the limit)"
    if error.validator == "minItems":
        return f"needs at least {limit} item{'s' if limit != 1 else ''}"
    if error.validator in ("maxLength", "maxProperties"):
        return f"is too long (more than {limit})"
    if error.validator == "minProperties":
        return f"needs at least {limit} entr{'ies' if limit != 1 else 'y'}"
    return _short(error.message)


def _error_order(error: Any) -> tuple[str, str]:
    return (json.dumps(list(error.absolute_path)), error.message)


def _short(message: str, limit: int = 160) -> str:
    """jsonschema quotes the offending value; keep messages about huge values readable."""
    message = " ".join(message.split())
    return message if len(message) <= limit else message[: limit - 3] + "..."
