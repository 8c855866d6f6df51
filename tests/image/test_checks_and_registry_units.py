"""Base glibc floors, image references and Docker-config credentials (no services needed)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from envbuild.errors import InputError
from envbuild.image.checks import wheel_glibc_floor
from envbuild.image.registry.auth import find_credentials, parse_challenge
from envbuild.image.registry.interface import parse_reference
from envbuild.image.rootfs import pack_rootfs
from tests.helpers import run_cli
from tests.image.project import ALPHA, CPU, Project, native


def debian_like_base(folder: Path, glibc: str) -> None:
    tree = folder.parent / f"{folder.name}-tree"
    (tree / "usr/bin").mkdir(parents=True)
    (tree / "usr/bin/python3.11").write_bytes(b"\x7fELF fake")
    (tree / "usr/bin/python3.11").chmod(0o755)
    (tree / "usr/bin/python3").symlink_to("python3.11")  # pack_rootfs's Cmd, which is checked
    (tree / "var/lib/dpkg").mkdir(parents=True)
    (tree / "var/lib/dpkg/status").write_text(
        "Package: libc-bin\nVersion: 9.99-1\n\n"
        f"Package: libc6\nStatus: install ok installed\nVersion: {glibc}-1+deb\n\n")
    pack_rootfs(tree, folder, epoch=0)


@pytest.mark.parametrize(("glibc", "code"), [("2.17", 2), ("2.28", 0)])
def test_base_glibc_below_a_wheels_floor_is_refused(project: Project, tmp_path: Path,
                                                     glibc: str, code: int) -> None:
    project.targets = {"cpu": {**CPU, "packages": [ALPHA,
                                                   native("cp311-cp311-manylinux_2_28_x86_64")]}}
    debian_like_base(tmp_path / "base", glibc)
    project.image = f'\n[image]\nbase = "oci:{tmp_path / "base"}"\n'
    project.write()
    out = tmp_path / "out"
    result = run_cli(["image", "-f", str(project.manifest), "--output", f"oci:{out}"])
    assert result.code == code, result.err
    if code:
        assert (f'target "cpu": base oci:{tmp_path / "base"} has glibc 2.17, which locked '
                "wheels cannot use:\n  fastmath-2.0-cp311-cp311-manylinux_2_28_x86_64.whl needs "
                "glibc 2.28") in result.err
        assert not out.exists()


@pytest.mark.parametrize(("name", "floor"), [
    ("a-1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", (2, 17)),
    ("a-1-cp311-cp311-manylinux_2_28_aarch64.whl", (2, 28)),
    ("a-1-cp311-cp311-manylinux1_x86_64.manylinux_2_5_x86_64.whl", (2, 5)),
    ("a-1-cp311-cp311-manylinux2010_x86_64.whl", (2, 12)),
    ("a-1-py3-none-any.whl", None),
    ("a-1-cp311-cp311-musllinux_1_2_x86_64.whl", None),
])
def test_wheel_glibc_floor(name: str, floor: tuple[int, int] | None) -> None:
    assert wheel_glibc_floor(name) == floor


@pytest.mark.parametrize(("text", "parts"), [
    ("127.0.0.1:5000/base/python:3.11", ("127.0.0.1:5000", "base/python", "3.11", None)),
    ("localhost/app@sha256:" + "a" * 64, ("localhost", "app", None, "sha256:" + "a" * 64)),
    ("registry.example.com/org/img:v1@sha256:" + "b" * 64,
     ("registry.example.com", "org/img", "v1", "sha256:" + "b" * 64)),
])
def test_parse_reference(text: str, parts: tuple[str, str, str | None, str | None]) -> None:
    ref = parse_reference(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == parts


def test_plain_http_only_for_loopback() -> None:
    assert parse_reference("127.0.0.1:5000/a").plain_http
    assert parse_reference("localhost:5000/a").plain_http
    assert not parse_reference("registry.example.com/a").plain_http


@pytest.mark.parametrize("text", ["Python 3.11!", "host/a@sha256:xyz", "HOST/Upper", "python:3.11"])
def test_bad_reference(text: str) -> None:
    with pytest.raises(InputError):
        parse_reference(text)


def test_credentials_from_auths_and_helpers(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    helper = tmp_path / "bin" / "docker-credential-fake"
    helper.parent.mkdir()
    helper.write_text('#!/bin/sh\nread host\nif [ "$host" = "helped.example" ]; then\n'
                      '  echo \'{"Username":"hu","Secret":"hs"}\'\nelse\n'
                      '  echo "credentials not found in native keychain"; exit 1\nfi\n')
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{helper.parent}:/usr/bin:/bin")
    config = tmp_path / "config.json"
    config.write_text(json.dumps({
        "auths": {"plain.example": {"auth": base64.b64encode(b"u:p").decode()},
                  "https://secure.example/": {"username": "hub", "password": "hp"}},
        "credHelpers": {"helped.example": "fake"}}))
    got = find_credentials("plain.example", config)
    assert got is not None and (got.username, got.secret) == ("u", "p")
    got = find_credentials("helped.example", config)
    assert got is not None and (got.username, got.secret) == ("hu", "hs")
    got = find_credentials("secure.example", config)
    assert got is not None and got.username == "hub"
    assert find_credentials("other.example", config) is None
    config.write_text(json.dumps({"credsStore": "fake"}))
    assert find_credentials("other.example", config) is None  # helper: not found
    got = find_credentials("helped.example", config)
    assert got is not None and got.secret == "hs"


def test_bearer_challenge_is_parsed() -> None:
    challenge = parse_challenge('Bearer realm="https://auth.example/token",'
                                'service="registry.example",scope="repository:a/b:pull"')
    assert challenge is not None and challenge.scheme == "bearer"
    assert challenge.params == {"realm": "https://auth.example/token",
                                "service": "registry.example", "scope": "repository:a/b:pull"}


def test_musllinux_wheel_is_refused_on_a_glibc_base() -> None:
    from envbuild.image.checks import BaseTooOld, check_glibc
    from envbuild.lockfile.model import Artifact, LockedPackage, LockedTarget

    wheel = LockedPackage(name="m", version="1", index="default", dependencies=(),
                          artifact=Artifact(kind="wheel", file="m-1-cp311-cp311-musllinux_1_2_x86_64.whl",
                                            size=1, hash="sha256:" + "0" * 64))
    target = LockedTarget(name="cpu", hash="sha256:" + "1" * 64, input_hash="sha256:" + "2" * 64,
                          platform="linux/amd64", python="3.11", glibc="2.28", cuda=None, gpus=(),
                          driver_floor=None, resolver="uv", requirements=(), hardware=(), packages=(wheel,))
    with pytest.raises(BaseTooOld) as info:
        check_glibc(target, "oci:base", "2.36")
    assert "m-1-cp311-cp311-musllinux_1_2_x86_64.whl needs musl, not glibc" in info.value.message
