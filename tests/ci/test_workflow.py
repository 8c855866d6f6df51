"""`envbuild ci workflow --github`: a valid, hardened workflow that fans changed targets out.

Validated offline with the tools GitHub users run on workflows: check-jsonschema (the
SchemaStore schema for workflows) and zizmor (security audits, every persona).
"""

from __future__ import annotations

import contextlib
import io
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest

from envbuild import __version__
from envbuild.cli._boundary import run as boundary_run
from envbuild.cli.ci_workflow import workflow
from tests.helpers import Result

yaml = pytest.importorskip("yaml", reason="PyYAML reads the workflow back")

_BIN = Path(sys.executable).parent


def _tool(name: str) -> str | None:
    beside = _BIN / name  # the venv's own copy first: the tests run the venv's python
    return str(beside) if beside.is_file() else shutil.which(name)


@click.group()
def _ci() -> None:
    """Stands in for the `ci` group, which registers `workflow` with one line."""


_ci.add_command(workflow)


def _run(args: list[str]) -> Result:
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            boundary_run(_ci, ["workflow", *args])
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else 1
    return Result(code=code, out=out.getvalue(), err=err.getvalue())


@pytest.fixture
def written(tmp_path: Path) -> Path:
    path = tmp_path / ".github" / "workflows" / "envbuild.yml"
    result = _run(["--github", "-o", str(path)])
    assert (result.code, result.out, result.err) == (0, "", f"wrote {path}\n")
    return path


def _load(path: Path) -> dict[Any, Any]:
    document = yaml.safe_load(path.read_text())
    assert isinstance(document, dict)
    return document


@pytest.mark.parametrize("schema", ["vendor.github-workflows", "custom.github-workflows-require-timeout"])
def test_the_workflow_passes_githubs_workflow_schema(written: Path, schema: str) -> None:
    tool = _tool("check-jsonschema")
    if tool is None:
        pytest.skip("check-jsonschema is not installed (pip install check-jsonschema)")
    done = subprocess.run([tool, "--builtin-schema", schema, str(written)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok -- validation done" in done.stdout


@pytest.mark.parametrize("persona", ["regular", "pedantic", "auditor"])
def test_zizmor_finds_nothing(written: Path, persona: str) -> None:
    tool = _tool("zizmor")
    if tool is None:
        pytest.skip("zizmor is not installed (pip install zizmor)")
    done = subprocess.run([tool, "--offline", f"--persona={persona}", "--format=json", str(written)],
                          capture_output=True, text=True, check=False)
    assert (done.returncode, done.stdout.strip()) == (0, "[]"), done.stdout + done.stderr


def test_the_workflow_is_deterministic_and_the_same_on_standard_output(written: Path) -> None:
    again = _run(["--github"])
    assert again.code == 0
    assert again.out == written.read_text()
    assert _run(["--github"]).out == again.out


def test_each_changed_target_gets_its_own_build_job_from_the_plan(written: Path) -> None:
    jobs = _load(written)["jobs"]
    plan, build = jobs["plan"], jobs["build"]
    assert plan["if"] == "github.event_name == 'push'"
    assert plan["outputs"]["targets"] == "${{ steps.plan.outputs.targets }}"
    step = next(s for s in plan["steps"] if s.get("id") == "plan")
    assert 'envbuild ci plan --base "$base" --json' in step["run"]
    assert 'echo "targets=$targets" >> "$GITHUB_OUTPUT"' in step["run"]
    assert build["needs"] == "plan"
    assert build["if"] == "needs.plan.outputs.targets != '[]'"
    assert build["strategy"] == {"fail-fast": False,
                                 "matrix": {"target": "${{ fromJSON(needs.plan.outputs.targets) }}"}}
    assert build["name"] == "Build ${{ matrix.target }}"
    assert build["steps"][-1] == {
        "name": "Build and push the image",
        "env": {"TARGET": "${{ matrix.target }}", "BASE": "${{ needs.plan.outputs.base }}"},
        "run": 'envbuild ci build --base "$BASE" --target "$TARGET" --push'}


def test_pull_requests_check_the_lock_and_post_the_plan_as_the_summary(written: Path) -> None:
    document = _load(written)
    assert set(document["on"]) == {"pull_request", "push"}  # never pull_request_target
    check = document["jobs"]["check"]
    assert check["if"] == "github.event_name == 'pull_request'"
    runs = [s["run"] for s in check["steps"] if "run" in s]
    assert runs[1:] == ["envbuild lock --check",
                        'envbuild ci plan --base "$BASE_SHA" --format markdown >> "$GITHUB_STEP_SUMMARY"']


def test_actions_are_pinned_by_sha_with_the_release_beside_and_permissions_are_read_only(
        written: Path) -> None:
    text = written.read_text()
    uses = re.findall(r"uses: (.*)", text)
    assert len(uses) == 6  # checkout and setup-python in each of the three jobs
    for line in uses:
        assert re.fullmatch(r'"actions/(checkout|setup-python)@[0-9a-f]{40}" # v\d+\.\d+\.\d+', line), line
    document = _load(written)
    assert document["permissions"] == {"contents": "read"}
    for job in document["jobs"].values():
        assert job["permissions"] == {"contents": "read"}
        checkout = job["steps"][0]
        assert checkout["with"]["persist-credentials"] is False
        assert job["steps"][2]["run"] == f'python -m pip install "envbuild=={__version__}"'
    login = document["jobs"]["build"]["steps"][3]["env"]
    assert login["REGISTRY_PASSWORD"] == "${{ secrets.ENVBUILD_REGISTRY_PASSWORD }}"
    assert document["jobs"]["build"]["environment"] == "envbuild-registry"


def test_options_reach_the_workflow(tmp_path: Path) -> None:
    result = _run(["--github", "--branch", "trunk", "--python", "3.13", "--runner", "ubuntu-22.04",
                   "--envbuild-version", "0.2.0"])
    assert result.code == 0, result.err
    document = yaml.safe_load(result.out)
    assert document["on"]["push"]["branches"] == ["trunk"]
    assert document["on"]["pull_request"]["branches"] == ["trunk"]
    job = document["jobs"]["plan"]
    assert job["runs-on"] == "ubuntu-22.04"
    assert job["steps"][1]["with"] == {"python-version": "3.13"}
    assert job["steps"][2]["run"] == 'python -m pip install "envbuild==0.2.0"'


# One case per option: the value that must not reach the YAML or the shell, and the refusal
# naming that option and what a valid value looks like.
_REFUSED = {
    "branch": (["--branch", "main'; curl x"],
               "error: --branch \"main'; curl x\" is not a plain branch name\n"
               "hint: --branch takes a branch name of letters, digits, '.', '-', '_' and '/', "
               "such as main\n"),
    "python": (["--python", "3.12; echo"],
               "error: --python '3.12; echo' is not a Python version\n"
               "hint: --python takes a Python minor version such as 3.12\n"),
    "envbuild-version": (["--envbuild-version", '0.1.0"; x'],
                         "error: --envbuild-version '0.1.0\"; x' is not a release version\n"
                         "hint: --envbuild-version takes a release version such as 0.1.0\n"),
    "envbuild-version-word": (["--envbuild-version", "latest"],
                              "error: --envbuild-version 'latest' is not a release version\n"
                              "hint: --envbuild-version takes a release version such as 0.1.0\n"),
    # packaging reads " 1.0" and "1.0\n" as 1.0; the workflow would carry the whitespace.
    "envbuild-version-newline": (["--envbuild-version", "0.1.0\n"],
                                 "error: --envbuild-version '0.1.0\\n' is not a release version\n"
                                 "hint: --envbuild-version takes a release version such as 0.1.0\n"),
    "runner": (["--runner", "ubuntu latest"],
               "error: --runner 'ubuntu latest' is not a runner label\n"
               "hint: --runner takes a runner label of lowercase letters, digits, '.' and '-', "
               "such as ubuntu-24.04\n"),
}


@pytest.mark.parametrize("case", sorted(_REFUSED))
def test_a_value_that_could_inject_is_refused_with_a_hint_about_its_option(case: str) -> None:
    args, expected = _REFUSED[case]
    for kind in ("--github", "--gitlab"):
        result = _run([kind, *args])
        assert (result.code, result.out, result.err) == (2, "", expected)


def test_every_bad_value_is_named_at_once_each_with_its_hint() -> None:
    result = _run(["--github", "--python", "3.12; echo", "--runner", "ubuntu latest"])
    assert (result.code, result.out) == (2, "")
    assert result.err == (
        "error: --python '3.12; echo' is not a Python version; "
        "--runner 'ubuntu latest' is not a runner label\n"
        "hint: --python takes a Python minor version such as 3.12; --runner takes a runner label "
        "of lowercase letters, digits, '.' and '-', such as ubuntu-24.04\n")


def test_without_a_ci_kind_it_says_which_to_choose() -> None:
    result = _run([])
    assert (result.code, result.out) == (2, "")
    assert "Error: say which CI to write for: --github or --gitlab\n" in result.err


def test_both_ci_kinds_at_once_are_refused_as_exclusive() -> None:
    result = _run(["--github", "--gitlab"])
    assert (result.code, result.out) == (2, "")
    assert "Error: --github and --gitlab exclude each other: write one workflow per run\n" in result.err
