"""Unpacking a conda package: every member checked, the package held to its paths.json."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from envbuild.image.conda.extract import PackageRefused, unpack
from tests.image.conda.archives import Member, hand_made
from tests.support.conda_channel import CondaChannel, CondaFile, CondaSpec

HINT = "the package is malformed or was altered; nothing was installed"


def test_a_conda_file_unpacks_with_its_paths(tmp_path: Path) -> None:
    spec = CondaSpec(name="tool", version="2.1", build="h1_0", files=(
        CondaFile("bin/tool", "#!/bin/sh\necho tool\n", executable=True),
        CondaFile("bin/tool-link", link="tool"),
        CondaFile("share/tool/data.txt", "data\n")))
    archive = CondaChannel(tmp_path / "channel").add(spec)
    unpacked = unpack(archive, tmp_path / "out", package="tool")
    assert [(e.path, e.path_type) for e in unpacked.paths] == [
        ("bin/tool", "hardlink"), ("bin/tool-link", "softlink"), ("share/tool/data.txt", "hardlink")]
    assert (unpacked.index["name"], unpacked.index["version"]) == ("tool", "2.1")
    assert (tmp_path / "out/bin/tool").stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "out/bin/tool-link").readlink() == Path("tool")
    assert (tmp_path / "out/share/tool/data.txt").read_text() == "data\n"


def refused(tmp_path: Path, members: list[Member]) -> PackageRefused:
    archive, _ = hand_made(tmp_path / "channel", members)
    with pytest.raises(PackageRefused) as caught:
        unpack(archive, tmp_path / "out", package="demo")
    assert caught.value.exit_code == 1
    return caught.value


def test_an_absolute_member_is_refused(tmp_path: Path) -> None:
    error = refused(tmp_path, [Member(name="/etc/cron.d/job", data=b"x")])
    assert error.message == "demo: demo-1.0-0.tar.bz2: /etc/cron.d/job: is not a plain relative path"
    assert error.hint == HINT
    assert not (tmp_path / "out/etc").exists()


def test_a_dotdot_member_is_refused(tmp_path: Path) -> None:
    error = refused(tmp_path, [Member(name="lib/../../escaped", data=b"x")])
    assert error.message == "demo: demo-1.0-0.tar.bz2: lib/../../escaped: is not a plain relative path"
    assert not (tmp_path / "escaped").exists()


def test_an_absolute_symlink_is_refused(tmp_path: Path) -> None:
    error = refused(tmp_path, [Member(name="bin/sh", link="/bin/sh")])
    assert error.message == "demo: demo-1.0-0.tar.bz2: bin/sh: links to /bin/sh, outside the package"


def test_a_symlink_climbing_out_is_refused(tmp_path: Path) -> None:
    error = refused(tmp_path, [Member(name="lib/up", link="../../etc")])
    assert error.message == "demo: demo-1.0-0.tar.bz2: lib/up: links to ../../etc, outside the package"


def test_a_symlink_escaping_through_another_link_is_refused(tmp_path: Path) -> None:
    # a/root -> .. is the package root; a/b/out -> ../root/.. goes one above it, which only
    # following a/root on the way shows (lexically it stays inside).
    error = refused(tmp_path, [Member(name="a/root", link=".."),
                               Member(name="a/b/out", link="../root/..")])
    assert error.message == "demo: demo-1.0-0.tar.bz2: a/b/out: links to ../root/.., outside the package"


def test_a_member_below_a_symlink_is_refused(tmp_path: Path) -> None:
    error = refused(tmp_path, [Member(name="lib", link="share"),
                               Member(name="lib/evil.so", data=b"x")])
    assert error.message == ("demo: demo-1.0-0.tar.bz2: lib/evil.so: lies below lib, which is "
                             "not a folder")


def test_a_hard_link_to_no_earlier_file_is_refused(tmp_path: Path) -> None:
    error = refused(tmp_path, [Member(name="bin/x", hardlink="/etc/shadow", listed=False)])
    assert error.message == ("demo: demo-1.0-0.tar.bz2: bin/x: is a hard link to /etc/shadow, "
                             "not an earlier file")


def test_a_member_twice_is_refused(tmp_path: Path) -> None:
    error = refused(tmp_path, [Member(name="bin/x", data=b"1"),
                               Member(name="bin/x", data=b"2", listed=False)])
    assert error.message == "demo: demo-1.0-0.tar.bz2: bin/x: appears twice"


def test_a_file_paths_json_does_not_list_is_refused(tmp_path: Path) -> None:
    archive, _ = hand_made(tmp_path / "channel", [Member(name="bin/ok", data=b"ok"),
                                                  Member(name="bin/extra", data=b"x", listed=False)])
    with pytest.raises(PackageRefused) as caught:
        unpack(archive, tmp_path / "out", package="demo")
    assert caught.value.message == ("demo: demo-1.0-0.tar.bz2 does not match its info/paths.json:\n"
                                    "bin/extra: packaged but not listed in info/paths.json")
    assert caught.value.hint == "the package is damaged or was altered after it was built"


def test_a_file_differing_from_paths_json_is_refused(tmp_path: Path) -> None:
    archive, _ = hand_made(tmp_path / "channel", [
        Member(name="lib/libdemo.so", data=b"altered",
               sha256=hashlib.sha256(b"origina").hexdigest())])
    with pytest.raises(PackageRefused) as caught:
        unpack(archive, tmp_path / "out", package="demo")
    assert caught.value.message == ("demo: demo-1.0-0.tar.bz2 does not match its info/paths.json:\n"
                                    "lib/libdemo.so: differs from its info/paths.json sha256 and size")


def test_a_truncated_package_is_refused(tmp_path: Path) -> None:
    archive = CondaChannel(tmp_path / "channel").add(CondaSpec(name="tool", version="1", files=(
        CondaFile("share/x", "x" * 4000),)))
    archive.write_bytes(archive.read_bytes()[:200])
    with pytest.raises(PackageRefused) as caught:
        unpack(archive, tmp_path / "out", package="tool")
    assert caught.value.message.startswith("tool: tool-1-0.conda cannot be read: ")
