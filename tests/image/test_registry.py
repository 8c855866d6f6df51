"""`envbuild image --push/--load` against the real local registry and Docker engine."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from envbuild.cluster.images import record_path
from envbuild.image.registry.distribution import open_registry
from envbuild.image.registry.interface import parse_reference
from tests.helpers import run_cli
from tests.image.project import ALPHA, CPU, NVIDIA, Project
from tests.image.services import docker_client, pushed_base, registry_address
from tests.support.wheelfactory import DistSpec, raw_member

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.registry


def setup(project: Project, **image: str) -> str:
    """Point the project at the pushed base and a fresh repository; return the repository."""
    address = registry_address()
    repository = f"{address}/test/img-{uuid.uuid4().hex[:8]}"
    settings = {"base": pushed_base(address), "repository": repository, **image}
    project.image = "\n[image]\n" + "".join(f'{k} = "{v}"\n' for k, v in settings.items())
    project.write()
    return repository


def push(project: Project, *extra: str) -> tuple[int, dict[str, Any], str]:
    result = run_cli(["image", "-f", str(project.manifest), "--push", *extra, "--json"])
    return result.code, json.loads(result.out) if result.code == 0 else {}, result.err


def tags(repository: str) -> list[str]:
    ref = parse_reference(repository)
    registry = open_registry(ref)
    try:
        with registry._call("GET", f"/v2/{ref.repository}/tags/list", ref.repository) as r:
            found: list[str] = json.loads(r.read()).get("tags") or []
    except Exception:  # no such repository yet
        return []
    finally:
        registry.close()
    return found


def test_push_then_run_in_engine_imports_and_verifies(project: Project, tmp_path: Path) -> None:
    repository = setup(project)
    client: Any = docker_client()
    out = tmp_path / "layout"
    code, document, err = push(project, "--load", "--output", f"oci:{out}")
    assert code == 0, err
    (pushed,) = document["pushed"]
    target = document["targets"]["cpu"]
    assert pushed["digest"] == target["digest"]  # the layout's digest is what was pushed
    index = json.loads((out / "index.json").read_bytes())
    assert index["manifests"][0]["digest"] == target["digest"]
    assert pushed["reference"] == f"{repository}:lock-{target['image_hash'][7:19]}"
    # The engine pulls it back by digest from the registry: same bytes.
    pulled = client.images.pull(f"{repository}@{target['digest']}")
    assert pulled.attrs["RepoDigests"][0].endswith(target["digest"])
    (tag,) = document["loaded"]
    script = ("import alpha, beta, fastmath, sys; "
              "assert fastmath.MACHINE == 'x86_64'; print(sys.version.split()[0])")
    printed = client.containers.run(tag, ["python3", "-c", script], network_mode="none",
                                    remove=True).decode()
    assert printed.startswith("3.11.")
    # The image knows its lock and target (ENVBUILD_LOCK, ENVBUILD_TARGET): no arguments needed.
    verdict = client.containers.run(
        tag, ["python3", "/opt/envbuild/runtime", "verify", "--no-hardware", "--json"],
        network_mode="none", remove=True).decode()
    assert json.loads(verdict)["ok"] is True, verdict


def test_nothing_changed_push_uploads_nothing(project: Project) -> None:
    """A re-push with nothing changed only asks the registry (how long that takes is
    measured by scripts/bench_image, not here: a timed test fails on a loaded machine)."""
    setup(project)
    code, first, err = push(project)
    assert code == 0 and first["pushed"][0]["unchanged"] is False, err
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run([sys.executable, "-m", "envbuild", "image", "-f", str(project.manifest),
                           "--push", "--json"], env=env, capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
    again = json.loads(done.stdout)["pushed"][0]
    assert again["unchanged"] is True and again["digest"] == first["pushed"][0]["digest"]
    assert again["uploaded"] == []


def test_one_package_bump_pushes_only_changed_layers(project: Project) -> None:
    project.targets = {"cpu": {**CPU, "packages": [ALPHA, NVIDIA, DistSpec(name="beta",
                                                                          version="1.0")]}}
    setup(project)
    code, before, err = push(project)
    assert code == 0, err
    project.targets = {"cpu": {**CPU, "packages": [ALPHA, NVIDIA, DistSpec(name="beta",
                                                                          version="1.1")]}}
    project.write()
    code, after, err = push(project)
    assert code == 0, err
    old = {x["digest"] for x in before["targets"]["cpu"]["layers"]}
    new = after["targets"]["cpu"]["layers"]
    changed = {x["digest"] for x in new if x["digest"] not in old}
    assert [x["name"] for x in new if x["digest"] in changed] == [
        "2 packages", "envbuild runtime and lock"]
    assert set(after["pushed"][0]["uploaded"]) == changed | {after["targets"]["cpu"]["config"]}


def test_deleted_image_is_pushed_again(project: Project) -> None:
    repository = setup(project)
    code, first, err = push(project)
    assert code == 0, err
    digest = first["pushed"][0]["digest"]
    ref = parse_reference(repository)
    registry = open_registry(ref)
    registry.delete_manifest(ref.with_digest(digest))
    assert registry.manifest_digest(ref.with_tag(first["pushed"][0]["reference"]
                                                 .rsplit(":", 1)[1])) is None
    registry.close()
    code, again, err = push(project)
    assert code == 0, err
    assert again["pushed"][0]["unchanged"] is False
    assert again["pushed"][0]["digest"] == digest


def test_registry_down_exits_3_and_pushes_nothing(project: Project, tmp_path: Path) -> None:
    setup(project)
    out = tmp_path / "layout"
    result = run_cli(["image", "-f", str(project.manifest), "--push", "127.0.0.1:9/none/app",
                      "--output", f"oci:{out}"])
    assert result.code == 3, result.err
    assert "cannot reach registry 127.0.0.1:9" in result.err
    assert "Traceback" not in result.err


def test_wrong_base_digest_exits_1_and_leaves_nothing(project: Project, tmp_path: Path) -> None:
    """The lock pins a manifest the registry does not hold (deleted since locking)."""
    address = registry_address()
    repository = setup(project)
    project.image = (f'\n[image]\nbase = "{address}/base/python:3.11"\n'
                     f'repository = "{repository}"\n')
    project.base_pins = {"cpu": (f"{address}/base/python:3.11", f"sha256:{'0' * 64}")}
    project.write()
    out = tmp_path / "layout"
    result = run_cli(["image", "-f", str(project.manifest), "--push", "--output", f"oci:{out}"])
    assert result.code == 1, result.err
    assert f"the registry has no manifest sha256:{'0' * 64}" in result.err
    assert not out.exists() and tags(repository) == []


def test_tampered_wheel_exits_1_and_pushes_nothing(project: Project) -> None:
    repository = setup(project)
    project.write(tamper="beta")
    result = run_cli(["image", "-f", str(project.manifest), "--push"])
    assert result.code == 1, result.err
    assert "beta" in result.err
    assert tags(repository) == []


def test_two_platforms_are_pushed_as_one_index(project: Project) -> None:
    from tests.image.project import ARM64

    project.targets = {"amd": CPU, "arm": ARM64}
    address = registry_address()
    repository = f"{address}/test/multi-{uuid.uuid4().hex[:8]}"
    project.image = f'\n[image]\nrepository = "{repository}"\n'  # no base: no arm64 base here
    project.write()
    code, document, err = push(project)
    assert code == 0, err
    (pushed,) = document["pushed"]
    assert pushed["targets"] == ["amd", "arm"]
    ref = parse_reference(pushed["reference"])
    registry = open_registry(ref)
    index = json.loads(registry.get_manifest(ref).data)
    registry.close()
    assert [m["platform"]["architecture"] for m in index["manifests"]] == ["amd64", "arm64"]
    assert {m["digest"] for m in index["manifests"]} == {
        document["targets"]["amd"]["digest"], document["targets"]["arm"]["digest"]}


def test_push_records_the_digest_for_envbuild_cluster(project: Project) -> None:
    repository = setup(project)
    code, document, err = push(project)
    assert code == 0, err
    record = json.loads((project.folder / "envbuild.lock.d" / "images.json").read_text())
    entry = record["targets"]["cpu"]
    assert entry["ref"] == repository
    assert entry["digest"] == document["pushed"][0]["digest"]


# A wheel with a .pth file (run by site.py only in a site directory, never from PYTHONPATH)
# and a module named like a standard-library one (which must not shadow it).
PTH = DistSpec(name="pthprobe", version="1.0",
               files={"pthprobe/__init__.py": "__version__ = '1.0'\n",
                      "pthprobe-init.pth": "import os; os.environ['PTHPROBE'] = 'ran'\n",
                      "colorsys.py": "SHADOWED = True\n"})


def test_packages_sit_in_a_site_directory_so_pth_files_run(project: Project,
                                                           tmp_path: Path) -> None:
    project.targets = {"cpu": {**CPU, "packages": [*CPU["packages"], PTH]}}
    setup(project)
    client: Any = docker_client()
    out = tmp_path / "layout"
    code, document, err = push(project, "--load", "--output", f"oci:{out}")
    assert code == 0, err
    (tag,) = document["loaded"]
    env = client.images.get(tag).attrs["Config"]["Env"]
    assert not [e for e in env if e.startswith("PYTHONPATH=")], env
    script = ("import os, sys, colorsys, pthprobe, alpha; "
              "print(os.environ.get('PTHPROBE'), pthprobe.__file__, colorsys.__file__, "
              "sys.path.index('/usr/lib/python3.11') < "
              "sys.path.index('/usr/local/lib/python3.11/dist-packages'))")
    printed = client.containers.run(tag, ["python3", "-c", script], network_mode="none",
                                    remove=True).decode().split()
    assert printed == ["ran", "/usr/local/lib/python3.11/dist-packages/pthprobe/__init__.py",
                       "/usr/lib/python3.11/colorsys.py", "True"]
    # The console script runs with the image's interpreter and finds its package.
    alpha = client.containers.run(tag, ["sh", "-c", "head -1 /usr/local/bin/alpha"],
                                  network_mode="none", remove=True).decode()
    assert alpha.strip() == "#!/usr/bin/python3.11"
    # Isolated mode (how the Kubernetes Job starts the verifier) keeps site directories.
    verdict = client.containers.run(
        tag, ["python3", "-I", "/opt/envbuild/runtime", "verify", "--no-hardware", "--json"],
        network_mode="none", remove=True).decode()
    assert json.loads(verdict)["ok"] is True, verdict


# A package with a file big enough to be spliced: its layer is a multi-member gzip whose
# big member is the wheel's own deflate stream (envbuild/image/layers.py).
WEIGHTS = DistSpec(name="weights", version="1.0", files={
    "weights/__init__.py": "",
    "weights/table.bin": b"".join(f"{i:08d} {i * 2654435761 % 2**32:010d}\n".encode()
                                  for i in range(150_000))})


def test_a_layer_with_a_copied_wheel_stream_is_pulled_and_verified_by_the_engine(
        project: Project, tmp_path: Path) -> None:
    project.targets = {"cpu": {**CPU, "packages": [*CPU["packages"], WEIGHTS]}}
    repository = setup(project)
    client: Any = docker_client()
    out = tmp_path / "layout"
    code, document, err = push(project, "--output", f"oci:{out}")
    assert code == 0, err
    target = document["targets"]["cpu"]
    (wheel,) = project.wheel_dir.glob("weights-1.0-*.whl")
    copied = raw_member(wheel, "weights/table.bin")
    assert [b for b in (out / "blobs/sha256").iterdir() if copied in b.read_bytes()]
    # The size recorded for `envbuild cluster`'s disks is the layers' tars, every member
    # counted (a gzip trailer holds only its own member's size).
    manifest = json.loads((out / "blobs/sha256" / target["digest"][7:]).read_bytes())
    tars = sum(len(gzip.decompress((out / "blobs/sha256" / layer["digest"][7:]).read_bytes()))
               for layer in manifest["layers"])
    recorded = json.loads(record_path(project.lock).read_text())["targets"]["cpu"]
    assert recorded["unpacked_bytes"] == tars
    # The engine pulls it from the registry (Go's gzip reader), unpacks every member, and
    # the image's own verifier checks every installed file against its RECORD.
    reference = f"{repository}@{target['digest']}"
    client.images.pull(reference)
    expected = hashlib.sha256(WEIGHTS.files["weights/table.bin"]).hexdigest()  # type: ignore[arg-type]
    script = ("import hashlib, weights, os; "
              "print(hashlib.sha256(open(os.path.dirname(weights.__file__) + '/table.bin', "
              "'rb').read()).hexdigest())")
    printed = client.containers.run(reference, ["python3", "-c", script], network_mode="none",
                                    remove=True).decode().strip()
    assert printed == expected
    verdict = client.containers.run(
        reference, ["python3", "/opt/envbuild/runtime", "verify", "--deep", "--no-hardware",
                    "--json"], network_mode="none", remove=True).decode()
    assert json.loads(verdict)["ok"] is True, verdict
