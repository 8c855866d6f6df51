"""The `site` builder (envbuild/nix/unpack.py), run as Nix runs it: the host's Python by
absolute path, its inputs in the environment."""

from __future__ import annotations

import os
import subprocess
import zipfile
from pathlib import Path

import envbuild.nix.unpack as unpack_module

SCRIPT = Path(unpack_module.__file__)


def wheel(folder: Path, name: str, members: dict[str, bytes]) -> Path:
    path = folder / f"hashhashhash-{name}"  # as in the store: <hash>-<name>
    with zipfile.ZipFile(path, "w") as zf:
        for member, data in members.items():
            zf.writestr(member, data)
    return path


def run(out: Path, *wheels: Path) -> subprocess.CompletedProcess[str]:
    env = {"out": str(out), "wheels": " ".join(str(w) for w in wheels),
           "pythonVersion": "3.11", "PATH": "/path-not-set"}
    return subprocess.run(["/usr/bin/python3", str(SCRIPT)], env=env, capture_output=True,
                          text=True, check=False)


def test_schemes_of_a_data_folder_go_where_an_installer_puts_them(tmp_path: Path) -> None:
    w = wheel(tmp_path, "tool-1.0-py3-none-any.whl", {
        "tool/__init__.py": b"", "tool-1.0.dist-info/METADATA": b"Name: tool\n",
        "tool-1.0.data/scripts/tool": b"#!python\n", "tool-1.0.data/purelib/extra.py": b"",
        "tool-1.0.data/headers/tool.h": b"", "tool-1.0.data/data/share/tool.txt": b""})
    out = tmp_path / "out"
    done = run(out, w)
    assert done.returncode == 0, done.stderr
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    site = "lib/python3.11/site-packages"
    assert files == ["bin/tool", "include/tool.h", f"{site}/extra.py", f"{site}/tool-1.0.dist-info/METADATA",
                     f"{site}/tool/__init__.py", "share/tool.txt"]
    assert os.access(out / "bin/tool", os.X_OK)


def test_two_wheels_writing_one_file_stop_the_build(tmp_path: Path) -> None:
    a = wheel(tmp_path, "a-1.0-py3-none-any.whl", {"shared/__init__.py": b"a"})
    b = wheel(tmp_path, "b-1.0-py3-none-any.whl", {"shared/__init__.py": b"b"})
    done = run(tmp_path / "out", a, b)
    assert done.returncode == 1
    assert done.stderr == ("envbuild-unpack: b-1.0-py3-none-any.whl: lib/python3.11/"
                           "site-packages/shared/__init__.py is also written by "
                           "a-1.0-py3-none-any.whl\n")


def test_a_file_that_is_not_a_zip_stops_the_build(tmp_path: Path) -> None:
    bad = tmp_path / "hashhashhash-c-1.0-py3-none-any.whl"
    bad.write_bytes(b"not a zip")
    done = run(tmp_path / "out", bad)
    assert done.returncode == 1
    assert done.stderr == ("envbuild-unpack: c-1.0-py3-none-any.whl: not a wheel: File is not "
                           "a zip file\n")
