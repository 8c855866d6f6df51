"""The three kinds of hash: manifest input hash, target hash, lock hash.

Each is a digest of canonical content (envbuild.canonical), never of file bytes: no
timestamp, tool version, index location or dictionary order can change it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from envbuild.canonical import digest
from envbuild.lockfile.model import SCHEMA_VERSION, LockedPackage


def target_hash(*, inputs: Mapping[str, Any], driver_floor: str | None,
                hardware: list[dict[str, Any]], packages: list[LockedPackage],
                base_digest: str | None = None) -> str:
    """What one target's environment is: its inputs, the facts consulted, the exact files,
    and the image base it is built on (when the manifest names one)."""
    extra = {"base-digest": base_digest} if base_digest else {}
    return digest({
        **extra,
        "inputs": dict(inputs),
        "driver-floor": driver_floor,
        "hardware": hardware,
        "packages": [
            {"name": p.name, "version": p.version, "index": p.index,
             "dependencies": list(p.dependencies), "kind": p.artifact.kind,
             "file": p.artifact.file, "size": p.artifact.size, "hash": p.artifact.hash}
            for p in packages
        ],
    })


def lock_hash(*, name: str, target_hashes: Mapping[str, str], dataset_digests: Mapping[str, str]) -> str:
    """The whole environment: every target's hash and every dataset's digest."""
    return digest({
        "schema": SCHEMA_VERSION,
        "name": name,
        "targets": dict(target_hashes),
        "datasets": dict(dataset_digests),
    })
