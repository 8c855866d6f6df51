"""`conda-meta/<name>-<version>-<build>.json`: what conda records of a linked package.

The record is the package's repodata record (its `info/index.json`, with the file name,
size, sha256 and md5 the lock holds, and the channel by its name) plus the files it
linked (`files`, `paths_data`), as conda writes it, so `conda list` and the verifier in the
image read the prefix. What would differ between two builds of the same lock is left out:
no URL (a mirror must not change the image), no package-cache folder, no link source, no
time. JSON with sorted keys and sorted paths.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from envbuild.lockfile.model import CondaPackage
from envbuild.safepath import check_component

META = "conda-meta"


@dataclass(frozen=True, kw_only=True, slots=True)
class Linked:
    """One path as it was linked into the prefix."""

    path: str  # relative to the prefix
    path_type: str  # "hardlink", "softlink", "directory", "unix_python_entry_point"
    sha256: str | None  # of the packaged file
    size: int | None  # of the file in the prefix
    placeholder: str | None = None
    file_mode: str | None = None
    sha256_in_prefix: str | None = None  # when the file differs from the packaged one

    def document(self) -> dict[str, Any]:
        row: dict[str, Any] = {"_path": self.path, "path_type": self.path_type,
                               "sha256": self.sha256, "size_in_bytes": self.size,
                               "prefix_placeholder": self.placeholder,
                               "file_mode": self.file_mode,
                               "sha256_in_prefix": self.sha256_in_prefix}
        return {k: v for k, v in row.items() if v is not None}


def meta_name(package: CondaPackage) -> str:
    """The record's file name; a lock value, so checked to be one plain name."""
    return check_component(f"{package.name}-{package.version}-{package.build}.json",
                           what="conda package name")


def meta_record(package: CondaPackage, index: dict[str, Any], linked: list[Linked]) -> bytes:
    rows = sorted(linked, key=lambda row: row.path)
    record = {**index,
              "fn": package.file, "size": package.size, "md5": package.md5,
              "sha256": package.hash.removeprefix("sha256:"), "channel": package.channel,
              "subdir": package.subdir, "requested_spec": "",
              "files": [row.path for row in rows],
              "paths_data": {"paths_version": 1, "paths": [row.document() for row in rows]}}
    return (json.dumps(record, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
