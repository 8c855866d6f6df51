"""The links `update-alternatives --install` would make, read from the packages' postinst.

Scripts are never run: each `update-alternatives --install LINK NAME PATH PRIORITY
[--slave LINK NAME PATH]...` written with literal words (no `$`) is collected; for each
NAME the highest priority wins (ties: the smaller path), as dpkg's auto mode chooses, when
its PATH is in the tree. Then `/etc/alternatives/NAME -> PATH`, `LINK ->
/etc/alternatives/NAME` (and the same for each slave whose path is in the tree), and dpkg's
record `/var/lib/dpkg/alternatives/NAME`, so a later `update-alternatives` sees them.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from dataclasses import dataclass

from envbuild.image.system.tree import Tree, merged


@dataclass(frozen=True, kw_only=True, slots=True)
class Alternative:
    link: str
    name: str
    path: str
    priority: int
    slaves: tuple[tuple[str, str, str], ...]  # (link, name, path)


def parse_postinst(script: bytes) -> list[Alternative]:
    """Every literal `update-alternatives --install` of a maintainer script."""
    text = script.decode("utf-8", "replace").replace("\\\n", " ")
    found = []
    for line in text.splitlines():
        if "update-alternatives" not in line or "--install" not in line or "$" in line:
            continue
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            continue
        if "--install" not in words:
            continue
        rest = words[words.index("--install") + 1:]
        if len(rest) < 4 or not rest[3].lstrip("-").isdigit():
            continue
        slaves = []
        tail = rest[4:]
        while len(tail) >= 4 and tail[0] == "--slave":
            slaves.append((tail[1], tail[2], tail[3]))
            tail = tail[4:]
        found.append(Alternative(link=rest[0], name=rest[1], path=rest[2],
                                 priority=int(rest[3]), slaves=tuple(slaves)))
    return found


def apply(tree: Tree, candidates: Iterable[Alternative]) -> list[str]:
    """Make the chosen alternatives' links in `tree`; return the names set up."""
    best: dict[str, Alternative] = {}
    for item in candidates:
        if not (_present(tree, item.path) and _plain(item.link)) or "/" in item.name:
            continue
        old = best.get(item.name)
        if old is None or (-item.priority, item.path) < (-old.priority, old.path):
            best[item.name] = item
    for name, item in sorted(best.items()):
        slaves = [s for s in item.slaves
                  if _present(tree, s[2]) and _plain(s[0]) and "/" not in s[1]]
        for link, alt, path in [(item.link, name, item.path), *slaves]:
            tree.symlink(f"etc/alternatives/{alt}", path)
            if merged(link.lstrip("/")) not in tree.nodes:
                tree.symlink(merged(link.lstrip("/")), f"/etc/alternatives/{alt}")
        lines = ["auto", item.link, *(w for s in slaves for w in (s[1], s[0])), "",
                 item.path, str(item.priority), *(s[2] for s in slaves), "", ""]
        tree.file(f"var/lib/dpkg/alternatives/{name}", "\n".join(lines).encode())
    return sorted(best)


def _present(tree: Tree, path: str) -> bool:
    return _plain(path) and merged(path.lstrip("/")) in tree.nodes


def _plain(path: str) -> bool:
    """An absolute path with plain components (a script's words become tree paths)."""
    parts = path.split("/")
    return path.startswith("/") and all(p not in ("", ".", "..") for p in parts[1:]) \
        and "\0" not in path
