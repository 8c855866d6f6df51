"""The fixture Debian archive itself: real .debs, a signature gpgv accepts, reproducible builds."""

from __future__ import annotations

import hashlib
import subprocess
import urllib.request
from pathlib import Path

from tests.support.debarchive import ArchiveKey, ArchiveServer, DebSpec, build_archive, build_deb

HELLO = DebSpec(name="hello", version="1:1.0-1", depends="libfoo (>= 2)",
                files={"usr/bin/hello": b"#!/bin/sh\necho hi\n"}, scripts={"postinst": "#!/bin/sh\nexit 0\n"})
LIBFOO = DebSpec(name="libfoo", version="2.1-1", architecture="all", files={"usr/share/foo/a": b"a"})


def test_archive_is_signed_and_holds_real_debs(tmp_path: Path, debian_archive_key: ArchiveKey) -> None:
    archive = build_archive(tmp_path / "www" / "debian", debian_archive_key, [HELLO, LIBFOO])
    verified = subprocess.run(["gpgv", "--keyring", str(debian_archive_key.keyring), "--output", "-",
                               str(archive.dist / "InRelease")], capture_output=True, check=False)
    assert verified.returncode == 0
    assert verified.stdout == (archive.dist / "Release").read_bytes()
    listing = subprocess.run(["dpkg-deb", "-c", str(archive.deb("hello", "amd64"))],
                             capture_output=True, text=True, check=True).stdout
    assert "root/root" in listing and "./usr/bin/hello" in listing
    assert archive.deb("hello", "amd64").name == "hello_1.0-1_amd64.deb"
    assert "Filename: pool/main/libf/libfoo/libfoo_2.1-1_all.deb" in archive.packages_index("arm64").read_text()
    with ArchiveServer(tmp_path / "www") as server:
        body = urllib.request.urlopen(server.url("debian") + "/" + HELLO.pool_path(), timeout=10).read()
    assert body == archive.deb("hello", "amd64").read_bytes()
    assert server.requests == [f"GET /debian/{HELLO.pool_path()} 200"]


def test_deb_builds_are_byte_identical(tmp_path: Path) -> None:
    first = hashlib.sha256(build_deb(HELLO, tmp_path / "a.deb").read_bytes()).hexdigest()
    assert hashlib.sha256(build_deb(HELLO, tmp_path / "b.deb").read_bytes()).hexdigest() == first


def test_tampering_breaks_what_gpgv_or_release_says(tmp_path: Path, debian_archive_key: ArchiveKey) -> None:
    archive = build_archive(tmp_path / "debian", debian_archive_key, [HELLO, LIBFOO])
    listed = (archive.dist / "Release").read_text()
    archive.tamper_packages("amd64", "Version: 2.1-1", "Version: 2.2-1")
    digest = hashlib.sha256(archive.packages_index("amd64").read_bytes()).hexdigest()
    assert digest not in listed
    archive.break_signature()
    bad = subprocess.run(["gpgv", "--keyring", str(debian_archive_key.keyring), str(archive.dist / "InRelease")],
                         capture_output=True, text=True, check=False)
    assert bad.returncode == 1 and "BAD signature" in bad.stderr
