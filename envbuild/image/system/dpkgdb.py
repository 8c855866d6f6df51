"""dpkg's database for the unpacked packages, as dpkg itself would have left it.

`/var/lib/dpkg/status` gets one paragraph per package: its control file with
`Status: install ok installed` after `Package:` and its `Conffiles:` with each file's md5
(what `dpkg --configure` records), sorted by name then architecture. `info/<pkg>.list`
(`<pkg>:<arch>.list` for `Multi-Arch: same`) lists the package's paths as it ships them,
`info/<pkg>.md5sums` and `.conffiles` are its control files (md5sums computed, as dpkg does,
for a package that ships none). Scanners (syft, trivy, grype)
and `dpkg -l`/`dpkg -S` read exactly these; `envbuild verify` checks `status` against the
lock. Maintainer scripts are not kept: they never ran, and a later `apt-get remove` should
not run a `postrm` whose `postinst` did not.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from envbuild.image.system.debfile import DebControl
from envbuild.image.system.tree import Tree, merged

DPKG = "var/lib/dpkg"


@dataclass(frozen=True, kw_only=True, slots=True)
class Installed:
    name: str
    architecture: str
    control: DebControl


def info_name(package: Installed) -> str:
    same = (package.control.field("multi-arch") or "") == "same"
    return f"{package.name}:{package.architecture}" if same else package.name


def write_database(tree: Tree, packages: Sequence[Installed]) -> None:
    """Add dpkg's status file and info folder for `packages` to `tree`."""
    for folder in ("info", "updates", "triggers", "alternatives"):
        tree.folder(f"{DPKG}/{folder}")
    tree.file(f"{DPKG}/available", b"")
    # The multiarch layout (`pkg:arch.list` for Multi-Arch: same); without this file dpkg
    # reads the database as the old one and finds none of those lists.
    tree.file(f"{DPKG}/info/format", b"1\n")
    for name in ("diversions", "statoverride"):
        tree.file(f"{DPKG}/{name}", b"")
    ordered = sorted(packages, key=lambda p: (p.name, p.architecture))
    tree.file(f"{DPKG}/status", "".join(_paragraph(tree, p) for p in ordered).encode())
    for package in ordered:
        stem = f"{DPKG}/info/{info_name(package)}"
        paths = ["/.", *(f"/{p}" for p in _own(tree, package.name))]
        tree.file(f"{stem}.list", "".join(f"{p}\n" for p in paths).encode())
        tree.file(f"{stem}.md5sums", package.control.files.get("md5sums")
                  or _md5sums(tree, package))
        if "conffiles" in package.control.files:
            tree.file(f"{stem}.conffiles", package.control.files["conffiles"])


def _own(tree: Tree, name: str) -> list[str]:
    """The package's paths as it ships them, less files another package took over
    (`Replaces:`), as dpkg drops them from the loser's list."""
    kept = []
    for raw in tree.owned.get(name, []):
        node = tree.nodes.get(merged(raw))
        if node is None or node.kind == "dir" or node.package in (name, None):
            kept.append(raw)
    return kept


def _md5sums(tree: Tree, package: Installed) -> bytes:
    """What dpkg writes for a package that ships no md5sums: each of its files' md5,
    conffiles left out (their sums sit in the status file)."""
    conffiles = set(_conffiles(package))
    lines = []
    for raw in _own(tree, package.name):
        node = tree.nodes.get(merged(raw))
        if node is not None and node.kind in ("file", "hardlink") and f"/{raw}" not in conffiles:
            if node.kind == "hardlink":
                node = tree.nodes[node.target]
            lines.append(f"{hashlib.md5(node.read(), usedforsecurity=False).hexdigest()}  {raw}\n")
    return "".join(lines).encode()


def _conffiles(package: Installed) -> list[str]:
    text = package.control.files.get("conffiles", b"").decode("utf-8", "replace")
    # A line may carry a flag before the path ("remove-on-upgrade /etc/x").
    return [line.split()[-1] for line in text.splitlines() if line.strip()]


def _paragraph(tree: Tree, package: Installed) -> str:
    lines = [f"Package: {package.name}", "Status: install ok installed"]
    for line in package.control.control.strip("\n").splitlines():
        if line.strip() and not line.lower().startswith(("package:", "status:")):
            lines.append(line)
    conffiles = _conffiles(package)
    if conffiles:
        lines.append("Conffiles:")
        for path in conffiles:
            node = tree.nodes.get(merged(path.lstrip("/")))
            md5 = hashlib.md5(node.read(), usedforsecurity=False).hexdigest() if node and \
                node.kind == "file" else "newconffile"
            lines.append(f" {path} {md5}")
    return "\n".join(lines) + "\n\n"

