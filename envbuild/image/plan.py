"""Which layers a target's image has, and the inputs each one's bytes depend on.

Large, slow-moving wheels (torch, nvidia-*, anything over the size threshold) get a layer
each, so it stays byte-identical across rebuilds and across projects with the same wheel;
the other packages share one layer; the project's own files come last.
"""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from envbuild.canonical import digest
from envbuild.image.install import InstallLayout
from envbuild.image.layers import layer_key
from envbuild.image.settings import ImageSettings
from envbuild.lockfile.model import LockedPackage, LockedTarget

_ALWAYS_ALONE = ("torch",)
_ALONE_PREFIXES = ("nvidia-",)
_SKIP_DIRS = {"__pycache__", ".git"}


@dataclass(frozen=True, kw_only=True, slots=True)
class PlannedLayer:
    name: str
    key: str
    packages: tuple[LockedPackage, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class ProjectFile:
    dest: str  # path under the workdir
    source: Path
    sha256: str
    executable: bool


def is_large(package: LockedPackage, threshold: int) -> bool:
    return (package.artifact.size >= threshold or package.name in _ALWAYS_ALONE
            or package.name.startswith(_ALONE_PREFIXES))


def plan_wheel_layers(target: LockedTarget, layout: InstallLayout, *, threshold: int,
                      epoch: int) -> list[PlannedLayer]:
    packages = sorted(target.packages, key=lambda p: p.name)
    large = [p for p in packages if is_large(p, threshold)]
    small = [p for p in packages if not is_large(p, threshold)]
    groups: list[tuple[str, tuple[LockedPackage, ...]]] = [
        (f"wheel {p.name} {p.version}", (p,)) for p in large]
    if small:
        groups.append((f"{len(small)} packages", tuple(small)))
    return [PlannedLayer(name=name, packages=group,
                         key=layer_key("wheels", {"layout": layout.document(), "wheels": [
                             [p.name, p.artifact.file, p.artifact.hash] for p in group]}, epoch))
            for name, group in groups]


def project_files(project_dir: Path, copy: tuple[str, ...]) -> list[ProjectFile]:
    """The files that `copy` names, sorted by destination, hashed."""
    found: dict[str, ProjectFile] = {}
    for item in copy:
        source = project_dir / item
        if source.is_dir():
            for folder, dirs, files in os.walk(source):
                dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS)
                for name in sorted(files):
                    if name.endswith(".pyc"):
                        continue
                    path = Path(folder) / name
                    _add(found, path.relative_to(project_dir).as_posix(), path)
        else:
            _add(found, Path(item).as_posix(), source)
    ignored = git_ignored(project_dir, sorted(found))
    return [found[k] for k in sorted(found) if k not in ignored]


def git_ignored(project_dir: Path, paths: list[str]) -> set[str]:
    """Those of `paths` (relative to `project_dir`) that git ignores there. A clean checkout,
    CI's, has none of them: copying them would make the image built here differ from the
    one built from the same commit (and could ship a local secret). Outside a git work tree,
    or when the project folder itself is ignored (a copy extracted under an ignored cache
    folder), nothing is ignored."""
    if not paths:
        return set()

    def check(*args: str, data: bytes = b"") -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(["git", "check-ignore", *args], cwd=project_dir, input=data,
                              capture_output=True, check=False)

    try:
        if check("-q", ".").returncode != 1:  # 0: the folder is ignored; 128: no work tree
            return set()
        done = check("--stdin", "-z", data=b"".join(p.encode() + b"\0" for p in paths))
    except OSError:  # no git at all: nothing can be ignored
        return set()
    return {p.decode() for p in done.stdout.split(b"\0") if p} if done.returncode == 0 else set()


def _add(found: dict[str, ProjectFile], dest: str, path: Path) -> None:
    st = path.stat()
    if not stat.S_ISREG(st.st_mode):
        return
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    found[dest] = ProjectFile(dest=dest, source=path, sha256=sha,
                              executable=bool(st.st_mode & 0o111))


def files_document(files: list[ProjectFile]) -> list[list[object]]:
    return [[f.dest, f.sha256, f.executable] for f in files]


def image_hash(target: LockedTarget, settings: ImageSettings, base_digest: str | None,
               files: list[ProjectFile], *, epoch: int, payload: str,
               layer_keys: list[str]) -> str:
    """Names the image (its tag): everything its bytes depend on.

    The target hash, the [image] settings, the base, the copied files' content, the build
    epoch, the payload (the runtime and lock the image carries) and every layer's cache key
    (which names the builder and install layout), so a builder that lays files out
    differently names another image. Another target's change or a dataset's never enters
    it (the lock hash is not used).
    """
    return digest({"target": target.hash, "settings": settings.document(),
                   "base": base_digest, "files": files_document(files), "epoch": epoch,
                   "payload": payload, "layers": layer_keys})
