"""Locks for tests, sealed with envbuild's own hash code (so every reader proves them)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from envbuild.lockfile import SCHEMA_VERSION, Lock, LockedTarget, dump
from envbuild.lockfile.hashes import seal, seal_target

H = "sha256:" + "ab" * 32


def sealed(lock: Lock) -> Lock:
    """`lock` with every target hash and the lock hash set from its content."""
    targets = {n: seal_target(t) for n, t in lock.targets.items()}
    return seal(dataclasses.replace(lock, targets=targets))


def make_lock(targets: Iterable[LockedTarget] = (), *, name: str = "demo", python: str = "3.11",
              datasets: Mapping[str, dict[str, Any]] | None = None,
              indexes: Mapping[str, dict[str, Any]] | None = None, **fields: Any) -> Lock:
    """A sealed lock of the current schema around `targets` and `datasets`."""
    return sealed(Lock(version=SCHEMA_VERSION, lock_hash=H, input_hash=H, name=name, python=python,
                       exclude_newer=fields.pop("exclude_newer", None),
                       indexes=dict(indexes or {"default": {"exclude-newer-exempt": False}}),
                       targets={t.name: t for t in targets}, datasets=dict(datasets or {}), **fields))


def write_lock(path: Path, lock: Lock) -> Path:
    path.write_text(dump(lock), encoding="utf-8")
    return path
