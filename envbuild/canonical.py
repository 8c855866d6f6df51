"""Canonical bytes and the hashes taken over them.

Every hash envbuild writes (manifest input hash, target hash, lock hash, image hash) is a
sha256 over `canonical_bytes` of a plain-data value: JSON with sorted keys, no whitespace,
UTF-8, no floats. Nothing about file layout, timestamps or tool versions enters it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

HASH_ALGORITHMS = ("sha256", "blake3")


def canonical_bytes(value: Any) -> bytes:
    """Serialise plain data (dict, list, str, int, bool, None) to canonical JSON bytes."""
    _reject_floats(value)
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def digest(value: Any) -> str:
    """The `sha256:<hex>` digest of a value's canonical bytes."""
    return "sha256:" + hashlib.sha256(canonical_bytes(value)).hexdigest()


def format_hash(algorithm: str, hexdigest: str) -> str:
    return f"{algorithm}:{hexdigest.lower()}"


def is_hash(text: str, *, algorithms: tuple[str, ...] = HASH_ALGORITHMS) -> bool:
    """Whether `text` is `<algorithm>:<64 lowercase hex>` for one of `algorithms`."""
    algorithm, sep, hexpart = text.partition(":")
    return (
        bool(sep)
        and algorithm in algorithms
        and len(hexpart) == 64
        and all(c in "0123456789abcdef" for c in hexpart)
    )


def _reject_floats(value: Any) -> None:
    # Floats have no single canonical text form across languages; hashed data never holds one.
    if isinstance(value, float):
        raise TypeError("floats are not allowed in canonical data")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"canonical dict keys must be str, got {type(key).__name__}")
            _reject_floats(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _reject_floats(item)
