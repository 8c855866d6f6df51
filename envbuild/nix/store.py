"""Where Nix keeps a fixed-output file, computed without Nix or the file's URL.

A flat sha256 fixed-output derivation's store path depends on its name and hash only
(Nix's `makeFixedOutputPath`), so `image --builder nix --offline` finds a wheel the store
already holds from the lock alone, without the URL that evaluating the export needs.
`tests/nix/test_store.py` checks it against `nix-store --print-fixed-path`.
"""

from __future__ import annotations

import hashlib
import os

_BASE32 = "0123456789abcdfghijklmnpqrsvwxyz"  # Nix's, without e o u t


def store_dir() -> str:
    return os.environ.get("NIX_STORE_DIR") or "/nix/store"


def fixed_output_path(name: str, sha256_hex: str, store: str | None = None) -> str:
    """The store path of a flat (not recursive) sha256 fixed-output file called `name`."""
    root = store or store_dir()
    inner = hashlib.sha256(f"fixed:out:sha256:{sha256_hex}:".encode()).hexdigest()
    outer = hashlib.sha256(f"output:out:sha256:{inner}:{root}:{name}".encode()).digest()
    folded = bytearray(20)
    for i, byte in enumerate(outer):
        folded[i % 20] ^= byte
    return f"{root}/{_base32(bytes(folded))}-{name}"


def _base32(data: bytes) -> str:
    length = (len(data) * 8 - 1) // 5 + 1
    chars = []
    for n in range(length - 1, -1, -1):
        bit = n * 5
        i, j = divmod(bit, 8)
        c = data[i] >> j
        if i + 1 < len(data):
            c |= data[i + 1] << (8 - j)
        chars.append(_BASE32[c & 0x1F])
    return "".join(chars)
