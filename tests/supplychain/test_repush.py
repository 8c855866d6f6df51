"""Attestations judged by what they say of the image: a lock change that leaves an image as
it was (a dataset, another target) neither makes its attestations wrong for `inspect` nor
piles new ones onto it at the next push, and a signature made after the first push stays
valid."""

from __future__ import annotations

import dataclasses
import json
import uuid
from pathlib import Path

import pytest

from envbuild.image.registry.interface import parse_reference
from envbuild.lockfile import load
from envbuild.supplychain import PROVENANCE_TYPE, SBOM_TYPE
from envbuild.supplychain.referrers import fallback_tag
from envbuild.supplychain.sign import SIGNATURE_TYPE
from tests.image.project import Project
from tests.supplychain.test_attestations import fetch, git_commit, inspect, push, setup
from tests.supplychain.test_sign import new_key, sign, swap_attestation, verify
from tests.support.locks import sealed, write_lock


def change_a_dataset(project: Project) -> tuple[str, str]:
    """Lock a new dataset digest, nothing else: (old, new) lock hash."""
    lock = load(project.lock)
    digest = "blake3:" + uuid.uuid4().hex * 2
    changed = sealed(dataclasses.replace(lock, datasets={
        "val": {"digest": digest, "files": 1, "size": 1}}))
    write_lock(project.lock, changed)
    assert changed.targets["cpu"].hash == lock.targets["cpu"].hash
    return lock.lock_hash, changed.lock_hash


def listed(repository: str, image: str) -> list[tuple[str, str]]:
    index = json.loads(fetch(parse_reference(repository), fallback_tag(image)))
    return sorted((d["artifactType"], d["digest"]) for d in index["manifests"])


@pytest.mark.registry
def test_a_dataset_change_leaves_the_attestations_valid(
        project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    repository = setup(project, monkeypatch)
    (pushed,) = push(project)["pushed"]
    before = {kind: inspect(project, kind) for kind in ("sbom", "provenance")}
    assert [code for code, _, _ in before.values()] == [0, 0]
    old, new = change_a_dataset(project)
    code, out, err = inspect(project, "sbom")
    assert (code, out) == (0, before["sbom"][1])  # the SBOM of the build, datasets as then
    assert err == (f"note: {repository}@{pushed['digest']}: the SBOM lists the datasets of an "
                   "older lock that builds the same cpu image (datasets now: val "
                   f"{load(project.lock).datasets['val']['digest']})\n")
    code, out, err = inspect(project, "provenance")
    assert (code, out) == (0, before["provenance"][1])
    assert err == (f"note: {repository}@{pushed['digest']}: the provenance was made from the "
                   f"lock {old}, an older lock that builds the same cpu image (the lock is "
                   f"now {new})\n")


@pytest.mark.registry
def test_pushing_again_after_a_dataset_change_keeps_one_of_each_and_the_signature(
        project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repository = setup(project, monkeypatch)
    first = git_commit(project.folder)
    (pushed,) = push(project)["pushed"]
    key = new_key(tmp_path)
    assert sign(project, key)[0] == 0
    attached = listed(repository, pushed["digest"])
    change_a_dataset(project)
    assert git_commit(project.folder) != first  # the source commit changed too
    (again,) = push(project)["pushed"]
    assert again["digest"] == pushed["digest"]
    assert sorted(again["referrers"]) == sorted(d for t, d in attached if t != SIGNATURE_TYPE)
    assert listed(repository, pushed["digest"]) == attached  # nothing new, nothing gone
    code, out, err = verify(key, f"{repository}@{pushed['digest']}")
    assert (code, err) == (0, "")
    assert out.startswith(f"verified {repository}@{pushed['digest']}  key ")
    for kind in ("sbom", "provenance"):
        assert inspect(project, kind)[0] == 0


@pytest.mark.registry
@pytest.mark.parametrize("kind", ["sbom", "provenance"])
def test_pushing_again_replaces_a_changed_attestation(
        project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    repository = setup(project, monkeypatch)
    (pushed,) = push(project)["pushed"]
    attached = listed(repository, pushed["digest"])
    media_type = SBOM_TYPE if kind == "sbom" else PROVENANCE_TYPE
    swap_attestation(parse_reference(repository), pushed["digest"], media_type, tmp_path)
    assert inspect(project, kind)[0] == 1
    push(project)
    # The changed document is taken off the referrers tag's index, the made one put back.
    assert listed(repository, pushed["digest"]) == attached
    assert inspect(project, kind)[0] == 0
