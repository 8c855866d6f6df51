"""The image hash `envbuild image` records on push is what `envbuild cluster` recomputes,
without building, to catch an image built before the copied code or `[image]` changed."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from envbuild.image.build import planned_image_hashes
from envbuild.lockfile import load
from tests.helpers import Result, run_cli
from tests.image.project import Project
from tests.image.services import pushed_base, registry_address
from tests.image.test_entrypoint import os_base

CLUSTER = """
[cluster]
providers = ["kubernetes"]
namespace = "training"

[cluster.pools.prep]
target = "cpu"
cpu = 2
memory = "4Gi"
nodes = { min = 0, max = 1 }

[run]
command = ["python3", "-m", "train"]
"""
ENTRYPOINT = 'entrypoint = ["python3", "-m", "train"]\n'


def with_package(project: Project) -> None:
    (project.folder / "src/train").mkdir(parents=True)
    (project.folder / "src/train/__init__.py").write_text("")
    (project.folder / "src/train/__main__.py").write_text('print("train")\n')


def image_section(base: str, extra: str = "") -> str:
    return f'\n[image]\nbase = "{base}"\ncopy = ["src/"]\n{ENTRYPOINT}{extra}'


def test_planned_hash_is_the_built_images(project: Project, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    with_package(project)
    project.image = image_section(os_base(tmp_path / "base"))
    project.write()
    built = run_cli(["image", "-f", str(project.manifest), "--output",
                     f"oci:{tmp_path / 'out'}", "--json"])
    assert built.code == 0, built.err
    recorded = json.loads(built.out)["targets"]["cpu"]["image_hash"]
    lock = load(project.lock)
    assert planned_image_hashes(project.manifest, lock, {"cpu": 1700000000}) == {"cpu": recorded}
    # Another epoch or a copied file's change names another image.
    assert planned_image_hashes(project.manifest, lock, {"cpu": 0})["cpu"] != recorded
    (project.folder / "src/train/__init__.py").write_text("X = 1\n")
    assert planned_image_hashes(project.manifest, lock, {"cpu": 1700000000})["cpu"] != recorded


def cluster(project: Project, tmp_path: Path, *args: str) -> Result:
    return run_cli(["cluster", "-f", str(project.manifest), "-o", str(tmp_path / "k8s"),
                    "--provider", "kubernetes", *args])


def stale_note(project: Project, digest: str, recorded: str) -> str:
    now = planned_image_hashes(project.manifest, load(project.lock), {"cpu": 0})["cpu"]
    return (f'target "cpu": the image in envbuild.lock.d/images.json ({digest}) is stale: '
            f"its image hash is {recorded}, but the manifest, lock and copied files give "
            f"{now} now; run `envbuild image --push --target cpu`")


@pytest.mark.registry
def test_cluster_after_push_notes_a_stale_image(project: Project, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    address = registry_address()
    repository = f"{address}/test/stale-{uuid.uuid4().hex[:8]}"
    with_package(project)
    project.image = image_section(pushed_base(address), f'repository = "{repository}"\n') + CLUSTER
    project.write()
    pushed = run_cli(["image", "-f", str(project.manifest), "--push", "--json"])
    assert pushed.code == 0, pushed.err
    (entry,) = json.loads(pushed.out)["pushed"]
    recorded = json.loads(pushed.out)["targets"]["cpu"]["image_hash"]
    current = cluster(project, tmp_path, "--strict")
    assert current.code == 0, current.err
    assert "stale" not in current.err
    # The record keeps the build's epoch: another SOURCE_DATE_EPOCH now is no change.
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert "stale" not in cluster(project, tmp_path).err
    monkeypatch.delenv("SOURCE_DATE_EPOCH")

    (project.folder / "src/train/__init__.py").write_text("LR = 0.2\n")
    edited = cluster(project, tmp_path)
    assert edited.code == 0, edited.err
    note = stale_note(project, entry["digest"], recorded)
    assert f"note: {note}" in edited.err.splitlines()
    strict = cluster(project, tmp_path, "--strict")
    assert strict.code == 2, strict.err
    assert strict.err.splitlines()[-2:] == [f"error: {note}",
                                            "hint: nothing was written; fix the problems above"]

    (project.folder / "src/train/__init__.py").write_text("")
    project.manifest.write_text(project.manifest.read_text().replace(
        ENTRYPOINT, 'entrypoint = ["python3", "-m", "train", "--fast"]\n'))
    changed = cluster(project, tmp_path)
    assert changed.code == 0, changed.err
    assert f"note: {stale_note(project, entry['digest'], recorded)}" in changed.err.splitlines()


def test_cluster_says_when_it_cannot_tell(project: Project, tmp_path: Path) -> None:
    """A record whose base the cache no longer has: a note, never a silent pass."""
    from envbuild.cluster.images import write_record

    with_package(project)
    base = tmp_path / "base"
    project.image = image_section(os_base(base)) + CLUSTER
    project.write()
    lock = load(project.lock)
    digest = "sha256:" + "1" * 64
    write_record(project.lock, "cpu", ref="registry.example.com/team/app", digest=digest,
                 image_hash="sha256:" + "3" * 64, target_hash=lock.targets["cpu"].hash, epoch=0)
    (base / "oci/index.json").unlink()
    result = cluster(project, tmp_path)
    assert result.code == 0, result.err
    layout = base / "oci"
    assert result.err.splitlines()[-1] == (
        'note: target "cpu": cannot tell whether the image in envbuild.lock.d/images.json is '
        f"current: base {layout}: cannot read index.json: [Errno 2] No such file or "
        f"directory: '{layout / 'index.json'}'")
