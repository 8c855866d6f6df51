"""Canonical bytes and the hashes taken over them.

Every hash envbuild writes (manifest input hash, target hash, lock hash, image hash) is a
sha256 over `canonical_bytes` of a plain-data value: JSON with sorted keys, no whitespace,
UTF-8, no floats. Nothing about file layout, timestamps or tool versions enters it.
"""

from __future__ import annotations

from envbuild.runtime.proof import canonical_bytes, digest

HASH_ALGORITHMS = ("sha256", "blake3")


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


__all__ = ["HASH_ALGORITHMS", "canonical_bytes", "digest", "format_hash", "is_hash"]
