"""What the image cache holds, and pruning it."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envbuild.errors import InputError
from envbuild.image.store import Store
from envbuild.scrub import escape

_SECTIONS = ("wheels", "conda", "blobs", "layers", "tmp")


@dataclass(frozen=True, kw_only=True, slots=True)
class Usage:
    root: Path
    sections: tuple[tuple[str, int, int], ...]  # (name, files, bytes)

    @property
    def total(self) -> int:
        return sum(size for _, _, size in self.sections)

    def document(self) -> dict[str, Any]:
        return {"root": str(self.root), "total_bytes": self.total,
                "sections": {n: {"files": c, "bytes": b} for n, c, b in self.sections}}


def usage(store: Store) -> Usage:
    rows = []
    try:
        for name in _SECTIONS:
            files = [p for p in (store.root / name).rglob("*") if p.is_file()]
            rows.append((name, len(files), sum(p.stat().st_size for p in files)))
    except OSError as error:  # `--cache-dir` is the user's: a name too long, no permission
        raise InputError(f"{escape(str(store.root))}: cannot read the cache folder: "
                         f"{escape(error.strerror or str(error))}",
                         hint="check --cache-dir or ENVBUILD_CACHE_DIR") from None
    return Usage(root=store.root, sections=tuple(rows))


def prune(store: Store, *, older_than_days: float | None) -> tuple[int, int]:
    """Remove entries unused for the given days (None: everything). Returns (files, bytes).

    What tmp/ holds goes, except the scratch entries of runs still going (a lock's
    resolver folders: a lock holds no cache lock); a layer record goes with its blob.
    """
    from envbuild.scratch import in_use

    removed = freed = 0
    cutoff = None if older_than_days is None else time.time() - older_than_days * 86400
    with store.locked():
        for name in _SECTIONS:
            section = store.root / name
            for path in sorted(p for p in section.rglob("*") if p.is_file()):
                if name == "tmp" and in_use(path.relative_to(section).parts[0]):
                    continue
                if name != "tmp" and cutoff is not None and path.stat().st_mtime >= cutoff:
                    continue
                freed += path.stat().st_size
                removed += 1
                path.unlink()
            if name == "tmp":
                for entry in section.glob("*"):
                    if not in_use(entry.name):
                        shutil.rmtree(entry, ignore_errors=True)
            elif cutoff is None:
                shutil.rmtree(section, ignore_errors=True)
    return removed, freed
