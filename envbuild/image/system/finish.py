"""What the maintainer scripts would have done that the image needs, done as data.

No script runs (an arm64 image is built on amd64 by unpacking alone). Each step, and the
script it stands in for:

- usrmerge: `/bin`, `/sbin`, `/lib`, `/lib64`... are links into `/usr` (debootstrap's
  merged-/usr layout; `tree.py` moved the packages' files there).
- folders base-files' postinst or the engine expect: `/tmp` and `/var/tmp` (1777),
  `/root` (0700), `/home`, and the non-root user's home.
- users: `/etc/passwd` and `/etc/group` from base-passwd's `*.master` files (its postinst
  runs `update-passwd` to copy them) when it is in the set, else just root and nogroup;
  plus the image's own user `envbuild` (uid and gid 1000) that the image runs as.
- `/etc/os-release`: base-files ships it; without base-files it is written from the
  locked distribution.
- CA bundle: ca-certificates' postinst runs `update-ca-certificates`: every
  `/usr/share/ca-certificates/**/*.crt`, sorted, is listed in `/etc/ca-certificates.conf`,
  linked as `/etc/ssl/certs/NAME.pem` and concatenated into
  `/etc/ssl/certs/ca-certificates.crt` (OpenSSL's default CA file through openssl's
  `/usr/lib/ssl/cert.pem` link). The subject-hash links of `openssl rehash` are not made:
  Python, curl, git and OpenSSL's defaults use the CA file.
- alternatives (`alternatives.py`), `/etc/ld.so.cache` (`ldcache.py`), and dpkg's
  database (`dpkgdb.py`).
- Not done: byte-compiling Python modules (py3compile): the image's standard library
  has no `.pyc` files, so they are compiled in memory on import (the non-root user cannot
  write them); debconf answers (defaults are the packages' own files); `/etc/shells`.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence

from envbuild.image.system import alternatives, ldcache
from envbuild.image.system.dpkgdb import Installed, write_database
from envbuild.image.system.tree import MERGED, Tree

USER = "envbuild"
UID = GID = 1000
HOME = f"/home/{USER}"
_CERTS = "usr/share/ca-certificates"
_RELEASES = {"bookworm": "12", "trixie": "13", "bullseye": "11"}


def finish(tree: Tree, packages: Sequence[Installed], *, architecture: str,
           distribution: str) -> None:
    """Complete `tree` (the unpacked `packages`) into a system that runs."""
    for name in MERGED:
        if f"usr/{name}" in tree.nodes and name not in tree.nodes:
            tree.symlink(name, f"usr/{name}")
    for path, mode in (("tmp", 0o1777), ("var/tmp", 0o1777), ("root", 0o700), ("home", 0o755)):
        if path not in tree.nodes:
            tree.folder(path, mode=mode)
    tree.folder(HOME.lstrip("/"), mode=0o755, uid=UID, gid=GID)
    _users(tree)
    _os_release(tree, distribution)
    _ca_bundle(tree)
    alternatives.apply(tree, [alt for p in packages for alt in
                              alternatives.parse_postinst(p.control.files.get("postinst", b""))])
    cache = ldcache.cache_bytes(tree, architecture)
    if cache is not None:
        tree.file("etc/ld.so.cache", cache)
    write_database(tree, packages)


def working_directory(path: str) -> Tree:
    """A tree of one entry, the working directory (`[image] workdir`), owned by the image's
    user: an engine would create it at run time owned by root, where that user cannot write.
    Its parents are left out of the tree, so the layers below keep theirs as they are."""
    tree = Tree()
    relative = path.strip("/")
    tree.folder(relative, mode=0o755, uid=UID, gid=GID)
    for parent in [p for p in tree.nodes if p != relative]:
        del tree.nodes[parent]
    return tree


def _users(tree: Tree) -> None:
    passwd = tree.nodes.get("usr/share/base-passwd/passwd.master")
    group = tree.nodes.get("usr/share/base-passwd/group.master")
    users = passwd.read().decode() if passwd else "root:x:0:0:root:/root:/bin/sh\n" \
        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
    groups = group.read().decode() if group else "root:x:0:\nnogroup:x:65534:\n"
    users = users.rstrip("\n") + f"\n{USER}:x:{UID}:{GID}:{USER}:{HOME}:/bin/sh\n"
    groups = groups.rstrip("\n") + f"\n{USER}:x:{GID}:\n"
    tree.file("etc/passwd", users.encode())
    tree.file("etc/group", groups.encode())


def _os_release(tree: Tree, distribution: str) -> None:
    if "usr/lib/os-release" in tree.nodes or "etc/os-release" in tree.nodes:
        return
    vendor, _, codename = distribution.partition(":")
    number = _RELEASES.get(codename) if vendor == "debian" else None
    version = f"{number} ({codename})" if number else codename
    lines = [f'PRETTY_NAME="Debian GNU/Linux {version}"', 'NAME="Debian GNU/Linux"',
             *([f'VERSION_ID="{number}"'] if number else []), f'VERSION="{version}"',
             f"VERSION_CODENAME={codename}", f"ID={vendor or 'debian'}"]
    tree.file("usr/lib/os-release", ("\n".join(lines) + "\n").encode())
    tree.symlink("etc/os-release", "../usr/lib/os-release")


def _ca_bundle(tree: Tree) -> None:
    certs = sorted((p for p in tree.nodes if p.startswith(_CERTS + "/") and p.endswith(".crt")
                    and tree.nodes[p].kind == "file"), key=lambda p: p.split("/"))
    if not certs:
        return
    names = [posixpath.relpath(p, _CERTS) for p in certs]
    tree.file("etc/ca-certificates.conf",
              ("# Written by envbuild as update-ca-certificates' defaults would be\n"
               + "".join(f"{n}\n" for n in names)).encode())
    bundle = bytearray()
    for path, name in zip(certs, names, strict=True):
        data = tree.nodes[path].read()
        bundle += data if data.endswith(b"\n") else data + b"\n"
        link = f"etc/ssl/certs/{posixpath.basename(name)[:-4]}.pem"
        if link not in tree.nodes:
            tree.symlink(link, f"/{path}")
    tree.file("etc/ssl/certs/ca-certificates.crt", bytes(bundle))
