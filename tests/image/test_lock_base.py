"""`envbuild lock` pins a registry base given by tag; the pin enters every target hash."""

from __future__ import annotations

import tomllib
import uuid
from pathlib import Path

import pytest

from envbuild.image.push import push_layout
from envbuild.image.registry.interface import parse_reference
from tests.helpers import run_cli
from tests.image.project import ALPHA, CPU, Project
from tests.image.services import base_layout, pushed_base, registry_address

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
