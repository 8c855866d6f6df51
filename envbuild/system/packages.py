"""A `Packages` index parsed into records, and the cache of parsed indexes.

Parsing uses python-debian (`deb822.Packages`, restricted to the fields locking reads):
several seconds for a whole release's index, so each parsed index is cached as JSON under
`<envbuild cache>/debian/indexes/<sha256>.json`, keyed by the sha256 the signed `Release`
lists for the index file. A re-lock against an unchanged archive reads the cache and neither
downloads nor parses the index again. Relations (`Depends`...) are kept as text and parsed
only for the packages a closure reaches.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from dataclasses import astuple, dataclass
from pathlib import Path

from envbuild.errors import EnvbuildError
from envbuild.fileio import write_atomic
from envbuild.paths import cache_dir

_FIELDS = ("Package", "Version", "Architecture", "Pre-Depends", "Depends", "Provides", "Conflicts",
           "Breaks", "Essential", "Priority", "Filename", "Size", "SHA256")
_CACHE_FORMAT = 1  # bump when PackageRecord changes: older cache files are then ignored
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, kw_only=True, slots=True)
class PackageRecord:
    """One binary package as the index lists it; relation fields as written."""

    name: str
    version: str
    architecture: str
    pre_depends: str
    depends: str
    provides: str
    conflicts: str
    breaks: str
    essential: bool
    priority: str
    filename: str
    size: int
    sha256: str  # hex


def parse_index(text: bytes) -> tuple[PackageRecord, ...]:
    """Every complete stanza of a `Packages` text; stanzas without a file, a size or a sha256
    (none that an archive publishes) are skipped rather than locked without a hash."""
    from debian import deb822

    records = []
    for stanza in deb822.Packages.iter_paragraphs(io.BytesIO(text), fields=list(_FIELDS), use_apt_pkg=False):
        size, sha256 = stanza.get("Size", ""), stanza.get("SHA256", "").lower()
        if not (stanza.get("Package") and stanza.get("Version") and stanza.get("Filename")
                and size.isdigit() and _SHA256.fullmatch(sha256)):
            continue
        records.append(PackageRecord(
            name=stanza["Package"], version=stanza["Version"], architecture=stanza.get("Architecture", ""),
            pre_depends=stanza.get("Pre-Depends", ""), depends=stanza.get("Depends", ""),
            provides=stanza.get("Provides", ""), conflicts=stanza.get("Conflicts", ""),
            breaks=stanza.get("Breaks", ""), essential=stanza.get("Essential", "") == "yes",
            priority=stanza.get("Priority", ""), filename=stanza["Filename"], size=int(size), sha256=sha256))
    return tuple(records)


def _path(sha256: str) -> Path:
    return cache_dir() / "debian" / "indexes" / f"{sha256}.json"


def cached_index(sha256: str) -> tuple[PackageRecord, ...] | None:
    """The records of the index whose file hashes to `sha256`, when parsed before."""
    try:
        data = json.loads(_path(sha256).read_bytes())
        if data.get("format") != _CACHE_FORMAT:
            return None
        return tuple(PackageRecord(**dict(zip(_NAMES, row, strict=True))) for row in data["records"])
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None  # absent, or unreadable: parse the index again


def store_index(sha256: str, records: tuple[PackageRecord, ...]) -> None:
    """Cache parsed records (atomically: concurrent locks may write the same file)."""
    document = {"format": _CACHE_FORMAT, "records": [astuple(r) for r in records]}
    # A read-only cache only costs the next lock a parse.
    with contextlib.suppress(EnvbuildError):
        write_atomic(_path(sha256), json.dumps(document, separators=(",", ":")).encode())


_NAMES = tuple(PackageRecord.__dataclass_fields__)
