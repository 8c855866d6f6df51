"""Install one target's locked wheels from envbuild's cache with `uv pip sync`.

uv reads a requirements file of `name==version --hash=sha256:...` lines (every one hashed:
`--require-hashes`) from a find-links folder of links to the cached wheels, with no index
and no network. `uv pip sync` removes every distribution not listed. The one exception is
uv's: in a venv made with seed packages (`python -m venv`, `uv venv --seed`) it keeps pip,
setuptools and wheel, which the verifier allows; a venv that sync makes has none, so
there pip installed by hand is removed like any other unlocked distribution.

uv keeps a distribution that is installed at its locked version whatever file it came
from, so a sync leaves a record in the environment (`envbuild-sync.json`: per package, the
wheel it installed and the hash of the RECORD the install wrote). A package without a
matching record (a venv made by hand, a wheel rebuilt under the same version, a package
reinstalled since) is reinstalled from its locked wheel.

Neither uv nor that record notices a file changed or deleted after the install, so every
locked distribution installed at its version has its files checked against its RECORD
(as `verify --deep` does) and one that differs is reinstalled: "repaired". That costs a
read of every installed file, measured at 0.3 s for 30 distributions (170 MB, 10,000
files) in the page cache, and 1 s warm, 4 s cold for 86 (500 MB); at that rate a CUDA
framework's venv of several GB takes around ten seconds. A sync that fixes what it finds
is worth that, where `verify` keeps the file check behind --deep.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from envbuild.errors import ExternalError
from envbuild.fileio import write_atomic
from envbuild.lockfile.model import LockedPackage
from envbuild.runtime.environment import Installed, check_records, installed
from envbuild.safepath import inside
from envbuild.sync.interpreter import Interpreter, relayed, run_uv

RECORD_FILE = "envbuild-sync.json"
_RECORD_VERSION = 1


@dataclass(frozen=True, kw_only=True, slots=True)
class Repair:
    """A distribution reinstalled because its installed files differed from its RECORD."""

    package: str  # "name version"
    problems: tuple[str, ...]  # each file, as `verify --deep` words it

    def render(self) -> str:
        shown = "; ".join(self.problems[:3])
        more = f"; and {len(self.problems) - 3} more" if len(self.problems) > 3 else ""
        return f"{self.package} (repaired: {shown}{more})"


@dataclass(frozen=True, kw_only=True, slots=True)
class Changes:
    """What the sync changed, as `name version` strings, sorted."""

    added: tuple[str, ...]
    removed: tuple[str, ...]
    reinstalled: tuple[str, ...]  # not proved to be from their locked wheel (not repairs)
    repaired: tuple[Repair, ...] = ()


def install(interpreter: Interpreter, packages: Sequence[LockedPackage], wheels: Mapping[str, Path],
            scratch: Path) -> Changes:
    """Make the environment hold exactly `packages`, from the cached `wheels` (by hash)."""
    before = installed(interpreter.site)
    damaged = _damaged(packages, before)
    reinstall = sorted({*_unproved(interpreter, packages, before), *damaged})
    links = scratch / "wheels"
    links.mkdir()
    lines = []
    for package in sorted(packages, key=lambda p: p.name):
        # The lock's file name became a cache path through the store; here it is one
        # component inside the scratch folder, checked the same way.
        inside(links, package.artifact.file, what="wheel file name").symlink_to(
            wheels[package.artifact.hash])
        lines.append(f"{package.name}=={package.version} "
                     f"--hash=sha256:{package.artifact.hash.partition(':')[2]}\n")
    requirements = scratch / "requirements.txt"
    requirements.write_text("".join(lines), encoding="utf-8")
    done = run_uv(["pip", "sync", "--no-config", "--python", str(interpreter.python),
                   "--no-index", "--find-links", str(links), "--require-hashes", "--offline",
                   "--allow-empty-requirements",
                   *(a for name in reinstall for a in ("--reinstall-package", name)),
                   str(requirements)])
    if done.returncode != 0:
        raise ExternalError(f"uv could not install the locked wheels into {interpreter.prefix}:\n"
                            f"{relayed(done)}")
    after = installed(interpreter.site)
    _write_record(interpreter, packages, after)
    return _changes(before, after, reinstall, damaged)


def _unproved(interpreter: Interpreter, packages: Sequence[LockedPackage],
              present: Mapping[str, Installed]) -> list[str]:
    """Locked packages installed at their version but not proved to be from their wheel."""
    record = _read_record(interpreter.prefix / RECORD_FILE)
    out = []
    for package in packages:
        item = present.get(package.name)
        if item is None or item.version != package.version:
            continue  # uv installs it anyway
        if record.get(package.name) != _entry(package, item):
            out.append(package.name)
    return sorted(out)


def _damaged(packages: Sequence[LockedPackage],
             present: Mapping[str, Installed]) -> dict[str, tuple[str, ...]]:
    """Locked distributions installed at their version whose files differ from their RECORD
    (changed, deleted), by name, with each file that differs."""
    out = {}
    for package in packages:
        item = present.get(package.name)
        if item is None or item.version != package.version:
            continue  # uv installs it anyway
        mismatches, _ = check_records([item])  # no RECORD hashes: unproved, reinstalled anyway
        if mismatches:
            out[package.name] = tuple(m.detail for m in mismatches)
    return out


def _entry(package: LockedPackage, item: Installed) -> dict[str, str]:
    return {"wheel": package.artifact.hash, "record": _record_hash(item)}


def _record_hash(item: Installed) -> str:
    try:
        return "sha256:" + hashlib.sha256((item.meta / "RECORD").read_bytes()).hexdigest()
    except OSError:
        return "none"  # no RECORD (an egg-info, a damaged install): never matches a record


def _read_record(path: Path) -> dict[str, object]:
    """The last sync's record; anything unreadable counts as no record (all reinstalled)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != _RECORD_VERSION:
        return {}
    packages = data.get("packages")
    return packages if isinstance(packages, dict) else {}


def _write_record(interpreter: Interpreter, packages: Sequence[LockedPackage],
                  present: Mapping[str, Installed]) -> None:
    entries = {p.name: _entry(p, present[p.name]) for p in packages if p.name in present}
    text = json.dumps({"version": _RECORD_VERSION, "packages": entries}, indent=1, sort_keys=True)
    write_atomic(interpreter.prefix / RECORD_FILE, text.encode() + b"\n")


def _changes(before: Mapping[str, Installed], after: Mapping[str, Installed],
             reinstalled: Sequence[str], damaged: Mapping[str, tuple[str, ...]]) -> Changes:
    def shown(items: Mapping[str, Installed], names: set[str]) -> tuple[str, ...]:
        return tuple(sorted(f"{n} {items[n].version}" for n in names))

    kept = set(before) & set(after)
    changed = {n for n in kept if before[n].version != after[n].version}
    return Changes(
        added=shown(after, (set(after) - set(before)) | changed),
        removed=shown(before, (set(before) - set(after)) | changed),
        reinstalled=shown(after, (set(reinstalled) - set(damaged)) & set(after)),
        repaired=tuple(Repair(package=f"{n} {after[n].version}", problems=damaged[n])
                       for n in sorted(set(damaged) & set(after))))
