"""Nix's failures through `envbuild nix build`: envbuild's messages and exit codes."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pytest

from envbuild.lockfile import load
from tests.helpers import run_cli
from tests.image.project import ALPHA, BETA, CPU, Project
from tests.nix.conftest import needs_nix
from tests.support.locks import make_lock, write_lock
from tests.support.wheelfactory import DistSpec, build_wheel

pytestmark = needs_nix


def nix_build(project: Project, *extra: str) -> tuple[int, str]:
    """The exit code and what followed the progress lines on standard error."""
    result = run_cli(["nix", "build", "-f", str(project.manifest), *extra])
    lines = result.err.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.startswith("error: ")), 0)
    return result.code, "".join(lines[start:])


def sri_of(hex_digest: str) -> str:
    import base64

    return "sha256-" + base64.b64encode(bytes.fromhex(hex_digest)).decode()


def test_nix_missing_exits_2_saying_how_to_install(project: Project,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    code, err = nix_build(project)
    assert code == 2
    assert err == ("error: Nix is not installed: no nix-build on PATH\n"
                   "hint: install it (Debian: apt-get install nix-bin; elsewhere Nix's own "
                   "installer), then run again\n")


def test_tampered_wheel_fails_in_nix_naming_it(project: Project) -> None:
    project.write(tamper="beta")
    wheel = project.wheel_dir / BETA.wheel_filename
    locked = load(project.lock).targets["cpu"].packages[1].artifact.hash.split(":")[1]
    code, err = nix_build(project)
    assert code == 1, err
    assert err.splitlines()[0] == (
        f"error: beta: {BETA.wheel_filename}: Nix fetched a file whose hash is not the locked "
        f"one: locked {sri_of(locked)}, got {sri_of(hashlib.sha256(wheel.read_bytes()).hexdigest())}")


def test_fetch_failure_exits_3(project: Project) -> None:
    project.write(tamper="beta")  # a hash no store path has yet: Nix must download it
    export = run_cli(["export", "-f", str(project.manifest), "--format", "nix", "-o",
                      str(project.folder / "nix")])
    assert export.code == 0, export.err  # the URL is remembered; the index then loses it
    del project.server.index("local").files[BETA.wheel_filename]
    code, err = nix_build(project)
    assert code == 3, err
    url = project.server.file_url("local", BETA.wheel_filename)
    assert err.splitlines()[0] == (f"error: beta: {BETA.wheel_filename}: Nix could not download "
                                   f"{url}: HTTP error 404 ('Not Found')")


def test_image_without_nixpkgs_says_nixpkgs_is_needed(project: Project) -> None:
    code, err = nix_build(project, "-A", "image")
    assert code == 2, err
    assert err == ("error: the image attribute needs nixpkgs, and <nixpkgs> is not in Nix's "
                   "search path\nhint: set NIX_PATH=nixpkgs=PATH (a nixpkgs checkout or "
                   "channel), or build site or wheels, which need no nixpkgs\n")


def test_a_python_that_is_not_there_is_refused_before_nix_runs(project: Project,
                                                               tmp_path: Path) -> None:
    code, err = nix_build(project, "--python", str(tmp_path / "none/python3"))
    assert code == 2
    assert err == (f'error: --python "{tmp_path}/none/python3": no such file\n'
                   "hint: name an interpreter this machine has, by its full path\n")


def test_a_python_that_is_not_executable_is_refused(project: Project, tmp_path: Path) -> None:
    plain = tmp_path / "python3"
    plain.write_text("not a program\n")
    code, err = nix_build(project, "--python", str(plain))
    assert code == 2
    assert err == (f'error: --python "{plain}" is not executable\n'
                   "hint: name the interpreter itself, by its full path\n")


def test_an_out_link_over_a_file_is_refused(project: Project, tmp_path: Path) -> None:
    existing = tmp_path / "notes.txt"
    existing.write_text("keep me")
    code, err = nix_build(project, "-o", str(existing))
    assert code == 2
    assert err == (f"error: -o {existing} exists and is not a symlink; nix-build replaces "
                   "only a result link\nhint: choose a new path for -o, or remove that one\n")
    assert existing.read_text() == "keep me"


def test_an_export_dir_that_holds_something_else_names_export_dir(project: Project,
                                                                  tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    code, err = nix_build(project, "--export-dir", str(mine))
    assert code == 2
    assert err == (f"error: {mine} exists and is not an envbuild Nix export\n"
                   "hint: choose a new folder with --export-dir\n")
    assert (mine / "notes.txt").read_text() == "keep me"


def test_a_wheel_unpacking_outside_the_site_is_refused(project: Project, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import zipfile

    import tests.image.project as module

    spec = DistSpec(name="evil", version="1.0")
    path = build_wheel(spec, project.wheel_dir)
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("../../escape.txt", b"x")
    real = build_wheel
    monkeypatch.setattr(module, "build_wheel", lambda s, d: (
        d / s.wheel_filename if s.name == "evil" else real(s, d)))
    project.targets = {"cpu": {**CPU, "packages": [ALPHA, spec]}}
    project.write()
    code, err = nix_build(project)
    assert code == 1, err
    assert err.splitlines()[0] == (
        f"error: the site builder refused a wheel: {spec.wheel_filename}: member "
        "'../../escape.txt' would be written outside the site")


def test_a_relative_python_is_refused(project: Project) -> None:
    code, err = nix_build(project, "--python", "python3")
    assert code == 2
    assert err.splitlines()[0] == 'error: --python "python3" is not an absolute path'


def test_every_tampered_wheel_is_named_at_once(project: Project) -> None:
    project.targets = {"cpu": {**CPU, "packages": [ALPHA, BETA]}}
    project.write(tamper="alpha")
    lock = load(project.lock)
    alpha, beta = lock.targets["cpu"].packages
    tampered = dataclasses.replace(beta, artifact=dataclasses.replace(
        beta.artifact, hash="sha256:" + hashlib.sha256(b"not beta").hexdigest()))
    write_lock(project.lock, make_lock([dataclasses.replace(lock.targets["cpu"],
                                                            packages=(alpha, tampered))],
                                       name=lock.name, python=lock.python, indexes=lock.indexes))
    code, err = nix_build(project)
    assert code == 1, err
    lines = err.splitlines()
    assert lines[0].startswith(f"error: alpha: {ALPHA.wheel_filename}: Nix fetched a file")
    assert lines[1].startswith(f"beta: {BETA.wheel_filename}: Nix fetched a file")


def test_an_sdist_in_the_lock_is_refused(project: Project) -> None:
    lock = load(project.lock)
    target = lock.targets["cpu"]
    beta = target.packages[1]
    sdist = dataclasses.replace(beta, artifact=dataclasses.replace(
        beta.artifact, kind="sdist", file="beta-1.0.tar.gz"))
    write_lock(project.lock, make_lock([dataclasses.replace(
        target, packages=(target.packages[0], sdist, target.packages[2]))],
        name=lock.name, python=lock.python, indexes=lock.indexes))
    code, err = nix_build(project)
    assert code == 2
    assert err == ("error: beta 1.0 is locked as an sdist; the Nix export fetches wheels only\n"
                   "hint: publish a wheel of beta to an index and re-lock\n")
