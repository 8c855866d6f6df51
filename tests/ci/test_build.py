"""`envbuild ci build` against the local registry: exactly the changed targets, once."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.ci.repo import Repo, make_repo
from tests.helpers import run_cli
from tests.image.services import registry_address
from tests.image.test_registry import tags

pytestmark = pytest.mark.registry
CPU = '[targets.cpu]\nplatform = "linux/amd64"\n'


@pytest.fixture
def repo(eb_env: dict[str, str], tmp_path: Path) -> Repo:
    """A repository whose last commit changes cpu's dependencies only."""
    repo = make_repo(tmp_path / "repo")
    repo.edit(CPU, CPU + 'dependencies = ["filelock"]\n')
    repo.commit("cpu gains filelock")
    return repo


def _build(repo: Repo, repository: str, *extra: str) -> dict[str, Any]:
    result = run_cli(["ci", "build", "-f", str(repo.manifest), "--base", "HEAD~1",
                      "--push", repository, "--json", *extra])
    assert result.code == 0, result.err
    document: dict[str, Any] = json.loads(result.out)
    return document


def image_tags(repository: str) -> list[str]:
    """The repository's tags less the referrers-tag-schema indexes of the attestations."""
    return [t for t in tags(repository) if not t.startswith("sha256-")]


def test_builds_and_pushes_only_the_changed_target_and_a_rerun_pushes_nothing(repo: Repo) -> None:
    repository = f"{registry_address()}/test/ci-{uuid.uuid4().hex[:8]}"
    planned = json.loads(run_cli(["ci", "plan", "-f", str(repo.manifest), "--base", "HEAD~1",
                                  "--json"]).out)["targets"]["cpu"]["new"]
    first = _build(repo, repository)
    assert sorted(first["built"]) == ["cpu"] and first["skipped"] == ["tools"]
    assert first["built"]["cpu"]["state"] == "pushed"
    assert image_tags(repository) == [f"lock-{planned.split(':')[1][:12]}"]  # the planned hash only
    again = run_cli(["ci", "build", "-f", str(repo.manifest), "--base", "HEAD~1", "--push", repository])
    assert again.code == 0, again.err
    lines = again.out.splitlines()
    assert lines[0].split() == ["target", "digest", "state", "seconds"]
    assert lines[1].split()[:4] == ["cpu", first["built"]["cpu"]["digest"], "already", "present"]
    assert lines[2] == "unchanged, not built: tools"
    tag = f"{repository}:lock-{planned.split(':')[1][:12]}"
    assert f"{tag}: already {first['built']['cpu']['digest']}; not built" in again.err  # asked first
    assert image_tags(repository) == [f"lock-{planned.split(':')[1][:12]}"]


def test_an_unchanged_target_or_a_dataset_change_builds_nothing(repo: Repo) -> None:
    repository = f"{registry_address()}/test/ci-{uuid.uuid4().hex[:8]}"
    only_tools = _build(repo, repository, "--target", "tools")
    assert only_tools["built"] == {} and only_tools["skipped"] == ["tools"]
    (repo.folder / "data" / "a.txt").write_text("alphA\n")
    repo.commit("dataset only")
    assert _build(repo, repository)["built"] == {}
    assert tags(repository) == []


def test_needs_push_and_a_known_target(repo: Repo) -> None:
    result = run_cli(["ci", "build", "-f", str(repo.manifest), "--base", "HEAD~1"])
    assert result.code == 2
    assert "error: ci build publishes its images: pass --push [REF]" in result.err
    result = run_cli(["ci", "build", "-f", str(repo.manifest), "--base", "HEAD~1",
                      "--push", "127.0.0.1:1/x/y", "--target", "nope"])
    assert result.code == 2
    assert "error: no target nope in the lock" in result.err
