"""The current Debian archive as the `@pytest.mark.debian` tests use it: the machine's apt
source, the current `Packages` of an architecture, and the closure of a few packages.

Until the lock side resolves `[system]`, the live tests pick their exact pins here from the
archive's current index (bookworm keeps only current versions): the closure follows
Pre-Depends and Depends, the first alternative that exists (or a package providing it).
"""

from __future__ import annotations

import lzma
import re
import urllib.request
from pathlib import Path

from envbuild.image.system.debfile import parse_paragraph
from envbuild.lockfile.model import SystemPackage

_RELATION = re.compile(r"^\s*([a-z0-9][a-z0-9+.-]*)")


def apt_archive_url(sources: Path = Path("/etc/apt/sources.list.d")) -> str | None:
    """The first Debian archive (`URIs:` of a deb822 source with suite bookworm)."""
    for path in sorted(sources.glob("*.sources")):
        for block in path.read_text().split("\n\n"):
            fields = parse_paragraph(block)
            if "bookworm" in fields.get("suites", "").split() and fields.get("uris"):
                return fields["uris"].split()[0].rstrip("/")
    return None


def packages_index(url: str, arch: str, cache: Path) -> dict[str, dict[str, str]]:
    """Name -> fields of the current bookworm main `Packages` for `arch` (cached)."""
    path = cache / f"Packages-{arch}"
    if not path.exists():
        with urllib.request.urlopen(f"{url}/dists/bookworm/main/binary-{arch}/Packages.xz",
                                    timeout=120) as response:
            path.write_bytes(lzma.decompress(response.read()))
    found: dict[str, dict[str, str]] = {}
    for block in path.read_text().split("\n\n"):
        fields = parse_paragraph(block)
        if "package" in fields:
            found.setdefault(fields["package"], fields)
    return found


def closure(index: dict[str, dict[str, str]], roots: list[str]) -> list[SystemPackage]:
    """The packages `roots` need, as lock records of the archive named "default"."""
    providers: dict[str, str] = {}
    for name, fields in sorted(index.items()):
        for provided in fields.get("provides", "").split(","):
            match = _RELATION.match(provided)
            if match:
                providers.setdefault(match.group(1), name)
    chosen: dict[str, list[str]] = {}
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in chosen:
            continue
        fields = index[name]
        deps: list[str] = []
        for group in ",".join(fields.get(k, "") for k in ("pre-depends", "depends")).split(","):
            options = [m.group(1) for m in map(_RELATION.match, group.split("|")) if m]
            pick = next((o for o in options if o in index), None) or \
                next((providers[o] for o in options if o in providers), None)
            if pick is not None:
                deps.append(pick)
        chosen[name] = sorted(set(deps) - {name})
        todo += deps
    return [SystemPackage(name=n, version=index[n]["version"],
                          architecture=index[n]["architecture"], archive="default",
                          path=index[n]["filename"], size=int(index[n]["size"]),
                          hash="sha256:" + index[n]["sha256"], dependencies=tuple(d))
            for n, d in sorted(chosen.items())]
