"""Differences between two locks: by content, field by field, never by recorded hashes.

Two locks whose recorded hashes agree can still differ (a hand edit that kept the old
hashes): the comparison walks both documents and reports every differing value, and says
first, for each side, whether its content matches its own hashes (`LockDiff.proof`).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envbuild.errors import InputError
from envbuild.lockfile import codec
from envbuild.lockfile.model import Lock, LockedTarget
from envbuild.lockfile.reader import Examined, examine


@dataclass(frozen=True, kw_only=True, slots=True)
class FieldChange:
    """One differing value: its dotted path and both sides (None: absent on that side)."""

    path: str
    old: Any
    new: Any

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "old": self.old, "new": self.new}


@dataclass(frozen=True, kw_only=True, slots=True)
class TargetDiff:
    name: str
    status: str  # "added" | "removed" | "changed" | "same"
    added: tuple[str, ...]  # "name version"
    removed: tuple[str, ...]
    changed: tuple[tuple[str, str, str], ...]  # (name, old version, new version)
    rehashed: tuple[str, ...]  # same version, different file or hash
    fields: tuple[FieldChange, ...] = ()  # every differing value of the target's table

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "added": list(self.added), "removed": list(self.removed),
                "changed": [{"name": n, "old": o, "new": w} for n, o, w in self.changed],
                "rehashed": list(self.rehashed), "fields": [f.as_dict() for f in self.fields]}


@dataclass(frozen=True, kw_only=True, slots=True)
class DatasetDiff:
    name: str
    status: str  # "added" | "removed" | "changed"
    old: str | None  # digest
    new: str | None
    fields: tuple[FieldChange, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "old": self.old, "new": self.new,
                "fields": [f.as_dict() for f in self.fields]}


@dataclass(frozen=True, kw_only=True, slots=True)
class LockDiff:
    old: Examined
    new: Examined
    targets: tuple[TargetDiff, ...]
    datasets: tuple[DatasetDiff, ...]
    lock_fields: tuple[FieldChange, ...]  # project, indexes, image, hashes

    @property
    def differs(self) -> bool:
        return bool(self.lock_fields or self.datasets or any(t.status != "same" for t in self.targets))

    @property
    def proof(self) -> dict[str, tuple[str, ...]]:
        """Side ("old", "new") -> why it does not prove (empty when it does)."""
        return {"old": self.old.failures, "new": self.new.failures}

    @property
    def proved(self) -> bool:
        return not any(self.proof.values())



def lock_from_git(path: Path, revision: str = "HEAD") -> Examined:
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
    return examine(text, source=f"{revision}:{path.name}")


def diff(old: Examined, new: Examined) -> LockDiff:
    """Every difference of content between two locks, and each side's proof."""
    a, b = old.lock, new.lock
    top_old = {k: v for k, v in codec.to_document(a).items() if k not in ("targets", "datasets")}
    top_new = {k: v for k, v in codec.to_document(b).items() if k not in ("targets", "datasets")}
    return LockDiff(old=old, new=new, targets=tuple(diff_locks(a, b)), datasets=tuple(diff_datasets(a, b)),
                    lock_fields=tuple(_walk(top_old, top_new, "")))


def diff_datasets(old: Lock, new: Lock) -> list[DatasetDiff]:
    out = []
    for name in sorted(set(old.datasets) | set(new.datasets)):
        before, after = old.datasets.get(name), new.datasets.get(name)
        if before == after:
            continue
        status = "added" if before is None else "removed" if after is None else "changed"
        out.append(DatasetDiff(name=name, status=status,
                               old=before.get("digest") if before else None,
                               new=after.get("digest") if after else None,
                               fields=tuple(_walk(before or {}, after or {}, ""))))
    return out


def diff_locks(old: Lock, new: Lock) -> list[TargetDiff]:
    return [_diff_target(name, old.targets.get(name), new.targets.get(name))
            for name in sorted(set(old.targets) | set(new.targets))]


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
    fields = tuple(_walk(_keyed(old), _keyed(new), "")) if old and new else ()
    status = "added" if old is None else "removed" if new is None else "changed" if fields else "same"
    return TargetDiff(name=name, status=status, added=added, removed=removed, changed=changed,
                      rehashed=rehashed, fields=fields)


def _keyed(target: LockedTarget | None) -> dict[str, Any]:
    """The target's table with packages keyed by name and hardware rows by row id, so a
    difference is named `packages.torch.artifact.size`, not by list position."""
    if target is None:
        return {}
    table = codec.target_table(target)
    table["packages"] = {p["name"]: p for p in table["packages"]}
    table["hardware"] = {str(r.get("row_id")): r for r in table["hardware"]}
    if "system" in table:
        table["system"] = {p["name"]: p for p in table["system"]}
    if "conda" in table:  # conda records by name too: `conda.cudnn.hash`
        table["conda"] = {r["name"]: r for r in table["conda"]}
    return table


def system_lines(fields: tuple[FieldChange, ...]) -> list[str]:
    """A target's system package changes, one line each: `+ name version` added, `- ...`
    removed, `~ name old -> new` another version, `* name: key old -> new` another value."""
    lines = []
    for change in fields:
        kind, _, rest = change.path.partition(".")
        name, _, leaf = rest.partition(".")
        if kind != "system" or not name:
            continue
        if change.old is None or change.new is None:
            sign, package = ("+", change.new) if change.old is None else ("-", change.old)
            lines.append(f"  {sign} system {name} {package.get('version') if isinstance(package, dict) else ''}")
        elif leaf == "version":
            lines.append(f"  ~ system {name} {change.old} -> {change.new}")
        else:
            lines.append(f"  * system {name}: {leaf} {change.old} -> {change.new}")
    return lines


def conda_lines(fields: tuple[FieldChange, ...]) -> list[str]:
    """A target's conda record changes, one line per package: `+ conda name version build`
    added, `- ...` removed, `~ conda name old -> new` another version or build, `# conda
    name: same version and build, new file or hash (keys)` re-hashed."""
    whole: list[str] = []
    leaves: dict[str, dict[str, FieldChange]] = {}
    for change in fields:
        kind, _, rest = change.path.partition(".")
        name, _, leaf = rest.partition(".")
        if kind != "conda" or not name:
            continue
        if not leaf:
            sign, record = ("+", change.new) if change.old is None else ("-", change.old)
            got = record if isinstance(record, dict) else {}
            whole.append(f"{sign} conda {name} {got.get('version')} {got.get('build')}")
        else:
            leaves.setdefault(name, {})[leaf] = change
    for name, changed in sorted(leaves.items()):
        if "version" in changed or "build" in changed:
            old = " ".join(str(changed[k].old) for k in ("version", "build") if k in changed)
            new = " ".join(str(changed[k].new) for k in ("version", "build") if k in changed)
            whole.append(f"~ conda {name} {old} -> {new}")
        else:
            whole.append(f"# conda {name}: same version and build, new file or hash ({', '.join(sorted(changed))})")
    return whole


def _walk(old: Any, new: Any, path: str) -> Iterator[FieldChange]:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            where = f"{path}.{key}" if path else key
            if key not in old:
                yield FieldChange(path=where, old=None, new=new[key])
            elif key not in new:
                yield FieldChange(path=where, old=old[key], new=None)
            else:
                yield from _walk(old[key], new[key], where)
    elif old != new:
        yield FieldChange(path=path, old=old, new=new)
