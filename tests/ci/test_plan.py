"""`envbuild ci plan` over real commits: exactly the targets whose image hash changed."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.ci.repo import MANIFEST, Repo, make_repo
from tests.helpers import run_cli


@pytest.fixture
def repo(eb_env: dict[str, str], tmp_path: Path) -> Repo:
    return make_repo(tmp_path / "repo")


def _statuses(repo: Repo, base: str) -> dict[str, str]:
    result = run_cli([*repo.plan("--base", base, "--json")])
    assert result.code == 0, result.err
    return {n: t["status"] for n, t in json.loads(result.out)["targets"].items()}


def test_each_commit_plans_exactly_its_changed_targets(repo: Repo) -> None:
    repo.edit('[targets.cpu]\nplatform = "linux/amd64"\n',
              '[targets.cpu]\nplatform = "linux/amd64"\ndependencies = ["filelock"]\n')
    repo.commit("cpu gains filelock")
    assert _statuses(repo, "HEAD~1") == {"cpu": "changed", "tools": "unchanged"}
    document = json.loads(run_cli([*repo.plan("--base", "HEAD~1", "--json")]).out)
    assert document["rebuild"] == ["cpu"]
    assert document["targets"]["cpu"]["basis"] == "image"
    assert document["targets"]["cpu"]["diff"]["added"] == ["filelock 3.16.1"]
    assert document["targets"]["tools"]["diff"] is None

    (repo.folder / "data" / "a.txt").write_text("alphA\n")
    repo.commit("dataset only")
    assert _statuses(repo, "HEAD~1") == {"cpu": "unchanged", "tools": "unchanged"}
    text = run_cli(repo.plan("--base", "HEAD~1"))
    assert text.code == 0
    assert text.out.splitlines()[-1] == "rebuild: none"

    repo.edit("[datasets.val]", '[targets.extra]\nplatform = "linux/amd64"\n[datasets.val]')
    repo.commit("add a target")
    assert _statuses(repo, "HEAD~1") == {"cpu": "unchanged", "extra": "added", "tools": "unchanged"}
    # Over all three commits at once: the changed and the added target, nothing else.
    assert _statuses(repo, "HEAD~3") == {"cpu": "changed", "extra": "added", "tools": "unchanged"}


def test_working_tree_changes_are_planned_against_the_default_branch(repo: Repo) -> None:
    repo.git("checkout", "-qb", "feature")
    repo.edit('dependencies = ["greeter"]', 'dependencies = ["greeter", "filelock"]')
    assert run_cli(["lock", "-f", str(repo.manifest)]).code == 0
    result = run_cli(repo.plan())
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    main = repo.git("rev-parse", "main")
    assert lines[0] == f"base merge-base HEAD main {main[:12]} (default branch: main)"
    assert lines[1:] == ["cpu: unchanged by image hash", "tools: changed by image hash",
                         "rebuild: tools"]


def test_removed_target_and_markdown(repo: Repo) -> None:
    repo.edit('[targets.tools]\nplatform = "linux/amd64"\ndependencies = ["greeter"]\n', "")
    repo.commit("drop tools")
    result = run_cli([*repo.plan("--base", "HEAD~1", "--format", "markdown")])
    assert result.code == 0, result.err
    document = json.loads(run_cli([*repo.plan("--base", "HEAD~1", "--json")]).out)
    cpu, tools = document["targets"]["cpu"], document["targets"]["tools"]
    base = repo.git("rev-parse", "HEAD~1")
    assert result.out.splitlines()[:10] == [
        "## envbuild: image plan", "",
        f"Base: `HEAD~1` (`{base[:12]}`)", "",
        "| target | image | by | old | new |", "| --- | --- | --- | --- | --- |",
        f"| `cpu` | unchanged | image hash | `{cpu['old'][:19]}` | `{cpu['new'][:19]}` |",
        f"| `tools` | removed | image hash | `{tools['old'][:19]}` | (absent) |", "",
        "**Images rebuilt:** none"]


def test_a_target_without_an_image_base_is_planned_by_target_hash(repo: Repo) -> None:
    repo.edit('[image]\nbase = "oci:base"\n', "")
    repo.commit("no image")
    repo.edit('dependencies = ["greeter"]', 'dependencies = ["greeter", "filelock"]')
    repo.commit("tools gains filelock")
    result = run_cli(repo.plan("--base", "HEAD~1"))
    assert result.code == 0, result.err
    assert result.out.splitlines()[1:] == [
        "cpu: unchanged by target hash  (no [image] base for this target)",
        "tools: changed by target hash  (no [image] base for this target)",
        "rebuild: tools"]


def test_a_bad_ref_is_bad_input(repo: Repo) -> None:
    result = run_cli(repo.plan("--base", "no-such-ref"))
    assert result.code == 2
    assert 'error: --base "no-such-ref" names no commit in this repository' in result.err


def test_no_default_branch_asks_for_a_base(repo: Repo) -> None:
    repo.git("branch", "-m", "main", "trunk")
    result = run_cli(repo.plan())
    assert result.code == 2
    assert ("error: no default branch to take a merge base with "
            "(looked for origin/HEAD, main, master)") in result.err


def test_a_base_lock_that_does_not_prove_is_reported_and_not_trusted(repo: Repo) -> None:
    lock = repo.folder / "envbuild.lock"
    good = lock.read_text()
    lock.write_text(good.replace('exclude-newer = "2024-03-01T00:00:00Z"',
                                 'exclude-newer = "2024-03-02T00:00:00Z"'))  # edited by hand
    repo.git("commit", "-qam", "hand edit")
    lock.write_text(good)
    result = run_cli(repo.plan("--base", "HEAD"))
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[1].startswith("!! base lock does not prove: ")
    note = "(the base lock does not prove: its hashes are not trusted)"
    assert lines[-3:] == [f"cpu: changed by image hash  {note}",
                          f"tools: changed by image hash  {note}", "rebuild: cpu tools"]
    markdown = run_cli(repo.plan("--base", "HEAD", "--format", "markdown")).out
    assert markdown.splitlines()[2] == ("> **Warning:** the base lock does not prove (its content "
                                        "does not match its hashes); its hashes are not trusted.")


def test_a_base_lock_the_reader_refuses_is_reported_and_not_trusted(repo: Repo) -> None:
    lock = repo.folder / "envbuild.lock"
    good = lock.read_text()
    lock.write_text(good.replace('exclude-newer = "2024-03-01T00:00:00Z"',
                                 'exclude-newer = "yesterday"'))  # a value no lock may hold
    repo.git("commit", "-qam", "bad value")
    commit = repo.git("rev-parse", "HEAD")[:12]
    lock.write_text(good)
    result = run_cli(repo.plan("--base", "HEAD"))
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[1].startswith(f"!! base lock does not prove: {commit}:envbuild.lock: "), lines
    assert "ci-base" not in result.out  # the scratch folder is never named
    note = "(the base lock does not prove: its hashes are not trusted)"
    assert lines[-3:] == [f"cpu: changed by image hash  {note}",
                          f"tools: changed by image hash  {note}", "rebuild: cpu tools"]
    shown = run_cli(["diff", "--base", "HEAD", str(lock)])
    assert shown.code == 1, shown.err  # a side that does not prove, as for a bad hash
    assert shown.out.splitlines()[0].startswith("!! old lock does not prove")
    assert shown.out.splitlines()[1].startswith("!!   HEAD:envbuild.lock: ")


MAC = '[targets.mac]\nplatform = "darwin/arm64"\n'
NO_IMAGE = "no image: darwin/arm64 (images are built for linux/amd64 and linux/arm64 only)"


def test_a_target_no_image_is_built_for_is_reported_and_never_rebuilt(repo: Repo) -> None:
    repo.edit("[datasets.val]", MAC + "[datasets.val]")
    repo.commit("add a mac target")
    document = json.loads(run_cli([*repo.plan("--base", "HEAD~1", "--json")]).out)
    assert document["rebuild"] == []
    assert document["targets"]["mac"]["status"] == "added"
    assert document["targets"]["mac"]["basis"] == "none"
    assert document["targets"]["mac"]["note"] == NO_IMAGE
    text = run_cli(repo.plan("--base", "HEAD~1"))
    assert text.out.splitlines()[1:] == [
        "cpu: unchanged by image hash", f"mac: added by target hash, no image  ({NO_IMAGE})",
        "tools: unchanged by image hash", "rebuild: none"]


def test_a_base_commit_with_an_empty_tree_plans_every_target_added(repo: Repo) -> None:
    empty_tree = repo.git("mktree", input_text="")
    empty = repo.git("commit-tree", empty_tree, "-m", "orphan root")
    assert _statuses(repo, empty) == {"cpu": "added", "tools": "added"}


def test_outside_a_git_repository_says_so(repo: Repo, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    shutil.copytree(repo.folder, plain, ignore=shutil.ignore_patterns(".git"))
    for command in (["plan"], ["build", "--push", "127.0.0.1:1/x/y"]):
        result = run_cli(["ci", *command, "-f", str(plain / "envbuild.toml")])
        assert result.code == 2
        assert result.err.splitlines()[:2] == [
            f"error: {plain}: not inside a git repository",
            "hint: CI plans compare with a git ref: run inside the repository"]


def test_a_shallow_clone_says_how_to_fetch_the_base(repo: Repo, tmp_path: Path) -> None:
    (repo.folder / "README.md").write_text("docs\n")
    repo.commit("docs")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{repo.folder}", str(clone)],
                   check=True)
    result = run_cli(["ci", "plan", "-f", str(clone / "envbuild.toml"), "--base", "HEAD~1"])
    assert result.code == 2
    assert result.err.splitlines() == [
        'error: --base "HEAD~1" names no commit in this repository',
        "hint: this is a shallow clone, without the history the base is in: fetch it "
        "(actions/checkout with fetch-depth: 0, GIT_DEPTH: 0 on GitLab, or git fetch --unshallow)"]


COPYING = MANIFEST.replace('base = "oci:base"\n', 'base = "oci:base"\ncopy = ["src/"]\n')
SOURCES = {"src/train.py": "print('train')\n", ".gitignore": "src/*.env\n"}


@pytest.fixture
def copying(eb_env: dict[str, str], tmp_path: Path) -> Repo:
    """Images copy src/; git ignores src/*.env."""
    return make_repo(tmp_path / "copying", COPYING, SOURCES)


def test_an_edited_copied_file_is_named_as_the_reason(copying: Repo) -> None:
    (copying.folder / "src" / "train.py").write_text("print('train harder')\n")
    document = json.loads(run_cli([*copying.plan("--base", "HEAD", "--json")]).out)
    assert document["rebuild"] == ["cpu", "tools"]
    reason = "the lock is the same; copied files changed: src/train.py"
    assert {n: (t["status"], t["note"]) for n, t in document["targets"].items()} == {
        "cpu": ("changed", reason), "tools": ("changed", reason)}
    markdown = run_cli(["diff", "-f", str(copying.manifest), "--format", "markdown"])
    assert markdown.code == 0, markdown.err
    lines = markdown.out.splitlines()
    assert "The locks are identical; the images rebuilt change through their other inputs " \
           "(see the notes)." in lines
    assert f"- `cpu`: {reason}" in lines


def test_a_git_ignored_file_in_a_copied_folder_changes_no_image(copying: Repo) -> None:
    """A clean checkout (CI's) never has it: the working side skips it as the base side
    (read from git) does, and a local image is the one CI builds."""
    (copying.folder / "src" / "local.env").write_text("TOKEN=secret\n")
    assert _statuses(copying, "HEAD") == {"cpu": "unchanged", "tools": "unchanged"}
    (copying.folder / "src" / "new.py").write_text("print('new')\n")  # untracked, not ignored
    assert _statuses(copying, "HEAD") == {"cpu": "changed", "tools": "changed"}
