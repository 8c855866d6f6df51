"""`envbuild lock` with [system]: the closure of Debian packages per target, from a signed
archive on 127.0.0.1, recorded in the target's table and so in its hash."""

from __future__ import annotations

import dataclasses
import hashlib
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from envbuild.lockfile import load
from tests.conftest import LocalIndex
from tests.helpers import run_cli
from tests.support.debarchive import ArchiveKey
from tests.support.locks import sealed, write_lock
from tests.system.archive import Served, served


@pytest.fixture
def repo(eb_env: dict[str, str], tmp_path: Path, debian_archive_key: ArchiveKey) -> Iterator[Served]:
    with served(tmp_path, debian_archive_key) as s:
        yield s


def lock(s: Served, *args: str) -> tuple[int, str]:
    result = run_cli(["lock", "-f", str(s.folder / "envbuild.toml"), *args])
    return result.code, result.err


def test_the_closure_is_locked_with_files_sizes_and_hashes(repo: Served) -> None:
    repo.manifest(["hello", "mailer", "altuser"], targets='[targets.cpu]\nplatform = "linux/amd64"\n'
                  '[targets.arm]\nplatform = "linux/arm64"\nsystem-packages = ["tinymta"]\n')
    code, err = lock(repo)
    assert code == 0, err
    cpu = repo.system("cpu")
    # Requests, their dependencies (an alternative's first satisfiable choice, a virtual
    # package's highest-priority provider), and the Essential set with its own dependencies.
    assert sorted(cpu) == ["altuser", "base-files", "bigmta", "dash", "hello", "libc6", "libgreet1", "mailer"]
    assert cpu["hello"]["dependencies"] == ["libc6", "libgreet1"]
    assert cpu["altuser"]["dependencies"] == ["libgreet1"]
    assert cpu["mailer"]["dependencies"] == ["bigmta"]
    assert cpu["dash"]["dependencies"] == ["libc6"]
    libc = repo.archive.deb("libc6", "amd64")
    assert cpu["libc6"] == {
        "name": "libc6", "version": "2.36-9", "architecture": "amd64", "archive": "default",
        "path": "pool/main/g/glibc/libc6_2.36-9_amd64.deb", "size": libc.stat().st_size,
        "hash": "sha256:" + hashlib.sha256(libc.read_bytes()).hexdigest(), "dependencies": []}
    arm = repo.system("arm")
    # The arm target's own extra, tinymta, is chosen as a request, and so it, not bigmta,
    # provides mailer's mail-transport-agent there.
    assert sorted(arm) == ["altuser", "base-files", "dash", "hello", "libc6", "libgreet1", "mailer", "tinymta"]
    assert arm["libc6"]["path"] == "pool/main/g/glibc/libc6_2.36-9_arm64.deb"
    assert arm["mailer"]["dependencies"] == ["tinymta"]  # a chosen provider is used first
    assert 'system-distribution = "debian:bookworm"' in repo.lock_text()
    assert repo.url.split("//")[1] not in repo.lock_text()  # the archive is recorded by name only
    assert run_cli(["lock", "--check", "-f", str(repo.folder / "envbuild.toml")]).code == 0


def test_relock_is_byte_identical_and_reads_no_index_again(repo: Served) -> None:
    repo.manifest(["hello"])
    assert lock(repo)[0] == 0
    first = repo.lock_text()
    (repo.folder / "envbuild.lock").unlink()
    repo.server.requests.clear()
    assert lock(repo)[0] == 0
    assert repo.lock_text() == first
    # The parsed index is cached by its sha256: only the signed InRelease is fetched again.
    assert repo.server.requests == ["GET /debian/dists/bookworm/InRelease 200"]
    assert lock(repo, "--upgrade")[0] == 0
    assert repo.lock_text() == first


def test_a_changed_system_hash_makes_the_lock_fail_to_prove(repo: Served) -> None:
    repo.manifest(["hello"])
    assert lock(repo)[0] == 0
    digest = repo.system()["hello"]["hash"]
    recorded = tomllib.loads(repo.lock_text())["targets"]["cpu"]["hash"]
    lock_path = repo.folder / "envbuild.lock"
    lock_path.write_text(repo.lock_text().replace(digest, "sha256:" + "0" * 64))
    result = run_cli(["lock", "--check", "-f", str(repo.folder / "envbuild.toml")])
    assert result.code == 1
    assert (f'target "cpu": its content does not match its recorded hash (recorded {recorded}, '
            "content hashes to sha256:") in result.err
    shown = run_cli(["show", "--lock", str(lock_path)])
    assert shown.code == 1 and "the lock does not prove" in shown.err


def test_check_sees_a_new_system_package(repo: Served) -> None:
    repo.manifest(["hello"])
    assert lock(repo)[0] == 0
    repo.manifest(["hello", "mailer"])
    result = run_cli(["lock", "--check", "-f", str(repo.folder / "envbuild.toml")])
    assert result.code == 1
    assert '  - target "cpu": +system mailer\n' in result.err


def test_tampered_packages_index_is_refused(repo: Served) -> None:
    repo.archive.tamper_packages("amd64", "Version: 1.3-1", "Version: 1.3-2")
    repo.manifest(["hello"])
    code, err = lock(repo)
    index = repo.archive.dist / "main/binary-amd64/Packages.xz"
    data = index.read_bytes()
    listed = next(line.split() for line in (repo.archive.dist / "Release").read_text().splitlines()
                  if line.endswith("main/binary-amd64/Packages.xz"))
    got = f"more than {listed[1]} bytes" if len(data) > int(listed[1]) else \
        f"{len(data)} bytes, sha256:{hashlib.sha256(data).hexdigest()}"
    assert code == 1
    assert (f"error: debian:bookworm at {repo.url}: dists/bookworm/main/binary-amd64/Packages.xz does not "
            f"match the signed Release (listed {listed[1]} bytes, sha256:{listed[0]}; got {got})") in err


def test_a_signed_index_naming_a_path_outside_the_pool_is_refused(repo: Served) -> None:
    repo.archive.tamper_packages("amd64", "Filename: pool/main/h/hello/", "Filename: pool/../../../")
    repo.archive.resign()
    repo.manifest(["hello"])
    code, err = lock(repo)
    assert code == 1
    assert (f"error: debian:bookworm at {repo.url}: \"pool/../../../hello_1.0-1_all.deb\": "
            "component \"..\" is not a file name in 'hello.Filename'") in err


def test_bad_signature_is_refused(repo: Served) -> None:
    repo.archive.break_signature()
    repo.manifest(["hello"])
    code, err = lock(repo)
    assert code == 1
    assert (f"error: debian:bookworm at {repo.url}: dists/bookworm/InRelease has a BAD signature: "
            "it was changed after signing") in err


def test_unsigned_release_is_refused(repo: Served) -> None:
    repo.archive.unsign()
    repo.manifest(["hello"])
    code, err = lock(repo)
    assert code == 1
    assert f"error: debian:bookworm at {repo.url}: dists/bookworm/InRelease is not signed" in err


def test_a_key_outside_the_keyring_is_refused(repo: Served, tmp_path: Path) -> None:
    other = ArchiveKey.generate(tmp_path / "other")
    try:
        repo.manifest(["hello"])
        manifest = repo.folder / "envbuild.toml"
        manifest.write_text(manifest.read_text().replace(str(repo.archive.key.keyring), str(other.keyring)))
        code, err = lock(repo)
    finally:
        other.close()
    assert code == 1
    assert (f"error: debian:bookworm at {repo.url}: dists/bookworm/InRelease is not signed by a key "
            f"of {other.keyring}") in err


def test_missing_dependency_names_the_chain(repo: Served) -> None:
    repo.manifest(["broken"])
    code, err = lock(repo)
    assert code == 2
    assert (f"error: debian:bookworm at {repo.url} (amd64): broken -> libnothere: no package libnothere "
            "in the archive for amd64") in err


def test_unknown_request(repo: Served) -> None:
    repo.manifest(["nosuch"])
    code, err = lock(repo)
    assert code == 2
    assert (f'error: debian:bookworm at {repo.url} (amd64): target "cpu": a requested package is not in '
            "the archive:\n  nosuch ([system] packages)\n") in err


def test_every_unknown_request_is_named_with_its_key_and_a_close_name(repo: Served) -> None:
    repo.manifest(["helo", "mailer", "nosuch"], targets='[targets.cpu]\nplatform = "linux/amd64"\n'
                  'system-packages = ["libgret1"]\n')
    code, err = lock(repo)
    assert code == 2
    assert (f'error: debian:bookworm at {repo.url} (amd64): target "cpu": 3 requested packages are not in '
            "the archive:\n"
            "  helo ([system] packages): did you mean hello?\n"
            "  libgret1 ([targets.cpu] system-packages): did you mean libgreet1?\n"
            "  nosuch ([system] packages)\n"
            "hint: check the package names, [system] components and the target's platform\n") in err


def test_a_misspelt_codename_is_named_with_the_close_ones(repo: Served) -> None:
    path = repo.manifest(["hello"])
    path.write_text(path.read_text().replace("debian:bookworm", "debian:bookwrom"))
    code, err = lock(repo)
    assert code == 2
    assert ('error: [system] distribution: "bookwrom" is not a Debian codename; did you mean bookworm?\n'
            "hint: known codenames: buster, bullseye, bookworm, trixie, forky, duke, sid, experimental; "
            'write distribution = "debian:<codename>"\n') in err


def test_version_constraint_that_the_archive_cannot_meet(repo: Served) -> None:
    repo.manifest(["needs-new"])
    code, err = lock(repo)
    assert code == 2
    assert (f"error: debian:bookworm at {repo.url} (amd64): needs-new -> libgreet1: needs libgreet1 (>= 2), "
            "the archive has libgreet1 1.3-1") in err


def test_a_requested_version_constraint_is_met(repo: Served) -> None:
    repo.manifest(["hello (>= 1.0)", "libgreet1 (<< 1.3)"])
    code, err = lock(repo)
    assert code == 2
    assert (f"error: debian:bookworm at {repo.url} (amd64): libgreet1: needs libgreet1 (<< 1.3), "
            "the archive has libgreet1 1.3-1") in err


def test_conflict_names_both_chains(repo: Served) -> None:
    repo.manifest(["hello", "old-greeter"])
    code, err = lock(repo)
    assert code == 2
    assert (f"error: debian:bookworm at {repo.url} (amd64): old-greeter (0.9) conflicts with libgreet1, "
            "and hello -> libgreet1 (1.3-1) is chosen") in err


def test_a_locked_version_that_left_the_archive(repo: Served, local_index: LocalIndex) -> None:
    repo.manifest(["hello"])
    assert lock(repo)[0] == 0
    repo.archive.specs = [s if s.name != "libgreet1" else
                          type(s)(**{**{f: getattr(s, f) for f in s.__dataclass_fields__}, "version": "1.4-1"})
                          for s in repo.archive.specs]
    repo.archive.rebuild()
    before = repo.lock_text()
    repo.manifest(["hello", "mailer"])
    code, err = lock(repo)
    assert code == 3
    assert (f"error: debian:bookworm at {repo.url} (amd64): libgreet1 1.3-1, locked for hello -> libgreet1, "
            "is no longer in the archive (it now has libgreet1 1.4-1)") in err
    assert "hint: re-lock with `envbuild lock --upgrade`" in err and "snapshot mirror" in err
    assert repo.lock_text() == before
    code, err = lock(repo, "--upgrade")
    assert code == 0, err
    assert repo.system()["libgreet1"]["version"] == "1.4-1"


def test_diff_shows_system_changes(repo: Served) -> None:
    repo.manifest(["hello"])
    assert lock(repo)[0] == 0
    old = repo.folder / "old.lock"
    old.write_text(repo.lock_text())
    repo.manifest(["hello", "mailer"])
    assert lock(repo)[0] == 0
    result = run_cli(["diff", str(old), str(repo.folder / "envbuild.lock")])
    assert result.code == 0, result.err
    assert "  + system bigmta 4.96\n" in result.out
    assert "  + system mailer 2.0\n" in result.out
    markdown = run_cli(["diff", str(old), str(repo.folder / "envbuild.lock"), "--format", "markdown"])
    assert markdown.code == 0, markdown.err
    assert "- `+ system mailer 2.0`" in markdown.out


def test_a_macos_target_with_system_packages_is_bad_input(repo: Served) -> None:
    repo.manifest(["hello"], targets='[targets.mac]\nplatform = "darwin/arm64"\n')
    code, err = lock(repo)
    assert code == 2
    assert ('targets.mac.platform: "darwin/arm64" is not Linux: [system] packages are Debian packages '
            "for Linux targets") in err



def test_a_manylinux_wheel_brings_the_baseline_libraries(repo: Served) -> None:
    repo.manifest(["hello"])  # pure wheels only: no baseline
    assert lock(repo)[0] == 0
    assert "libstdc++6" not in repo.system()
    pure = repo.folder / "pure.lock"
    pure.write_text(repo.lock_text())
    # armless is a cp311 manylinux x86_64 wheel: its extension may link libstdc++.so.6.
    repo.manifest(["hello"], python='["armless"]')
    code, err = lock(repo)
    assert code == 0, err
    assert sorted(repo.system()) == ["base-files", "dash", "hello", "libc6", "libgcc-s1", "libgreet1",
                                     "libstdc++6"]
    assert repo.system()["libstdc++6"]["dependencies"] == ["libc6", "libgcc-s1"]
    diffed = run_cli(["diff", str(pure), str(repo.folder / "envbuild.lock")])
    assert diffed.code == 0, diffed.err
    assert "  + system libgcc-s1 12.2.0-14\n" in diffed.out
    assert "  + system libstdc++6 12.2.0-14\n" in diffed.out


def test_check_names_a_missing_baseline_library(repo: Served) -> None:
    repo.manifest(["hello"], python='["armless"]')
    assert lock(repo)[0] == 0
    # A lock made before the baseline was requested: the same, without libstdc++6.
    lock_path = repo.folder / "envbuild.lock"
    old = load(lock_path)
    cpu = old.targets["cpu"]
    system = tuple(dataclasses.replace(p, dependencies=tuple(d for d in p.dependencies if d != "libstdc++6"))
                   for p in cpu.system if p.name != "libstdc++6")
    write_lock(lock_path, sealed(dataclasses.replace(
        old, targets={"cpu": dataclasses.replace(cpu, system=system)})))
    result = run_cli(["lock", "--check", "-f", str(repo.folder / "envbuild.toml")])
    assert result.code == 1
    assert 'target "cpu": system package libstdc++6 is requested but not locked' in result.err
