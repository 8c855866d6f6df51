"""`/etc/ld.so.cache` written from the tree, as `ldconfig` (run by libc-bin's trigger) would.

Nothing is executed: each `lib*.so*` in the folders of `/etc/ld.so.conf.d/*.conf` and the
system folders is read as ELF (its SONAME from the dynamic section), for the target's
machine only. A regular file is entered under its SONAME, a symlink under its own name (so
`libz.so` dev links show, as with ldconfig), the first folder winning for a name. The file
is glibc's "new" format (`glibc-ld.so.cache1.1`, what glibc >= 2.32 writes by default),
entries sorted as `_dl_cache_libcmp` orders them, descending: the dynamic loader
binary-searches them. `ldconfig -p` lists it; `ctypes.util.find_library` parses that.
"""

from __future__ import annotations

import functools
import posixpath
import struct

from envbuild.image.system.tree import Node, Tree, merged

# (ELF e_machine, multiarch triplet, cache flags: FLAG_ELF_LIBC6 | the 64-bit ABI flag)
MACHINES = {"amd64": (62, "x86_64-linux-gnu", 0x0303), "arm64": (183, "aarch64-linux-gnu", 0x0A03)}
_MAGIC = b"glibc-ld.so.cache1.1"
_ENDIAN_LITTLE = 2
_HEADER = struct.Struct("<20sIIB3xI12x")  # magic, nlibs, len_strings, flags, extension offset
_ENTRY = struct.Struct("<iIIIQ")  # flags, key, value, osversion (unused), hwcap
_CONF = "etc/ld.so.conf.d"


def cache_bytes(tree: Tree, architecture: str) -> bytes | None:
    """The cache for `tree`, or None when the tree has no ldconfig (libc-bin) to read it
    and no trigger would have written one."""
    if "usr/sbin/ldconfig" not in tree.nodes or architecture not in MACHINES:
        return None
    machine, triplet, flags = MACHINES[architecture]
    entries: dict[str, str] = {}
    for folder in _folders(tree, triplet):
        for path in sorted(p for p in tree.nodes if posixpath.dirname(p) == folder):
            name = posixpath.basename(path)
            if not name.startswith(("lib", "ld-")) or ".so" not in name:
                continue
            real, node = _resolve(tree, path)
            soname = _soname(node, machine)
            if soname is None:
                continue
            # ldconfig's rule: a link keeps its own name only when the file it ends at is
            # named by the soname (or is a `.so` prefix of it); anything else by soname.
            base = posixpath.basename(real)
            own = base == soname or (base.endswith(".so") and soname.startswith(base))
            key = name if tree.nodes[path].kind == "symlink" and own else soname
            if key != name and f"{folder}/{key}" not in tree.nodes:
                continue  # ldconfig would make the soname link; packages ship theirs
            entries.setdefault(key, f"/{folder}/{key}")
    ordered: list[str] = sorted(entries, key=functools.cmp_to_key(_descending))
    strings = bytearray()
    table = bytearray()
    start = _HEADER.size + _ENTRY.size * len(ordered)
    for key in ordered:
        value = entries[key]
        key_at = start + len(strings)
        strings += key.encode() + b"\0"
        value_at = start + len(strings)
        strings += value.encode() + b"\0"
        table += _ENTRY.pack(flags, key_at, value_at, 0, 0)
    header = _HEADER.pack(_MAGIC, len(ordered), len(strings), _ENDIAN_LITTLE, 0)
    return bytes(header + table + strings)


def _folders(tree: Tree, triplet: str) -> list[str]:
    """The configured folders (sorted conf files, in file order), then the system ones."""
    found: list[str] = []
    for path in sorted(p for p in tree.nodes if posixpath.dirname(p) == _CONF
                       and p.endswith(".conf")):
        node = _resolve(tree, path)[1]
        for line in (node.read() if node else b"").decode("utf-8", "replace").splitlines():
            line = line.split("#", 1)[0].strip()
            if line.startswith("/"):
                found.append(merged(posixpath.normpath(line).lstrip("/")))
    found += [f"usr/lib/{triplet}", "usr/lib"]
    return list(dict.fromkeys(found))


def _resolve(tree: Tree, path: str) -> tuple[str, Node | None]:
    """The path and file `path` ends at, following links (and the usrmerge move)."""
    for _ in range(16):
        node = tree.nodes.get(path)
        if node is None or node.kind == "dir":
            return path, None
        if node.kind == "hardlink":
            path = node.target
        elif node.kind == "symlink":
            target = node.target if node.target.startswith("/") else \
                posixpath.join("/", posixpath.dirname(path), node.target)
            path = merged(posixpath.normpath(target).lstrip("/"))
        else:
            return path, node
    return path, None


def _soname(node: Node | None, machine: int) -> str | None:
    """DT_SONAME of a 64-bit little-endian ELF shared object for `machine`."""
    if node is None or node.size < 64:
        return None
    data = node.read()
    if data[:6] != b"\x7fELF\x02\x01" or struct.unpack_from("<H", data, 18)[0] != machine:
        return None
    phoff, = struct.unpack_from("<Q", data, 32)
    phentsize, phnum = struct.unpack_from("<HH", data, 54)
    loads, dynamic = [], None
    for index in range(phnum):
        at = phoff + index * phentsize
        if at + 56 > len(data):
            return None
        kind, _, offset, vaddr, _, filesz = struct.unpack_from("<IIQQQQ", data, at)
        if kind == 1:
            loads.append((vaddr, offset, filesz))
        elif kind == 2:
            dynamic = (offset, filesz)
    if dynamic is None:
        return None
    strtab = soname = None
    for at in range(dynamic[0], min(dynamic[0] + dynamic[1], len(data) - 15), 16):
        tag, value = struct.unpack_from("<qQ", data, at)
        if tag == 0:
            break
        if tag == 5:
            strtab = value
        elif tag == 14:
            soname = value
    if strtab is None or soname is None:
        return None
    for vaddr, offset, filesz in loads:
        if vaddr <= strtab < vaddr + filesz:
            start = offset + strtab - vaddr + soname
            end = data.find(b"\0", start)
            return data[start:end].decode("ascii", "replace") if end > start else None
    return None


def _descending(left: str, right: str) -> int:
    return _libcmp(right, left)


def _libcmp(left: str, right: str) -> int:
    """glibc's `_dl_cache_libcmp`: runs of digits compare as numbers."""
    i = j = 0
    while i < len(left):
        if left[i].isdigit():
            if j >= len(right) or not right[j].isdigit():
                return 1
            a, i = _number(left, i)
            b, j = _number(right, j)
            if a != b:
                return a - b
        elif j < len(right) and right[j].isdigit():
            return -1
        elif j >= len(right) or left[i] != right[j]:
            return ord(left[i]) - (ord(right[j]) if j < len(right) else 0)
        else:
            i, j = i + 1, j + 1
    return 0 - (ord(right[j]) if j < len(right) else 0)


def _number(text: str, at: int) -> tuple[int, int]:
    end = at
    while end < len(text) and text[end].isdigit():
        end += 1
    return int(text[at:end]), end
