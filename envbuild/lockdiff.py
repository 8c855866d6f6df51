"""Differences between two locks, per target."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envbuild.errors import InputError
from envbuild.lockfile import codec
from envbuild.lockfile.model import Lock, LockedTarget


@dataclass(frozen=True, kw_only=True, slots=True)
class TargetDiff:
    name: str
    status: str  # "added" | "removed" | "changed" | "same"
    added: tuple[str, ...]  # "name version"
    removed: tuple[str, ...]
    changed: tuple[tuple[str, str, str], ...]  # (name, old version, new version)
    rehashed: tuple[str, ...]  # same version, different file or hash

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "added": list(self.added), "removed": list(self.removed),
                "changed": [{"name": n, "old": o, "new": w} for n, o, w in self.changed],
                "rehashed": list(self.rehashed)}


def lock_from_git(path: Path, revision: str = "HEAD") -> Lock:
    """The lock at `path` as committed at `revision`."""
    folder = path.resolve().parent
    try:
        top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=folder, text=True,
                             capture_output=True, check=True).stdout.strip()
        relative = path.resolve().relative_to(top).as_posix()
        text = subprocess.run(["git", "show", f"{revision}:{relative}"], cwd=folder, text=True,
                              capture_output=True, check=True).stdout
    except (subprocess.CalledProcessError, OSError, ValueError):
        raise InputError(f"{path}: no committed version at {revision} to compare with",
                         hint="pass both locks: envbuild diff OLD NEW") from None
    return codec.loads(text, source=f"{revision}:{path.name}")


@dataclass(frozen=True, kw_only=True, slots=True)
class DatasetDiff:
    name: str
    status: str  # "added" | "removed" | "changed"
    old: str | None  # digest
    new: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "old": self.old, "new": self.new}


def diff_datasets(old: Lock, new: Lock) -> list[DatasetDiff]:
    out = []
    for name in sorted(set(old.datasets) | set(new.datasets)):
        before = old.datasets.get(name, {}).get("digest")
        after = new.datasets.get(name, {}).get("digest")
        if before != after:
            status = "added" if before is None else "removed" if after is None else "changed"
            out.append(DatasetDiff(name=name, status=status, old=before, new=after))
    return out


def diff_locks(old: Lock, new: Lock) -> list[TargetDiff]:
    out = []
    for name in sorted(set(old.targets) | set(new.targets)):
        out.append(_diff_target(name, old.targets.get(name), new.targets.get(name)))
    return out


def _diff_target(name: str, old: LockedTarget | None, new: LockedTarget | None) -> TargetDiff:
    before = {p.name: p for p in old.packages} if old else {}
    after = {p.name: p for p in new.packages} if new else {}
    added = tuple(f"{n} {after[n].version}" for n in sorted(set(after) - set(before)))
    removed = tuple(f"{n} {before[n].version}" for n in sorted(set(before) - set(after)))
    both = sorted(set(before) & set(after))
    changed = tuple((n, before[n].version, after[n].version) for n in both
                    if before[n].version != after[n].version)
    rehashed = tuple(n for n in both if before[n].version == after[n].version
                     and before[n].artifact != after[n].artifact)
    if old is None:
        status = "added"
    elif new is None:
        status = "removed"
    else:
        status = "same" if old.hash == new.hash else "changed"
    return TargetDiff(name=name, status=status, added=added, removed=removed, changed=changed,
                      rehashed=rehashed)
