"""Images from Debian's real archive (`@pytest.mark.debian`): python3.11, libgomp1,
ca-certificates and git with their closure, for amd64 and arm64, built twice; the amd64
image runs in the Docker engine without a network, the arm64 one is checked as files.

The exact pins are the archive's current versions (bookworm keeps only those), taken from
its `Packages` index when the test runs (`debian_live.py`).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tomllib
from typing import Any

import pytest

from envbuild.image.load import load_images
from envbuild.image.store import Store
from envbuild.lockfile.model import Artifact, LockedPackage
from envbuild.runtime.proof import target_hash
from tests.image.services import docker_client
from tests.image.system.debian_live import apt_archive_url, closure, packages_index
from tests.image.system.support import build, layer_members, system_lock, system_target
from tests.support.indexserver import IndexServer
from tests.support.wheelfactory import DistSpec, build_wheel

pytestmark = [pytest.mark.debian, pytest.mark.slow]
# What the issue names, plus python3 (the `python3` command) and libc-bin (ldconfig, which
# ctypes.util.find_library runs): both are in every Debian system, as Priority: required.
ROOTS = ["python3", "python3.11", "libgomp1", "ca-certificates", "git", "libc-bin"]
PROBE = 'import ssl, json, sqlite3, ctypes.util; print(ctypes.util.find_library("gomp"))'
ALPHA = DistSpec(name="alpha", version="1.0")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    url = apt_archive_url()
    if url is None:
        pytest.skip("no Debian bookworm archive in the machine's apt sources")
    folder = tmp_path_factory.mktemp("live")
    system = {arch: closure(packages_index(url, arch, folder), ROOTS)
              for arch in ("amd64", "arm64")}
    with IndexServer() as server:
        server.add_index("local")
        wheel = build_wheel(ALPHA, folder / "wheels")
        server.add_file("local", wheel)
        alpha = LockedPackage(name="alpha", version="1.0", index="local", dependencies=(),
                              artifact=Artifact(kind="wheel", file=wheel.name,
                                                size=wheel.stat().st_size,
                                                hash="sha256:" + hashlib.sha256(
                                                    wheel.read_bytes()).hexdigest()))
        lock = system_lock(system_target("amd", "linux/amd64", system["amd64"], [alpha]),
                           system_target("arm", "linux/arm64", system["arm64"], [alpha]))
        kwargs: dict[str, Any] = {"archives": {"default": url}, "urls": server.urls}
        first = build(lock, folder / "c1", output=folder / "o1", **kwargs)
        # The second build fetches nothing (the .debs are copied over) but unpacks, finishes
        # and packs every layer again in a fresh cache.
        shutil.copytree(folder / "c1" / "debs", folder / "c2" / "debs")
        second = build(lock, folder / "c2", output=folder / "o2", **kwargs)
    return {"folder": folder, "first": first, "second": second, "lock": lock}


def test_two_builds_agree_for_amd64_and_arm64(built: dict[str, Any]) -> None:
    first, second = built["first"], built["second"]
    assert {n: t.digest for n, t in first.targets.items()} == \
        {n: t.digest for n, t in second.targets.items()}
    assert first.targets["amd"].digest != first.targets["arm"].digest


def test_the_arm64_python3_is_an_aarch64_program(built: dict[str, Any]) -> None:
    image = built["first"].targets["arm"]
    files = layer_members(built["folder"] / "o1", image.layers[0].digest)
    link, _ = files["usr/bin/python3"]
    program, data = files["usr/bin/" + link.linkname]
    assert (link.linkname, program.isreg()) == ("python3.11", True)
    assert data[:5] == b"\x7fELF\x02" and int.from_bytes(data[18:20], "little") == 183


def test_the_amd64_image_runs_python_git_and_its_checks_offline(built: dict[str, Any]) -> None:
    client: Any = docker_client()
    image = built["first"].targets["amd"]
    tag = f"envbuild-test/system:{image.digest[7:19]}"
    load_images([(tag, image)], Store(built["folder"] / "c1"))
    run = lambda *command, **kw: client.containers.run(  # noqa: E731
        tag, list(command), network_mode="none", remove=True, **kw).decode()
    assert run("python3", "-c", PROBE) == "libgomp.so.1\n"
    assert client.images.get(tag).attrs["Config"]["Cmd"] == ["python3"]
    assert run("python3", "-c", "import alpha, os; print(alpha.__version__, os.getuid())") == \
        "1.0 1000\n"
    assert run("git", "--version").startswith("git version 2.39.")
    # The CA bundle update-ca-certificates would have made is OpenSSL's default CA file.
    assert run("python3", "-c", "import ssl; print(ssl.create_default_context()"
               ".cert_store_stats()['x509_ca'] > 100)") == "True\n"
    # The image's own lock passes; so does the lock's system set against dpkg's database,
    # and a package at another version is named.
    verdict = json.loads(run("python3", "/opt/envbuild/runtime", "verify", "--no-hardware",
                             "--json"))
    assert verdict["ok"] is True, verdict
    checks = built["folder"] / "checks"
    checks.mkdir(mode=0o755)
    table = _table_with_system(built, image)
    (checks / "ok.json").write_text(json.dumps({"target": "amd", "table": table}))
    git = next(row for row in table["system"] if row["name"] == "git")
    table["system"] = [dict(row, version="1:0") if row is git else row for row in table["system"]]
    table["hash"] = target_hash({k: v for k, v in table.items() if k != "hash"})
    (checks / "bad.json").write_text(json.dumps({"target": "amd", "table": table}))
    for path in checks.iterdir():
        path.chmod(0o644)
    mounts = {str(checks): {"bind": "/checks", "mode": "ro"}}
    ok = run("python3", "/opt/envbuild/runtime", "verify", "--no-hardware", "--json",
             "--target-json", "/checks/ok.json", volumes=mounts)
    assert json.loads(ok)["ok"] is True, ok
    container = client.containers.run(tag, ["python3", "/opt/envbuild/runtime", "verify",
                                            "--no-hardware", "--target-json", "/checks/bad.json"],
                                      network_mode="none", volumes=mounts, detach=True)
    try:
        assert container.wait()["StatusCode"] == 1
        assert (f"system-version: git: locked at 1:0 (amd64), installed {git['version']} "
                "(amd64)") in container.logs(stdout=False, stderr=True).decode()
    finally:
        container.remove()


def _table_with_system(built: dict[str, Any], image: Any) -> dict[str, Any]:
    """The image's own target table with the lock's system set in it, hash recomputed (the
    lock's TOML form of `system` is the lock side's: this checks the verifier's half)."""
    payload = next(x for x in image.layers if x.name == "envbuild runtime and lock")
    files = layer_members(built["folder"] / "o1", payload.digest)
    table: dict[str, Any] = dict(tomllib.loads(
        files["opt/envbuild/envbuild.lock"][1].decode())["targets"]["amd"])
    target = built["lock"].targets["amd"]
    table["system-distribution"] = target.system_distribution
    table["system"] = [{"name": p.name, "version": p.version, "architecture": p.architecture}
                       for p in target.system]
    table.pop("hash")
    table["hash"] = target_hash(table)
    return table
