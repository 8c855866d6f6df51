"""An image's file index over several layers: whiteouts, opaque folders, links, the memo."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path

from envbuild.image.imagefiles import base_index
from envbuild.image.store import Store


def layer(path: Path, members: list[tuple[str, str]]) -> Path:
    """A gzip tar layer of (name, kind) members: "d", "f", "x" or "l:TARGET"."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, kind in members:
            info = tarfile.TarInfo(name)
            if kind == "d":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
            elif kind.startswith("l:"):
                info.type, info.linkname = tarfile.SYMTYPE, kind[2:]
            else:
                info.mode = 0o755 if kind == "x" else 0o644
            tar.addfile(info, io.BytesIO(b"") if info.isreg() else None)
    path.write_bytes(gzip.compress(raw.getvalue()))
    return path


def test_later_layers_delete_and_replace_what_earlier_ones_wrote(tmp_path: Path) -> None:
    first = layer(tmp_path / "1", [("usr", "d"), ("usr/bin", "d"), ("usr/bin/tool", "x"),
                                   ("usr/bin/old", "x"), ("opt/app/a", "x"),
                                   ("opt/app/sub/b", "x"), ("bin", "l:usr/bin")])
    second = layer(tmp_path / "2", [("./usr/bin/.wh.old", "f"), ("opt/app", "d"),
                                    ("opt/app/.wh..wh..opq", "f"), ("opt/app/c", "x"),
                                    ("usr/bin/tool", "f")])
    store = Store(tmp_path / "cache")
    index = base_index("sha256:" + "0" * 64, [first, second], store)
    assert index.kind("/bin/old") is None  # whited out, through the /bin link
    assert index.kind("/opt/app/a") is None and index.kind("/opt/app/sub/b") is None
    assert index.kind("/opt/app/c") == "x"  # the opaque folder keeps its own layer's files
    assert index.kind("/bin/tool") == "f"  # replaced without its execute bit
    assert index.kind("/usr/bin") == "d" and index.kind("/bin") == "d"
    # The second call reads the memo, not the layers (which are gone now).
    first.unlink()
    second.unlink()
    again = base_index("sha256:" + "0" * 64, [first, second], store)
    assert again.entries == index.entries
    memo = list((tmp_path / "cache").rglob("*.json"))
    assert len(memo) == 1 and json.loads(memo[0].read_text())["version"] == 1


def test_links_resolve_inside_the_root(tmp_path: Path) -> None:
    index = base_index("sha256:" + "1" * 64, [layer(tmp_path / "1", [
        ("usr/bin/python3.11", "x"), ("usr/bin/python3", "l:python3.11"),
        ("usr/local/bin/python", "l:/usr/bin/python3"),
        ("usr/local/bin/up", "l:../../../../../../usr/bin/python3"),
        ("usr/local/bin/a", "l:b"), ("usr/local/bin/b", "l:a"),
        ("usr/bin/python3.11x/inside", "f")])], Store(tmp_path / "cache"))
    assert index.resolve("/usr/local/bin/python") == "usr/bin/python3.11"
    assert index.resolve("/usr/local/bin/up") == "usr/bin/python3.11"
    assert index.resolve("/usr/local/bin/a") is None  # a loop
    assert index.resolve("/usr/bin/python3/x") is None  # a file holds nothing
    assert index.kind("/usr/bin/python3.11x") == "d"  # a folder known from its contents
