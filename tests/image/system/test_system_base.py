"""Images built from system packages (base = "system"): real `.deb` files made with
dpkg-deb, served on 127.0.0.1, unpacked by the native builder for amd64 and arm64."""

from __future__ import annotations

import hashlib
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from envbuild.errors import CheckFailed, ExternalError, InputError
from envbuild.lockfile.model import SystemPackage
from tests.image.system.support import (
    build,
    craft_deb,
    elf_library,
    image_config,
    layer_members,
    member,
    serve_debs,
    system_lock,
    system_record,
    system_target,
)
from tests.support.debarchive import ArchiveServer, DebSpec

SITE = b'# Debian\'s site.py names both:\n"local/lib", "dist-packages"\n'
CERT_A = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
CERT_B = b"-----BEGIN CERTIFICATE-----\nBBBB\n-----END CERTIFICATE-----"  # no final newline
TRIPLETS = {"amd64": ("x86_64-linux-gnu", 62), "arm64": ("aarch64-linux-gnu", 183)}


def specs(arch: str) -> list[DebSpec]:
    triplet, machine = TRIPLETS[arch]
    return [
        DebSpec(name="python3.11-minimal", version="3.11.2-6", architecture=arch,
                files={"usr/bin/python3.11": b"#!/bin/false\n",
                       "usr/lib/python3.11/site.py": SITE}),
        DebSpec(name="libc-bin", version="2.36-9", architecture=arch,
                files={"sbin/ldconfig": b"#!/bin/false\n"}),
        DebSpec(name="libdemo1", version="1.0-1", architecture=arch, multi_arch="same",
                files={f"usr/lib/{triplet}/libdemo.so.1": elf_library("libdemo.so.1",
                                                                         machine=machine)}),
        DebSpec(name="tool", version="2.0-1", architecture=arch,
                files={"bin/tool": b"#!/bin/sh\necho tool\n", "etc/tool.conf": b"x=1\n"},
                scripts={"postinst": "#!/bin/sh\nset -e\nupdate-alternatives --install "
                                     "/usr/bin/editor editor /usr/bin/tool 50\n",
                         "conffiles": "/etc/tool.conf\n"}),
        DebSpec(name="ca-certificates", version="20230311", architecture="all",
                files={"usr/share/ca-certificates/mozilla/B_Root.crt": CERT_B,
                       "usr/share/ca-certificates/mozilla/A_Root.crt": CERT_A}),
    ]


@pytest.fixture
def archive(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """(pool folder, archive URL) of an archive served on 127.0.0.1."""
    www = tmp_path / "www"
    (www / "debian").mkdir(parents=True)
    with ArchiveServer(www) as server:
        yield www / "debian", server.url("debian")


def test_two_builds_give_the_same_digests_for_amd64_and_arm64(
        tmp_path: Path, archive: tuple[Path, str]) -> None:
    pool, url = archive
    lock = system_lock(system_target("amd", "linux/amd64", serve_debs(pool, specs("amd64"))),
                       system_target("arm", "linux/arm64", serve_debs(pool, specs("arm64"))))
    first = build(lock, tmp_path / "c1", archives={"default": url}, output=tmp_path / "o1")
    second = build(lock, tmp_path / "c2", archives={"default": url}, output=tmp_path / "o2")
    assert {n: t.digest for n, t in first.targets.items()} == \
        {n: t.digest for n, t in second.targets.items()}
    assert first.targets["amd"].layers[0].digest != first.targets["arm"].layers[0].digest
    for name, arch in (("amd", "amd64"), ("arm", "arm64")):
        config = image_config(tmp_path / "o1", first.targets[name].config_digest)
        assert (config["architecture"], config["config"]["User"]) == (arch, "1000:1000")


def test_the_system_layer_holds_what_the_maintainer_scripts_would_have_made(
        tmp_path: Path, archive: tuple[Path, str]) -> None:
    pool, url = archive
    lock = system_lock(system_target("amd", "linux/amd64", serve_debs(pool, specs("amd64"))))
    result = build(lock, tmp_path / "c", archives={"default": url}, output=tmp_path / "o")
    files = layer_members(tmp_path / "o", result.targets["amd"].layers[0].digest)
    links = {n: m.linkname for n, (m, _) in files.items() if m.issym()}
    assert {n: links[n] for n in ("bin", "lib", "sbin", "etc/os-release", "usr/bin/editor",
                                  "etc/alternatives/editor", "etc/ssl/certs/A_Root.pem")} == {
        "bin": "usr/bin", "lib": "usr/lib", "sbin": "usr/sbin",
        "etc/os-release": "../usr/lib/os-release", "usr/bin/editor": "/etc/alternatives/editor",
        "etc/alternatives/editor": "/usr/bin/tool",
        "etc/ssl/certs/A_Root.pem": "/usr/share/ca-certificates/mozilla/A_Root.crt"}
    assert files["usr/bin/tool"][1] == b"#!/bin/sh\necho tool\n"
    assert "bin/tool" not in files  # moved under /usr
    assert files["etc/ssl/certs/ca-certificates.crt"][1] == CERT_A + CERT_B + b"\n"
    assert files["etc/passwd"][1].endswith(b"\nenvbuild:x:1000:1000:envbuild:/home/envbuild:/bin/sh\n")
    assert files["etc/group"][1] == b"root:x:0:\nnogroup:x:65534:\nenvbuild:x:1000:\n"
    assert b'VERSION_ID="12"\n' in files["usr/lib/os-release"][1]
    home, _ = files["home/envbuild"]
    assert (home.uid, home.gid, files["tmp"][0].mode) == (1000, 1000, 0o1777)
    assert {m.mtime for m, _ in files.values()} == {0}
    status = files["var/lib/dpkg/status"][1].decode()
    assert status.startswith("Package: ca-certificates\nStatus: install ok installed\n")
    assert [line for line in status.splitlines() if line.startswith("Package:")] == [
        "Package: ca-certificates", "Package: libc-bin", "Package: libdemo1",
        "Package: python3.11-minimal", "Package: tool"]
    md5 = hashlib.md5(b"x=1\n", usedforsecurity=False).hexdigest()
    assert f"Conffiles:\n /etc/tool.conf {md5}\n" in status
    # The package's own paths, as it ships them (dpkg -S /bin/tool finds it).
    assert files["var/lib/dpkg/info/tool.list"][1] == b"/.\n/bin\n/bin/tool\n/etc\n/etc/tool.conf\n"
    assert "var/lib/dpkg/info/libdemo1:amd64.list" in files  # Multi-Arch: same
    assert files["var/lib/dpkg/alternatives/editor"][1] == \
        b"auto\n/usr/bin/editor\n\n/usr/bin/tool\n50\n\n"


@pytest.mark.parametrize(("arch", "abi"), [("amd64", "libc6,x86-64"), ("arm64", "libc6,AArch64")])
def test_ld_so_cache_lists_the_libraries_for_ldconfig(
        tmp_path: Path, archive: tuple[Path, str], arch: str, abi: str) -> None:
    pool, url = archive
    lock = system_lock(system_target("t", f"linux/{arch}", serve_debs(pool, specs(arch))))
    result = build(lock, tmp_path / "c", archives={"default": url}, output=tmp_path / "o")
    files = layer_members(tmp_path / "o", result.targets["t"].layers[0].digest)
    cache = tmp_path / "ld.so.cache"
    cache.write_bytes(files["etc/ld.so.cache"][1])
    listed = subprocess.run(["/sbin/ldconfig", "-p", "-C", str(cache)], capture_output=True,
                            text=True, check=True).stdout
    triplet = TRIPLETS[arch][0]
    assert listed == (f"1 libs found in cache `{cache}'\n"
                      f"\tlibdemo.so.1 ({abi}) => /usr/lib/{triplet}/libdemo.so.1\n")


def test_a_deb_that_differs_from_the_lock_stops_the_build(
        tmp_path: Path, archive: tuple[Path, str]) -> None:
    pool, url = archive
    records = serve_debs(pool, specs("amd64"))
    tool = next(p for p in records if p.name == "tool")
    (pool / tool.path).write_bytes(b"!<arch>\nnot the locked bytes")
    lock = system_lock(system_target("amd", "linux/amd64", records))
    with pytest.raises(CheckFailed) as caught:
        build(lock, tmp_path / "c", archives={"default": url})
    served = hashlib.sha256(b"!<arch>\nnot the locked bytes").hexdigest()
    assert caught.value.message == (
        "1 system package(s) differ from the lock:\n"
        f"tool 2.0-1: default: {tool.path} does not match the lock (locked {tool.size} bytes, "
        f"{tool.hash}; got 28 bytes, sha256:{served})")
    assert not (tmp_path / "c" / "debs" / "sha256" / (tool.hash[7:] + ".deb")).exists()


def test_offline_names_every_package_missing_from_the_cache(
        tmp_path: Path, archive: tuple[Path, str]) -> None:
    pool, url = archive
    lock = system_lock(system_target("amd", "linux/amd64", serve_debs(pool, specs("amd64"))[:2]))
    with pytest.raises(ExternalError) as caught:
        build(lock, tmp_path / "c", archives={"default": url}, offline=True)
    hashes = {p.name: p.hash for p in lock.targets["amd"].system}
    assert caught.value.message == (
        f"--offline: 2 system package(s) are not in the cache {tmp_path / 'c'}:\n"
        f"libc-bin 2.36-9 ({hashes['libc-bin']})\n"
        f"python3.11-minimal 3.11.2-6 ({hashes['python3.11-minimal']})")


def test_offline_lists_the_first_ten_missing_packages(tmp_path: Path, archive: tuple[Path, str]) -> None:
    pool, url = archive
    many = [DebSpec(name=f"pkg{i:02}", version="1.0", architecture="all") for i in range(12)]
    lock = system_lock(system_target("amd", "linux/amd64", serve_debs(pool, many)))
    with pytest.raises(ExternalError) as caught:
        build(lock, tmp_path / "c", archives={"default": url}, offline=True)
    hashes = {p.name: p.hash for p in lock.targets["amd"].system}
    assert caught.value.message == (
        f"--offline: 12 system package(s) are not in the cache {tmp_path / 'c'}:\n"
        + "".join(f"pkg{i:02} 1.0 ({hashes[f'pkg{i:02}']})\n" for i in range(10)) + "and 2 more")


def test_an_archive_without_a_url_is_named(tmp_path: Path, archive: tuple[Path, str]) -> None:
    pool, _ = archive
    lock = system_lock(system_target("amd", "linux/amd64", serve_debs(pool, specs("amd64"))))
    with pytest.raises(InputError) as caught:
        build(lock, tmp_path / "c", archives={})
    assert (caught.value.message, caught.value.hint) == (
        'system package ca-certificates: archive "default" has no URL',
        "name it in the manifest's [system] archive, or add it to the machine's apt sources")


def _crafted(tmp_path: Path, pool: Path, *extra: tuple[tarfile.TarInfo, bytes],
             control: str = "") -> list[SystemPackage]:
    """The fixture set plus `evil` 1.0, a hand-made package holding `extra`."""
    text = control or "Package: evil\nVersion: 1.0\nArchitecture: amd64\n"
    deb = craft_deb(pool / "pool/main/e/evil/evil_1.0_amd64.deb", text, list(extra))
    return [*serve_debs(pool, specs("amd64")),
            system_record("evil", "1.0", deb, "pool/main/e/evil/evil_1.0_amd64.deb")]


@pytest.mark.parametrize(("extra", "message"), [
    (member("./dev/sda", kind=tarfile.BLKTYPE),
     "evil: /dev/sda is a device; images hold no device nodes or fifos (the engine "
     "provides /dev)"),
    (member("./run/pipe", kind=tarfile.FIFOTYPE),
     "evil: /run/pipe is a fifo; images hold no device nodes or fifos (the engine "
     "provides /dev)"),
    (member("./usr/../../etc/shadow", b"x"),
     'evil: member "./usr/../../etc/shadow" is not a plain relative path'),
    (member("/etc/shadow", b"x"), 'evil: member "/etc/shadow" is not a plain relative path'),
    (member("./usr/bin/tool", b"other"),
     "/usr/bin/tool is shipped by both evil and tool, differently, and tool does not "
     "replace evil"),
])
def test_a_package_that_cannot_be_unpacked_is_refused(
        tmp_path: Path, archive: tuple[Path, str], extra: tuple[tarfile.TarInfo, bytes],
        message: str) -> None:
    pool, url = archive
    lock = system_lock(system_target("amd", "linux/amd64", _crafted(tmp_path, pool, extra)))
    with pytest.raises(InputError) as caught:
        build(lock, tmp_path / "c", archives={"default": url})
    assert caught.value.message == message


def test_replaces_lets_a_package_take_over_a_file(tmp_path: Path,
                                                  archive: tuple[Path, str]) -> None:
    pool, url = archive
    records = _crafted(tmp_path, pool, member("./usr/bin/tool", b"evil's tool\n", mode=0o755),
                       control="Package: evil\nVersion: 1.0\nArchitecture: amd64\n"
                               "Replaces: tool (<< 3)\n")
    lock = system_lock(system_target("amd", "linux/amd64", records))
    result = build(lock, tmp_path / "c", archives={"default": url}, output=tmp_path / "o")
    files = layer_members(tmp_path / "o", result.targets["amd"].layers[0].digest)
    assert files["usr/bin/tool"][1] == b"evil's tool\n"
    # dpkg -S names the package that owns it now.
    assert b"/usr/bin/tool\n" in files["var/lib/dpkg/info/evil.list"][1]
    assert b"/bin/tool\n" not in files["var/lib/dpkg/info/tool.list"][1]


def test_hard_links_stay_links_to_the_first_path(tmp_path: Path,
                                                 archive: tuple[Path, str]) -> None:
    pool, url = archive
    records = _crafted(tmp_path, pool, member("./usr/lib/evil/z-prog", b"binary", mode=0o755),
                       member("./usr/lib/evil/a-prog", kind=tarfile.LNKTYPE,
                              link="./usr/lib/evil/z-prog"))
    lock = system_lock(system_target("amd", "linux/amd64", records))
    result = build(lock, tmp_path / "c", archives={"default": url}, output=tmp_path / "o")
    files = layer_members(tmp_path / "o", result.targets["amd"].layers[0].digest)
    first, data = files["usr/lib/evil/a-prog"]
    second, _ = files["usr/lib/evil/z-prog"]
    assert (first.isreg(), data, first.mode) == (True, b"binary", 0o755)
    assert (second.islnk(), second.linkname) == (True, "usr/lib/evil/a-prog")


def test_dpkg_reads_the_database_as_its_own(tmp_path: Path, archive: tuple[Path, str]) -> None:
    """Debian's own dpkg (on this machine) audits the database clean, finds each file's
    package (Multi-Arch: same ones by `pkg:arch`) and verifies every file's md5sum."""
    pool, url = archive
    lock = system_lock(system_target("amd", "linux/amd64", serve_debs(pool, specs("amd64"))))
    result = build(lock, tmp_path / "c", archives={"default": url}, output=tmp_path / "o")
    root = tmp_path / "root"
    blob = tmp_path / "o" / "blobs" / "sha256" / result.targets["amd"].layers[0].digest[7:]
    with tarfile.open(blob) as tar:
        tar.extractall(root, filter="tar")
    admin = ["--admindir", str(root / "var/lib/dpkg")]

    def dpkg(*args: str) -> tuple[int, str]:
        done = subprocess.run(["dpkg-query", *admin, *args], capture_output=True, text=True,
                              check=False)
        return done.returncode, done.stdout + done.stderr

    assert dpkg("-S", "/bin/tool", f"/usr/lib/{TRIPLETS['amd64'][0]}/libdemo.so.1") == (
        0, f"tool: /bin/tool\nlibdemo1:amd64: /usr/lib/{TRIPLETS['amd64'][0]}/libdemo.so.1\n")
    assert dpkg("-W", "-f", "${Package} ${Version} ${db:Status-Abbrev}\n") == (0, (
        "ca-certificates 20230311 ii \nlibc-bin 2.36-9 ii \nlibdemo1 1.0-1 ii \n"
        "python3.11-minimal 3.11.2-6 ii \ntool 2.0-1 ii \n"))
    audit = subprocess.run(["dpkg", *admin, "--audit"], capture_output=True, text=True,
                           check=False)
    verified = subprocess.run(["dpkg", *admin, "--root", str(root), "--verify"],
                              capture_output=True, text=True, check=False)
    assert (audit.returncode, audit.stdout, verified.returncode, verified.stdout) == \
        (0, "", 0, "")
