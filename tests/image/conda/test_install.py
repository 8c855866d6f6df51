"""Linking locked conda packages into the image's prefix: placeholders, records, refusals."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from envbuild.errors import InputError
from envbuild.image.conda.extract import PackageRefused
from envbuild.image.conda.install import install_conda
from envbuild.image.conda.prefix import PrefixTooLong
from envbuild.lockfile.model import CondaPackage
from tests.image.conda.archives import Member, hand_made, locked, venv_python
from tests.support.conda_channel import PLACEHOLDER, CondaChannel, CondaFile, CondaSpec

TOOL = CondaSpec(name="tool", version="2.1", build="h1_0", files=(
    CondaFile("bin/tool", "#!/bin/sh\necho tool\n", executable=True),
    CondaFile("bin/tool-link", link="tool")))


def channel_packages(folder: Path, *specs: CondaSpec) -> list[tuple[CondaPackage, Path]]:
    channel = CondaChannel(folder)
    return [(locked(path, spec), path) for spec in specs for path in [channel.add(spec)]]


def install(tmp_path: Path, packages: list[tuple[CondaPackage, Path]], name: str = "a") -> Path:
    root = tmp_path / name / "root"
    root.mkdir(parents=True)
    install_conda(root, packages, python="3.11")
    return root


def tree(root: Path) -> dict[str, bytes | str]:
    return {p.relative_to(root).as_posix(): (f"-> {p.readlink()}" if p.is_symlink() else
                                             p.read_bytes() if p.is_file() else "dir")
            for p in sorted(root.rglob("*"))}


def test_packages_are_linked_with_the_prefix_written_in(tmp_path: Path) -> None:
    packages = channel_packages(tmp_path / "channel", venv_python(), TOOL)
    root = install(tmp_path, packages)
    prefix = root / "opt/conda"
    assert (prefix / "bin/python3.11").read_text() == \
        '#!/bin/bash\nexec -a /opt/conda/bin/python3.11 /usr/bin/python3.11 "$@"\n'
    assert (prefix / "lib/python3.11/site-packages/conda_python_marker.py").read_text() == \
        'PREFIX = "/opt/conda"\n'
    assert (prefix / "bin/python3").readlink() == Path("python3.11")
    assert (prefix / "bin/tool").stat().st_mode & 0o777 == 0o755
    assert sorted(p.name for p in (prefix / "conda-meta").iterdir()) == [
        "python-3.11.2-0.json", "tool-2.1-h1_0.json"]
    # Nothing of the unpacking is left beside the layer's root.
    assert sorted(p.name for p in root.parent.iterdir()) == ["root"]


def test_the_record_is_conda_s_with_no_host_or_time(tmp_path: Path) -> None:
    packages = channel_packages(tmp_path / "channel", venv_python())
    (package, _), = packages
    root = install(tmp_path, packages)
    record = json.loads((root / "opt/conda/conda-meta/python-3.11.2-0.json").read_text())
    assert {k: record[k] for k in ("name", "version", "build", "subdir", "fn", "size", "md5",
                                   "channel")} == {
        "name": "python", "version": "3.11.2", "build": "0", "subdir": "linux-64",
        "fn": "python-3.11.2-0.tar.bz2", "size": package.size, "md5": package.md5,
        "channel": "forge"}
    assert "sha256:" + record["sha256"] == package.hash
    assert record["files"] == ["bin/python", "bin/python3", "bin/python3.11",
                               "lib/python3.11/site-packages/conda_python_marker.py", "pyvenv.cfg"]
    script = record["paths_data"]["paths"][2]
    assert (script["_path"], script["prefix_placeholder"], script["file_mode"]) == \
        ("bin/python3.11", PLACEHOLDER, "text")
    assert script["size_in_bytes"] == (root / "opt/conda/bin/python3.11").stat().st_size
    assert not {"url", "extracted_package_dir", "link"} & set(record)


def test_the_same_packages_give_the_same_tree(tmp_path: Path) -> None:
    packages = channel_packages(tmp_path / "channel", venv_python(), TOOL)
    first = tree(install(tmp_path, packages, "a"))
    assert tree(install(tmp_path, list(reversed(packages)), "b")) == first


def test_binary_placeholder_is_padded(tmp_path: Path) -> None:
    build_prefix = "/build/" + "p" * 40
    data = b"\x7fELF\0" + f"{build_prefix}/lib\0".encode() + b"end"
    path, spec = hand_made(tmp_path / "channel", [
        Member(name="lib/libx.so", data=data, placeholder=build_prefix, file_mode="binary")])
    root = install(tmp_path, [(locked(path, spec), path)])
    out = (root / "opt/conda/lib/libx.so").read_bytes()
    assert out == b"\x7fELF\0/opt/conda/lib\0" + b"\0" * (len(build_prefix) - 10) + b"end"


def test_binary_placeholder_shorter_than_the_prefix_is_refused(tmp_path: Path) -> None:
    path, spec = hand_made(tmp_path / "channel", [
        Member(name="lib/libx.so", data=b"/b/lib\0", placeholder="/b", file_mode="binary")])
    with pytest.raises(PrefixTooLong) as caught:
        install(tmp_path, [(locked(path, spec), path)])
    assert caught.value.message == ("demo: lib/libx.so: the prefix /opt/conda is longer than "
                                    "the 2-byte placeholder the binary file holds")


def test_two_packages_shipping_one_file_are_refused(tmp_path: Path) -> None:
    other = CondaSpec(name="other-tool", version="1.0", files=(CondaFile("bin/tool", "x"),))
    with pytest.raises(InputError) as caught:
        install(tmp_path, channel_packages(tmp_path / "channel", TOOL, other))
    assert caught.value.message == ("tool: tool-2.1-h1_0.conda ships bin/tool, which other-tool "
                                    "already has")
    assert caught.value.hint == "two locked conda packages ship the same file"


def test_a_package_that_is_not_the_locked_one_is_refused(tmp_path: Path) -> None:
    path, spec = hand_made(tmp_path / "channel", [Member(name="bin/x", data=b"x")],
                           version="1.1")
    record = locked(path, spec)
    with pytest.raises(PackageRefused) as caught:
        install(tmp_path, [(dataclasses.replace(record, version="1.0"), path)])
    assert caught.value.message == ("demo: demo-1.1-0.tar.bz2 is not the locked package: its "
                                    "info/index.json says version 1.1 (locked 1.0)")


def test_noarch_python_goes_to_site_packages_with_entry_points(tmp_path: Path) -> None:
    path, spec = hand_made(
        tmp_path / "channel", [Member(name="site-packages/nap/__init__.py", data=b"def main(): pass\n")],
        name="nap", subdir="noarch", noarch="python",
        link_json={"noarch": {"type": "python", "entry_points": ["nap = nap:main"]}})
    root = install(tmp_path, [(locked(path, spec), path)])
    prefix = root / "opt/conda"
    assert (prefix / "lib/python3.11/site-packages/nap/__init__.py").is_file()
    script = (prefix / "bin/nap").read_text()
    assert script.startswith("#!/opt/conda/bin/python3.11\n")
    assert "from nap import main\n" in script and "sys.exit(main())" in script
    record = json.loads((prefix / "conda-meta/nap-1.0-0.json").read_text())
    assert record["files"] == ["bin/nap", "lib/python3.11/site-packages/nap/__init__.py"]
