"""Small builders for dataset tests: trees, manifests-as-specs, hand-written locks."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from envbuild.data.lockstate import lock_datasets
from envbuild.data.manifest import DatasetSpec
from tests.support.locks import make_lock, write_lock


def make_tree(root: Path, files: Mapping[str, bytes]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return root


def lock(
    tmp: Path,
    specs: Mapping[str, DatasetSpec],
    previous: Mapping[str, Mapping[str, Any]] | None = None,
    messages: list[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Lock `specs` as `envbuild lock` does: tables under [datasets] of a sealed envbuild.lock."""
    sink = messages if messages is not None else []
    tables = lock_datasets(
        specs,
        manifest_dir=tmp,
        lock_path=tmp / "envbuild.lock",
        previous=previous,
        progress=sink.append,
    )
    write_lock(tmp / "envbuild.lock", make_lock(datasets=tables))
    return tables


def spec(name: str, source: str, **kwargs: Any) -> DatasetSpec:
    return DatasetSpec(name=name, source=source, **kwargs)


def hashed_count(messages: list[str]) -> int:
    """How many files the lock re-read, from its progress lines (0 when none)."""
    counts = [m for m in messages if ": hashing: " in m]
    return int(counts[-1].split(": hashing: ")[1].split("/")[1].split()[0]) if counts else 0
