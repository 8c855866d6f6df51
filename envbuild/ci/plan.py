"""`envbuild ci plan`: which targets' images a change rebuilds, judged by image hash.

The image hash covers everything that goes into an image (target hash, base digest,
copied files, `[image]` settings, build epoch) and nothing else, so a change of a dataset
alone, or of another target, plans no rebuild. Both sides are computed the same way, from
their own tree: the base commit's tree is extracted to a scratch folder and its lock read
through the one lock reader; a base lock that does not prove is reported and not trusted
(every target of the working lock is then planned as changed).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from envbuild.ci.gitref import BaseRef, resolve_base, toplevel, tree_at
from envbuild.errors import EnvbuildError, InputError
from envbuild.lockdiff import LockDiff, TargetDiff, diff
from envbuild.lockfile.model import Lock
from envbuild.lockfile.reader import Examined
from envbuild.lockfile.reader import read as read_lock

STATUSES = ("added", "changed", "removed", "unchanged")


@dataclass(frozen=True, kw_only=True, slots=True)
class TargetPlan:
    name: str
    status: str  # one of STATUSES
    # "image": judged by image hash; "target": by target hash (see `note`); "none": by
    # target hash, and no image is built for the target's platform
    basis: str
    old: str | None  # the hash on the base side (None: no such target there)
    new: str | None
    note: str = ""  # why the basis is the target hash, or the base was not trusted

    @property
    def rebuild(self) -> bool:
        return self.status in ("added", "changed") and self.basis != "none"

    def document(self) -> dict[str, Any]:
        return {"status": self.status, "basis": self.basis, "old": self.old, "new": self.new,
                "note": self.note or None}


@dataclass(frozen=True, kw_only=True, slots=True)
class Plan:
    base: BaseRef
    base_lock_found: bool
    targets: tuple[TargetPlan, ...]
    diff: LockDiff

    @property
    def rebuilt(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.targets if t.rebuild)

    def target_diff(self, name: str) -> TargetDiff | None:
        return next((d for d in self.diff.targets if d.name == name), None)

    def document(self) -> dict[str, Any]:
        return {"base": {"ref": self.base.ref, "commit": self.base.commit,
                         "default_branch": None if self.base.how == "given" else self.base.how},
                "base_lock": "found" if self.base_lock_found else "absent",
                "base_proof": list(self.diff.old.failures),
                "new_proof": list(self.diff.new.failures),
                "rebuild": list(self.rebuilt),
                "targets": {t.name: {**t.document(),
                                     "diff": d.as_dict() if (d := self.target_diff(t.name)) and
                                     t.status != "unchanged" else None}
                            for t in self.targets}}


def make_plan(manifest_path: Path, lock_path: Path, base: str | None) -> Plan:
    """The plan of the working manifest and lock against the commit `base` names (default:
    the merge base with the default branch). Raises InputError for a bad ref."""
    from envbuild.image.build import build_epoch

    folder = manifest_path.resolve().parent
    ref = resolve_base(folder, base)
    top = toplevel(folder)
    try:
        manifest_rel = manifest_path.resolve().relative_to(top)
        lock_rel = lock_path.resolve().relative_to(top)
    except ValueError:
        raise InputError(f"{manifest_path} and {lock_path} must be inside the git repository {top}",
                         hint="run envbuild ci inside the repository whose history it compares") from None
    new = read_lock(lock_path)
    epoch = build_epoch()  # one epoch for both sides: only the inputs may differ
    new_hashes = _hashes(manifest_path, new.lock, epoch)
    with tree_at(folder, ref.commit) as tree:
        found = (tree / lock_rel).is_file()
        try:
            old = read_lock(tree / lock_rel) if found else empty_side(new)
        except EnvbuildError as error:  # a value the reader refuses: not trusted, as a bad hash
            old = refused_side(new, error, str(tree / lock_rel), f"{ref.commit[:12]}:{lock_rel}")
        old_manifest = tree / manifest_rel
        old_hashes = _hashes(old_manifest, old.lock, epoch) if found and old_manifest.is_file() else {}
        trusted = not old.failures
        plans = [_judge(name, old_hashes.get(name), new_hashes.get(name), trusted)
                 for name in sorted(set(old.lock.targets) | set(new.lock.targets))]
        lock_diff = diff(old, new)
        same_lock = [i for i, t in enumerate(plans) if t.status == "changed" and t.basis == "image"
                     and not t.note and _lock_same(lock_diff, t.name)]
        if same_lock:  # say why an image changes when its lock did not
            why = _other_inputs(manifest_path, old_manifest)
            for i in same_lock:
                plans[i] = replace(plans[i], note=why)
    return Plan(base=ref, base_lock_found=found, targets=tuple(plans), diff=lock_diff)


def _lock_same(lock_diff: LockDiff, name: str) -> bool:
    d = next((d for d in lock_diff.targets if d.name == name), None)
    return d is None or d.status == "same"


def _other_inputs(manifest_path: Path, old_manifest: Path) -> str:
    """Why an image hash changed with the same locked target: the copied files that differ
    (added, removed, edited or made executable), else the other inputs it covers."""
    new_files, old_files = _copied(manifest_path), _copied(old_manifest)
    changed = sorted(d for d in set(new_files) | set(old_files) if new_files.get(d) != old_files.get(d))
    if not changed:
        return "the lock is the same; the [image] settings, base or build inputs changed"
    shown = ", ".join(changed[:10]) + (f" and {len(changed) - 10} more" if len(changed) > 10 else "")
    return f"the lock is the same; copied files changed: {shown}"


def _copied(manifest_path: Path) -> dict[str, tuple[str, bool]]:
    """The `[image] copy` files beside a manifest: destination -> (sha256, executable)."""
    from envbuild.image.plan import project_files
    from envbuild.image.settings import load_image_settings

    try:
        copy = load_image_settings(manifest_path).copy if manifest_path.is_file() else ()
    except EnvbuildError:
        return {}
    return {f.dest: (f.sha256, f.executable) for f in project_files(manifest_path.parent, copy)}


def empty_side(new: Examined) -> Examined:
    """The base side when the base commit has no lock: no target, nothing to prove."""
    return Examined(lock=replace(new.lock, targets={}, datasets={}), failures=())


def refused_side(new: Examined, error: EnvbuildError, path: str, shown: str) -> Examined:
    """The base side when the reader refuses the base lock (a value it cannot hold): no
    target, and a failure, so nothing of it is trusted and every target is rebuilt. The
    scratch folder's `path` is named as `shown` (e.g. `main:envbuild.lock`)."""
    message = error.message.splitlines()[0].replace(path, shown)
    return Examined(lock=replace(new.lock, targets={}, datasets={}),
                    failures=(message if message.startswith(shown) else f"{shown}: {message}",))


def _hashes(manifest_path: Path, lock: Lock, epoch: int) -> dict[str, tuple[str, str, str]]:
    """Target -> (basis, hash, note): the planned image hash where the manifest names an
    image base for it and it can be computed offline, else the target hash and why."""
    from envbuild.image.build import planned_image_hashes
    from envbuild.manifest import load_manifest

    try:
        manifest = load_manifest(manifest_path)
    except EnvbuildError as error:
        manifest = None
        unreadable = f"manifest does not load ({error.message.splitlines()[0]})"
    with_base = {n for n in lock.targets if manifest is not None and n in manifest.targets
                 and manifest.base_for(manifest.targets[n]) is not None
                 and _imaged(lock.targets[n].platform)}
    planned = planned_image_hashes(manifest_path, lock, dict.fromkeys(sorted(with_base), epoch)) \
        if with_base else {}
    out: dict[str, tuple[str, str, str]] = {}
    for name, target in lock.targets.items():
        image = planned.get(name)
        if not _imaged(target.platform):
            out[name] = ("none", target.hash, f"no image: {target.platform} (images are built "
                         "for linux/amd64 and linux/arm64 only)")
        elif isinstance(image, str):
            out[name] = ("image", image, "")
        elif isinstance(image, EnvbuildError):
            out[name] = ("target", target.hash,
                         f"image hash not known offline: {image.message.splitlines()[0]}")
        elif manifest is None:
            out[name] = ("target", target.hash, unreadable)
        else:
            out[name] = ("target", target.hash, "no [image] base for this target")
    return out


def _imaged(platform: str) -> bool:
    from envbuild.image.config import architecture

    try:
        architecture(platform)
    except KeyError:
        return False
    return True


def _judge(name: str, old: tuple[str, str, str] | None, new: tuple[str, str, str] | None,
           trusted: bool) -> TargetPlan:
    if new is None:
        assert old is not None
        return TargetPlan(name=name, status="removed", basis=old[0], old=old[1], new=None, note=old[2])
    if old is None and trusted:
        return TargetPlan(name=name, status="added", basis=new[0], old=None, new=new[1], note=new[2])
    if old is None or not trusted:
        return TargetPlan(name=name, status="changed", basis=new[0], old=old[1] if old else None,
                          new=new[1], note="the base lock does not prove: its hashes are not trusted")
    if new[0] == "none":  # no image either way: the target hash says what changed
        status = "unchanged" if old[1] == new[1] else "changed"
        return TargetPlan(name=name, status=status, basis="none", old=old[1], new=new[1],
                          note=new[2])
    if old[0] != new[0]:
        # One side has an image hash, the other only a target hash: they cannot be
        # compared, so the image is rebuilt to be safe.
        return TargetPlan(name=name, status="changed", basis="target", old=old[1], new=new[1],
                          note=new[2] or old[2])
    status = "unchanged" if old[1] == new[1] else "changed"
    return TargetPlan(name=name, status=status, basis=new[0], old=old[1], new=new[1],
                      note=new[2] or old[2])

