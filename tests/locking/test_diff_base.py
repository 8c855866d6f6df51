"""`envbuild diff --base REF` and `--format markdown` on a git repository the test makes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.ci.repo import MANIFEST, Repo, make_repo
from tests.helpers import run_cli

CPU = '[targets.cpu]\nplatform = "linux/amd64"\n'
GPU = MANIFEST.replace("2024-03-01", "2025-01-01").replace(
    "[datasets.val]", '[targets.gpu]\nplatform = "linux/amd64"\ncuda = "12.4"\ngpus = ["H100"]\n'
                      'dependencies = ["torch==2.5.1"]\n[datasets.val]')


@pytest.fixture
def repo(eb_env: dict[str, str], tmp_path: Path) -> Repo:
    """Tagged v1, then a commit where cpu gains filelock."""
    repo = make_repo(tmp_path / "repo")
    repo.git("tag", "v1")
    repo.edit(CPU, CPU + 'dependencies = ["filelock"]\n')
    repo.commit("cpu gains filelock")
    return repo


def _diff(repo: Repo, *args: str) -> list[str]:
    return ["diff", str(repo.folder / "envbuild.lock"), *args]


def test_base_may_be_a_tag_or_a_commit(repo: Repo) -> None:
    first = repo.git("rev-parse", "v1")
    for ref in ("v1", first, first[:10]):
        result = run_cli(_diff(repo, "--base", ref))
        assert result.code == 0, result.err
        lines = result.out.splitlines()
        assert lines[lines.index("target cpu: changed") + 1] == "  + filelock 3.16.1"
        assert "target tools: changed" not in lines
    # Against HEAD (the default) the working lock is the committed one.
    assert run_cli(_diff(repo)).out == "locks are identical\n"
    data = json.loads(run_cli(_diff(repo, "--base", "v1", "--json")).out)
    assert data["targets"]["cpu"]["added"] == ["filelock 3.16.1"]


def test_a_bad_base_is_bad_input(repo: Repo) -> None:
    result = run_cli(_diff(repo, "--base", "v9"))
    assert result.code == 2
    assert 'error: --base "v9" names no commit in this repository' in result.err


def test_markdown_names_the_changes_and_the_rebuilt_images(repo: Repo) -> None:
    result = run_cli(_diff(repo, "--base", "v1", "--format", "markdown"))
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    plan = json.loads(run_cli(["ci", "plan", "-f", str(repo.manifest), "--base", "v1", "--json"]).out)
    cpu, tools = plan["targets"]["cpu"], plan["targets"]["tools"]
    assert lines[:11] == [
        "## envbuild: lock changes against `v1`", "",
        f"Base: `v1` (`{repo.git('rev-parse', 'v1')[:12]}`)", "",
        "| target | image | by | old | new |", "| --- | --- | --- | --- | --- |",
        f"| `cpu` | changed | image hash | `{cpu['old'][:19]}` | `{cpu['new'][:19]}` |",
        f"| `tools` | unchanged | image hash | `{tools['old'][:19]}` | `{tools['new'][:19]}` |", "",
        "**Images rebuilt:** `cpu`", ""]
    cpu_diff = plan["targets"]["cpu"]["diff"]
    fields = {f["path"]: f for f in cpu_diff["fields"]}
    start = lines.index("### Target `cpu`: changed")
    assert lines[start:start + 14] == [
        "### Target `cpu`: changed", "", "**Added** (1)", "", "- `filelock 3.16.1`", "",
        "**Hashes** (2)", "",
        f"- `hash`: `{fields['hash']['old']}` -> `{fields['hash']['new']}`",
        f"- `input-hash`: `{fields['input-hash']['old']}` -> `{fields['input-hash']['new']}`", "",
        "**Requirements** (1)", "", '- `requirements`: `["alpha"]` -> `["alpha", "filelock"]`']
    assert "### Target `tools`" not in result.out


def test_markdown_folds_long_lists_and_shows_hardware_and_datasets(
        eb_env: dict[str, str], tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "gpu", GPU)
    repo.edit('dependencies = ["torch==2.5.1"]', "dependencies = []")
    (repo.folder / "data" / "a.txt").write_text("alphA\n")
    repo.commit("drop torch, new data")
    result = run_cli(_diff(repo, "--base", "HEAD~1", "--format", "markdown"))
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    start = lines.index("<details><summary>Removed (9)</summary>")
    assert lines[start + 2:start + 4] == ["- `filelock 3.16.1`", "- `nvidia-cublas-cu12 12.4.5.8`"]
    assert lines[start + 10:start + 13] == ["- `torch 2.5.1`", "", "</details>"]
    assert "- `runtime-wheel:cuda-runtime` removed" in lines
    assert "**Images rebuilt:** `gpu`" in lines
    assert lines[-1].startswith("| `val` | changed | `blake3:")


def test_json_has_the_image_plan_the_markdown_shows(repo: Repo) -> None:
    data = json.loads(run_cli(_diff(repo, "--base", "v1", "--json")).out)
    plan = json.loads(run_cli(["ci", "plan", "-f", str(repo.manifest), "--base", "v1", "--json"]).out)
    assert data["images"]["rebuild"] == ["cpu"]
    assert data["images"]["base"] == plan["base"]
    assert data["images"]["targets"]["cpu"] == {
        k: v for k, v in plan["targets"]["cpu"].items() if k != "diff"}
    two_files = json.loads(run_cli(["diff", str(repo.folder / "envbuild.lock"),
                                    str(repo.folder / "envbuild.lock"), "--json"]).out)
    assert two_files["images"] is None  # no git base: no plan


def test_a_base_without_a_lock_shows_every_target_added(repo: Repo) -> None:
    (repo.folder / "envbuild.lock").rename(repo.folder / "kept.lock")
    repo.git("rm", "-q", "--cached", "envbuild.lock")
    repo.git("commit", "-qm", "no lock yet")
    (repo.folder / "kept.lock").rename(repo.folder / "envbuild.lock")
    result = run_cli(_diff(repo, "--base", "HEAD", "--json"))
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert {n: t["status"] for n, t in data["targets"].items()} == {"cpu": "added", "tools": "added"}
    assert data["images"]["rebuild"] == ["cpu", "tools"]
    assert data["images"]["base_lock"] == "absent"
    text = run_cli(_diff(repo, "--base", "HEAD"))
    assert "target cpu: added" in text.out.splitlines()


def test_f_and_lock_name_the_manifest_and_the_working_lock(repo: Repo, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no envbuild.lock here: the options name it
    by_manifest = run_cli(["diff", "-f", str(repo.manifest), "--base", "v1", "--json"])
    assert by_manifest.code == 0, by_manifest.err
    assert json.loads(by_manifest.out)["targets"]["cpu"]["added"] == ["filelock 3.16.1"]
    by_lock = run_cli(["diff", "--lock", str(repo.folder / "envbuild.lock"), "--base", "v1", "--json"])
    assert json.loads(by_lock.out)["images"]["rebuild"] == ["cpu"]
    both = run_cli(["diff", str(repo.folder / "envbuild.lock"), "--lock", "x.lock"])
    assert both.code == 2
    assert "--lock names the working lock: give it or a lock argument, not both" in both.err
