"""What every image carries besides its packages: its target's lock and the runtime.

    /opt/envbuild/envbuild.lock     the target's table of the lock (no lock hash: another
                                    target or a dataset must not change this image)
    /opt/envbuild/runtime/          the portable verifier and runner (standard library only,
                                    plus `pynvml` when it is installed where envbuild runs)

`ENVBUILD_LOCK` and `ENVBUILD_TARGET` name them, so inside the image
`python3 /opt/envbuild/runtime verify --lock "$ENVBUILD_LOCK"` checks the image against its
lock. The files sit outside site-packages, so they never shadow or satisfy a package.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from envbuild.lockfile.codec import target_table
from envbuild.lockfile.model import Lock, LockedTarget
from envbuild.lockfile.tomlemit import dumps

ROOT = "/opt/envbuild"
LOCK_PATH = f"{ROOT}/envbuild.lock"
RUNTIME_PATH = f"{ROOT}/runtime"
_HEADER = "# The lock of this image's target, written by `envbuild image`."


def lock_text(lock: Lock, target: LockedTarget) -> bytes:
    document: dict[str, Any] = {"version": lock.version,
                                "project": {"name": lock.name, "python": lock.python},
                                "targets": {target.name: target_table(target)}}
    # The target's table holds its base pin, so this one-target lock proves alone.
    return dumps(document, header=_HEADER, inline=frozenset({"artifact"})).encode()


def runtime_files() -> dict[str, bytes]:
    """Path in the image -> bytes, for the runtime bundle."""
    from envbuild.runtime.bundle import members

    return {f"{RUNTIME_PATH}/{name}": data for name, data in sorted(members().items())}


def payload_files(lock: Lock, target: LockedTarget) -> dict[str, bytes]:
    return {**runtime_files(), LOCK_PATH: lock_text(lock, target)}


def payload_inputs(files: dict[str, bytes]) -> list[list[str]]:
    """The layer-key inputs: each file's path and content hash."""
    return [[path, hashlib.sha256(data).hexdigest()] for path, data in sorted(files.items())]


def write_payload(root: Path, files: dict[str, bytes]) -> None:
    for path, data in sorted(files.items()):
        dest = root / path.lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
        dest.chmod(0o644)
