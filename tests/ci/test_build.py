"""`envbuild ci build` against the local registry: exactly the targets the registry lacks
an image of, once, checked against what the lock builds."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest

from envbuild.image.push import push_layout
from envbuild.image.registry.interface import parse_reference
from tests.ci.repo import Repo, make_repo
from tests.helpers import run_cli
from tests.image.services import registry_address
from tests.image.test_registry import tags

pytestmark = pytest.mark.registry
CPU = '[targets.cpu]\nplatform = "linux/amd64"\n'


def _build(repo: Repo, repository: str, *extra: str, base: str = "HEAD~1") -> dict[str, Any]:
    result = run_cli(["ci", "build", "-f", str(repo.manifest), "--base", base,
                      "--push", repository, "--json", *extra])
    assert result.code == 0, result.err
    document: dict[str, Any] = json.loads(result.out)
    return document


@pytest.fixture
def repository() -> str:
    return f"{registry_address()}/test/ci-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def fresh(eb_env: dict[str, str], tmp_path: Path) -> Repo:
    """The first commit only; nothing of it in any registry."""
    return make_repo(tmp_path / "repo")


@pytest.fixture
def repo(fresh: Repo, repository: str) -> Repo:
    """The first commit's images published (by ci build), then a commit that changes cpu's
    dependencies only."""
    first = _build(fresh, repository, base="HEAD")
    assert {n: b["state"] for n, b in first["built"].items()} == {
        "cpu": "missing from the registry, rebuilt", "tools": "missing from the registry, rebuilt"}
    fresh.edit(CPU, CPU + 'dependencies = ["filelock"]\n')
    fresh.commit("cpu gains filelock")
    return fresh


def image_tags(repository: str) -> list[str]:
    """The repository's tags less the referrers-tag-schema indexes of the attestations."""
    return [t for t in tags(repository) if not t.startswith("sha256-")]


def _tag(repo: Repo, target: str, base: str = "HEAD~1") -> str:
    planned = json.loads(run_cli(["ci", "plan", "-f", str(repo.manifest), "--base", base,
                                  "--json"]).out)["targets"][target]["new"]
    return f"lock-{planned.split(':')[1][:12]}"


def test_builds_and_pushes_only_the_changed_target_and_a_rerun_pushes_nothing(
        repo: Repo, repository: str) -> None:
    before = image_tags(repository)
    tag = _tag(repo, "cpu")
    first = _build(repo, repository)
    assert sorted(first["built"]) == ["cpu"] and first["skipped"] == ["tools"]
    assert first["built"]["cpu"]["state"] == "pushed"
    assert sorted(image_tags(repository)) == sorted([*before, tag])  # the planned hash only
    again = run_cli(["ci", "build", "-f", str(repo.manifest), "--base", "HEAD~1", "--push", repository])
    assert again.code == 0, again.err
    lines = again.out.splitlines()
    assert lines[0].split() == ["target", "digest", "state", "seconds"]
    assert lines[1].split()[:4] == ["cpu", first["built"]["cpu"]["digest"], "already", "present"]
    assert lines[2] == "unchanged, not built: tools"
    assert f"{repository}:{tag}: already {first['built']['cpu']['digest']}; nothing to push" in again.err
    assert sorted(image_tags(repository)) == sorted([*before, tag])


def test_an_unchanged_target_whose_build_failed_is_built_by_the_next_push(
        fresh: Repo, repository: str) -> None:
    """A commit changes cpu and its build never publishes; a later unrelated commit's build
    finds cpu's tag missing and builds it."""
    assert _build(fresh, repository, base="HEAD")["built"].keys() == {"cpu", "tools"}
    fresh.edit(CPU, CPU + 'dependencies = ["filelock"]\n')
    fresh.commit("cpu gains filelock")  # its CI build failed: nothing pushed
    (fresh.folder / "README.md").write_text("docs\n")
    fresh.commit("docs only")
    tag = _tag(fresh, "cpu")
    result = run_cli(["ci", "build", "-f", str(fresh.manifest), "--base", "HEAD~1", "--push", repository])
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[1].split()[:2] == ["cpu", lines[1].split()[1]]
    assert " ".join(lines[1].split()[2:7]) == "missing from the registry, rebuilt"
    assert lines[2] == "unchanged, not built: tools"
    assert f"cpu: unchanged, but {repository}:{tag} is missing from the registry: rebuilding it" \
        in result.err
    assert tag in image_tags(repository)


def test_an_unchanged_target_or_a_dataset_change_builds_nothing(repo: Repo, repository: str) -> None:
    only_tools = _build(repo, repository, "--target", "tools")
    assert only_tools["built"] == {} and only_tools["skipped"] == ["tools"]
    assert _build(repo, repository)["built"].keys() == {"cpu"}
    before = tags(repository)
    (repo.folder / "data" / "a.txt").write_text("alphA\n")
    repo.commit("dataset only")
    assert _build(repo, repository)["built"] == {}
    assert tags(repository) == before


def _layout(repo: Repo, target: str, folder: Path) -> Path:
    result = run_cli(["image", "-f", str(repo.manifest), "--target", target, "--output", f"oci:{folder}"])
    assert result.code == 0, result.err
    return folder


def test_a_tag_moved_to_another_image_fails_naming_both_digests_after_the_others(
        repo: Repo, repository: str, tmp_path: Path) -> None:
    """tools changes too; its tag is made to name cpu's image: cpu is still published and
    reported, tools fails with exit 1, and nothing is pushed for it."""
    repo.edit('dependencies = ["greeter"]', 'dependencies = ["greeter", "filelock"]')
    repo.commit("tools gains filelock")
    tools_tag = _tag(repo, "tools", base="HEAD~2")
    cpu_image = _layout(repo, "cpu", tmp_path / "cpu")
    moved = push_layout(cpu_image, parse_reference(f"{repository}:{tools_tag}"))
    tools_image = json.loads((_layout(repo, "tools", tmp_path / "tools") / "index.json")
                             .read_text())["manifests"][0]["digest"]
    result = run_cli(["ci", "build", "-f", str(repo.manifest), "--base", "HEAD~2",
                      "--push", repository, "--json"])
    assert result.code == 1, result.err
    document = json.loads(result.out)
    assert document["built"]["cpu"]["state"] == "pushed"
    message = (f"{repository}:{tools_tag} names {moved}, but the lock builds {tools_image} for "
               "target tools; nothing pushed")
    assert document["failed"] == {"tools": {
        "message": message, "exit_code": 1,
        "hint": "the tag was moved or overwritten by hand: delete it from the registry (or push "
                "the right image with envbuild image --push) after finding out why"}}
    assert f"error: target tools: {message}" in result.err
    text = run_cli(["ci", "build", "-f", str(repo.manifest), "--base", "HEAD~2", "--push", repository])
    assert text.code == 1
    assert [line.split()[:3] for line in text.out.splitlines()[1:]] == [
        ["cpu", document["built"]["cpu"]["digest"], "already"], ["tools", "-", "failed"]]


def test_an_image_present_without_attestations_gets_them_and_its_record(
        repo: Repo, repository: str, tmp_path: Path) -> None:
    """A run that crashed between the manifest and its referrers, in a fresh clone: the
    image is not sent again, its attestations are attached and its digest recorded."""
    tag = _tag(repo, "cpu")
    digest = push_layout(_layout(repo, "cpu", tmp_path / "cpu"),
                         parse_reference(f"{repository}:{tag}"))
    assert f"sha256-{digest.split(':')[1]}" not in tags(repository)
    shutil.rmtree(repo.folder / "envbuild.lock.d", ignore_errors=True)
    document = _build(repo, repository, "--target", "cpu")
    assert document["built"]["cpu"]["state"] == "already present"
    assert document["built"]["cpu"]["digest"] == digest
    assert document["built"]["cpu"]["referrers"] > 0
    assert f"sha256-{digest.split(':')[1]}" in tags(repository)
    record = json.loads((repo.folder / "envbuild.lock.d" / "images.json").read_text())
    assert record["targets"]["cpu"]["digest"] == digest
    assert record["targets"]["cpu"]["ref"] == repository


def test_needs_push_and_a_known_target(fresh: Repo) -> None:
    result = run_cli(["ci", "build", "-f", str(fresh.manifest), "--base", "HEAD"])
    assert result.code == 2
    assert "error: ci build publishes its images: pass --push [REF]" in result.err
    result = run_cli(["ci", "build", "-f", str(fresh.manifest), "--base", "HEAD",
                      "--push", "127.0.0.1:1/x/y", "--target", "nope"])
    assert result.code == 2
    assert "error: no target nope in the lock" in result.err


def test_a_target_no_image_is_built_for_is_reported_not_built(fresh: Repo, repository: str) -> None:
    fresh.edit("[datasets.val]", '[targets.mac]\nplatform = "darwin/arm64"\n[datasets.val]')
    fresh.commit("add a mac target")
    document = _build(fresh, repository)
    assert sorted(document["built"]) == ["cpu", "tools"]  # missing from the registry
    assert document["no_image"] == ["mac"] and document["failed"] == {}
    text = run_cli(["ci", "build", "-f", str(fresh.manifest), "--base", "HEAD~1", "--push", repository])
    assert text.code == 0, text.err
    assert text.out.splitlines()[-2:] == ["unchanged, not built: cpu tools", "no image (platform): mac"]
