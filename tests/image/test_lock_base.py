"""`envbuild lock` pins a registry base given by tag (an index: each platform's manifest);
the pin enters every target hash."""

from __future__ import annotations

import json
import tomllib
import uuid
from pathlib import Path

import pytest

from envbuild.image.push import push_layout
from envbuild.image.registry.interface import parse_reference
from tests.helpers import run_cli
from tests.image.project import ALPHA, ARM64, CPU, Project
from tests.image.services import base_layout, pushed_base, registry_address
from tests.support.bases import tiny_base

pytestmark = pytest.mark.registry


def test_base_tag_is_pinned_at_lock_time_and_moves_only_on_upgrade(eb_env: dict[str, str],
                                                                   tmp_path: Path) -> None:
    address = registry_address()
    pushed_base(address)  # the debootstrap base, under a tag of its own
    tag = f"{address}/base/moving:{uuid.uuid4().hex[:8]}"
    first = push_layout(base_layout(), parse_reference(tag))
    manifest = tmp_path / "envbuild.toml"
    manifest.write_text('[project]\nname = "b"\npython = "3.11"\n[dependencies]\npython = ["beta"]\n'
                        f'[targets.cpu]\nplatform = "linux/amd64"\n[image]\nbase = "{tag}"\n')
    assert run_cli(["lock", "-f", str(manifest)]).code == 0
    lock = tmp_path / "envbuild.lock"
    doc = tomllib.loads(lock.read_text())
    assert (doc["targets"]["cpu"]["base"], doc["targets"]["cpu"]["base-digest"]) == (tag, first)
    before = doc["targets"]["cpu"]["hash"]

    # Move the tag to another image: a plain re-lock keeps the pin, --upgrade takes the new one.
    other = tmp_path / "other"
    _retarget(base_layout(), other)
    moved = push_layout(other, parse_reference(tag))
    assert moved != first
    assert run_cli(["lock", "-f", str(manifest)]).code == 0
    assert tomllib.loads(lock.read_text())["targets"]["cpu"]["base-digest"] == first
    assert run_cli(["lock", "-f", str(manifest), "--upgrade"]).code == 0
    after = tomllib.loads(lock.read_text())
    assert after["targets"]["cpu"]["base-digest"] == moved
    assert after["targets"]["cpu"]["hash"] != before
    assert run_cli(["lock", "--check", "-f", str(manifest)]).code == 0


def _retarget(source: Path, dest: Path) -> None:
    """A copy of the base layout whose manifest differs (one annotation), so its digest does."""
    import hashlib
    import json
    import shutil

    shutil.copytree(source, dest)
    index = json.loads((dest / "index.json").read_text())
    old = index["manifests"][0]["digest"]
    manifest = json.loads((dest / "blobs" / "sha256" / old.split(":")[1]).read_text())
    manifest.setdefault("annotations", {})["envbuild.test"] = "moved"
    data = json.dumps(manifest, sort_keys=True).encode()
    new = "sha256:" + hashlib.sha256(data).hexdigest()
    (dest / "blobs" / "sha256" / new.split(":")[1]).write_bytes(data)
    index["manifests"][0].update(digest=new, size=len(data))
    (dest / "index.json").write_text(json.dumps(index))


def test_a_base_tag_the_lock_does_not_pin_is_refused_at_build(project: Project, tmp_path: Path) -> None:
    address = registry_address()
    pushed_base(address)
    tag = f"{address}/base/unpinned:{uuid.uuid4().hex[:8]}"
    push_layout(base_layout(), parse_reference(tag))
    project.targets = {"cpu": {**CPU, "packages": [ALPHA]}}
    project.image = f'\n[image]\nbase = "{tag}"\n'
    project.pin_bases = False
    project.write()
    result = run_cli(["image", "-f", str(project.manifest), "--output", f"oci:{tmp_path / 'out'}"])
    assert result.code == 1
    assert result.err.splitlines()[0] == (f'error: target "cpu": the lock pins base (none), '
                                          f"the manifest names {tag}")
    assert not (tmp_path / "out").exists()


def _push_index(tmp_path: Path, repository: str) -> dict[str, str]:
    """Two tiny one-platform images and an index of both under `REPO:multi`."""
    from envbuild.canonical import canonical_bytes
    from envbuild.image.registry.distribution import open_registry
    from envbuild.image.registry.interface import OCI_INDEX, OCI_MANIFEST

    digests: dict[str, str] = {}
    entries = []
    for arch in ("amd64", "arm64"):
        digest = tiny_base(tmp_path / arch, architectures=(arch,))[arch]
        assert push_layout(tmp_path / arch, parse_reference(f"{repository}:{arch}")) == digest
        size = (tmp_path / arch / "blobs" / "sha256" / digest.split(":")[1]).stat().st_size
        entries.append({"mediaType": OCI_MANIFEST, "digest": digest, "size": size,
                        "platform": {"os": "linux", "architecture": arch}})
        digests[arch] = digest
    ref = parse_reference(f"{repository}:multi")
    registry = open_registry(ref)
    try:
        registry.put_manifest(ref, OCI_INDEX, canonical_bytes(
            {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}))
    finally:
        registry.close()
    return digests


def test_a_registry_index_pins_each_platforms_manifest_and_builds_on_it(project: Project,
                                                                         tmp_path: Path) -> None:
    repository = f"{registry_address()}/base/multi-{uuid.uuid4().hex[:8]}"
    digests = _push_index(tmp_path, repository)
    project.targets = {"cpu": CPU, "dev": ARM64}
    project.image = f'\n[image]\nbase = "{repository}:multi"\n'
    project.write()
    locked = tomllib.loads(project.lock.read_text())["targets"]
    assert {n: (t["base"], t["base-digest"]) for n, t in locked.items()} == {
        "cpu": (f"{repository}:multi", digests["amd64"]), "dev": (f"{repository}:multi", digests["arm64"])}
    result = run_cli(["image", "-f", str(project.manifest), "--output", f"oci:{tmp_path / 'out'}",
                      "--json"])
    assert result.code == 0, result.err
    built = json.loads(result.out)["targets"]
    for name, arch in (("cpu", "amd64"), ("dev", "arm64")):
        manifest = json.loads((tmp_path / arch / "blobs" / "sha256" / digests[arch].split(":")[1]).read_text())
        assert built[name]["platform"] == f"linux/{arch}"
        assert built[name]["layers"][0]["digest"] == manifest["layers"][0]["digest"]


def test_a_single_platform_registry_base_of_another_platform_is_refused_at_lock(
        eb_env: dict[str, str], tmp_path: Path) -> None:
    repository = f"{registry_address()}/base/single-{uuid.uuid4().hex[:8]}"
    _push_index(tmp_path, repository)
    manifest = tmp_path / "envbuild.toml"
    manifest.write_text('[project]\nname = "b"\npython = "3.11"\n[dependencies]\npython = ["beta"]\n'
                        f'[targets.dev]\nplatform = "linux/arm64"\n[image]\nbase = "{repository}:amd64"\n')
    result = run_cli(["lock", "-f", str(manifest)])
    assert result.code == 2
    assert result.err.splitlines()[:2] == [
        f"resolving image base {repository}:amd64 for linux/arm64",
        f'error: target "dev" (linux/arm64): base {repository}:amd64 is linux/amd64, the target is linux/arm64']
