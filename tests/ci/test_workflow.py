"""`envbuild ci workflow --github`: a valid, hardened workflow that fans changed targets out.

Validated offline with the tools GitHub users run on workflows: check-jsonschema (the
SchemaStore schema for workflows) and zizmor (security audits, every persona).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import importlib.util
import io
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import click
import pytest

from envbuild.cli._boundary import run as boundary_run
from envbuild.cli.ci_workflow import workflow
from tests.helpers import Result

yaml = pytest.importorskip("yaml", reason="PyYAML reads the workflow back")

_BIN = Path(sys.executable).parent
_REQUIREMENTS = "ci/envbuild-requirements.txt"
SOURCE = ["--requirements", _REQUIREMENTS]  # where the jobs install envbuild from
INSTALL = f'python -m pip install --require-hashes -r "{_REQUIREMENTS}"'
_NOT_ON_THE_INDEX = ("hint: envbuild is not on the default package index: commit a requirements file "
                     "that pins envbuild and every dependency with --hash (uv pip compile "
                     "--generate-hashes; add the envbuild wheel's sha256 by hand) and pass "
                     "--requirements PATH\n")


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
    result = _run(["--github", *SOURCE, "-o", str(path)])
    assert (result.code, result.out, result.err) == (0, "", f"wrote {path}\n")
    return path


SUBFOLDER = ["-f", "ml/envbuild.toml", "--lock", "ml/locks/envbuild.lock"]
SUBFOLDER_FILES = (Path("ml/envbuild.toml"), Path("ml/locks/envbuild.lock"))


@pytest.fixture
def subfolder(tmp_path: Path) -> Path:
    path = tmp_path / ".github" / "workflows" / "subfolder.yml"
    result = _run(["--github", *SOURCE, *SUBFOLDER, "-o", str(path)])
    assert (result.code, result.err) == (0, f"wrote {path}\n")
    return path


def envbuild_calls(scripts: list[str], folder: Path) -> list[tuple[str, dict[str, Any]]]:
    """Every envbuild command line in `scripts`, run by sh with `envbuild` a function that
    records its arguments, then parsed by envbuild's own CLI: (command, its parameters)."""
    from envbuild.cli import cli

    record = folder / "envbuild-arguments"
    env = {"PATH": os.environ["PATH"], "RECORD": str(record), "RUNNER_TEMP": str(folder),
           "GITHUB_STEP_SUMMARY": str(folder / "summary.md"), "BASE_SHA": "1" * 40,
           "CI_MERGE_REQUEST_DIFF_BASE_SHA": "1" * 40, "base": "2" * 40, "BASE": "3" * 40,
           "TARGET": "cpu"}
    calls = []
    for line in [line for script in scripts for line in script.splitlines()
                 if line.startswith("envbuild ")]:
        subprocess.run(["sh", "-c", f'envbuild() {{ printf "%s\\0" "$@" > "$RECORD"; }}\n{line}'],
                       cwd=folder, env=env, check=True)
        argv = record.read_text().split("\0")[:-1]
        command: click.Command = cli
        names = []
        while isinstance(command, click.Group):
            names.append(argv.pop(0))
            found = command.get_command(click.Context(command), names[-1])
            assert found is not None, names
            command = found
        with command.make_context(" ".join(names), argv) as context:
            calls.append((" ".join(names), dict(context.params)))
    return calls


@pytest.fixture
def from_index(tmp_path: Path) -> Path:
    path = tmp_path / ".github" / "workflows" / "from-index.yml"
    result = _run(["--github", "--from-index", "--envbuild-version", "0.2.0", "-o", str(path)])
    assert (result.code, result.err) == (0, f"wrote {path}\n")
    return path


def _load(path: Path) -> dict[Any, Any]:
    document = yaml.safe_load(path.read_text())
    assert isinstance(document, dict)
    return document


@pytest.mark.parametrize("schema", ["vendor.github-workflows", "custom.github-workflows-require-timeout"])
def test_the_workflow_passes_githubs_workflow_schema(written: Path, from_index: Path,
                                                     subfolder: Path, schema: str) -> None:
    tool = _tool("check-jsonschema")
    if tool is None:
        pytest.skip("check-jsonschema is not installed (pip install check-jsonschema)")
    done = subprocess.run([tool, "--builtin-schema", schema, str(written), str(from_index),
                           str(subfolder)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok -- validation done" in done.stdout


@pytest.mark.parametrize("persona", ["regular", "pedantic", "auditor"])
def test_zizmor_finds_nothing(written: Path, from_index: Path, subfolder: Path, persona: str) -> None:
    tool = _tool("zizmor")
    if tool is None:
        pytest.skip("zizmor is not installed (pip install zizmor)")
    done = subprocess.run([tool, "--offline", f"--persona={persona}", "--format=json",
                           str(written.parent)],
                          capture_output=True, text=True, check=False)
    assert (done.returncode, done.stdout.strip()) == (0, "[]"), done.stdout + done.stderr


def test_the_workflow_is_deterministic_and_the_same_on_standard_output(written: Path) -> None:
    again = _run(["--github", *SOURCE])
    assert again.code == 0
    assert again.out == written.read_text()
    assert _run(["--github", *SOURCE]).out == again.out


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
    assert runs == [INSTALL, "envbuild lock --check",
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
        assert job["steps"][2] == {"name": "Install envbuild", "run": INSTALL}
    login = document["jobs"]["build"]["steps"][3]["env"]
    assert login["REGISTRY_PASSWORD"] == "${{ secrets.ENVBUILD_REGISTRY_PASSWORD }}"
    assert document["jobs"]["build"]["environment"] == "envbuild-registry"


def test_options_reach_the_workflow(tmp_path: Path) -> None:
    result = _run(["--github", *SOURCE, "--branch", "trunk", "--python", "3.13",
                   "--runner", "ubuntu-22.04"])
    assert result.code == 0, result.err
    document = yaml.safe_load(result.out)
    assert document["on"]["push"]["branches"] == ["trunk"]
    assert document["on"]["pull_request"]["branches"] == ["trunk"]
    job = document["jobs"]["plan"]
    assert job["runs-on"] == "ubuntu-22.04"
    assert job["steps"][1]["with"] == {"python-version": "3.13"}
    assert job["steps"][2]["run"] == INSTALL


def _scripts(path: Path) -> list[str]:
    return [step["run"] for job in _load(path)["jobs"].values() for step in job["steps"]
            if "run" in step]


def test_every_envbuild_step_is_a_command_line_envbuild_parses(written: Path, tmp_path: Path) -> None:
    calls = envbuild_calls(_scripts(written), tmp_path)
    assert [name for name, _ in calls] == ["lock", "ci plan", "ci plan", "ci build"]
    assert [(p["manifest_path"], p["lock_path"]) for _, p in calls] == [(Path("envbuild.toml"), None)] * 4
    (_, check), (_, summary), (_, plan), (_, build) = calls
    assert check["check_only"] is True
    assert (summary["base"], summary["fmt"]) == ("1" * 40, "markdown")
    assert (plan["base"], plan["as_json"]) == ("2" * 40, True)
    assert (build["base"], build["targets"], build["push"]) == ("3" * 40, ("cpu",), "")


def test_a_project_in_a_subfolder_reaches_every_envbuild_step(subfolder: Path, tmp_path: Path) -> None:
    calls = envbuild_calls(_scripts(subfolder), tmp_path)
    assert [name for name, _ in calls] == ["lock", "ci plan", "ci plan", "ci build"]
    assert [(p["manifest_path"], p["lock_path"]) for _, p in calls] == [SUBFOLDER_FILES] * 4


def test_from_index_installs_the_named_release_only_when_asked(from_index: Path) -> None:
    for job in _load(from_index)["jobs"].values():
        assert job["steps"][2]["run"] == 'python -m pip install "envbuild==0.2.0"'


# Paths that would leave the repository, read as an option, or need quoting.
_BAD_PATHS = ["/etc/req.txt", "../req.txt", "ci/../../req.txt", "./", "ci//req.txt", "ci/",
              "", "-r.txt", "ci/req s.txt", 'ci/a"b.txt', "ci/$HOME.txt", "ci/a\nb.txt"]


def _bad_path(option: str, path: str, example: str = "ci/envbuild-requirements.txt") -> str:
    return (f"error: {option} {path!r} is not a plain relative path inside the repository\n"
            f"hint: {option} takes a path from the repository root, folders of letters, digits, "
            f"'.', '-' and '_' joined by '/', such as {example}\n")


# One case per option: the value that must not reach the YAML or the shell, and the refusal
# naming that option and what a valid value looks like.
_REFUSED = {
    "branch": ([*SOURCE, "--branch", "main'; curl x"],
               "error: --branch \"main'; curl x\" is not a plain branch name\n"
               "hint: --branch takes a branch name of letters, digits, '.', '-', '_' and '/', "
               "such as main\n"),
    "python": ([*SOURCE, "--python", "3.12; echo"],
               "error: --python '3.12; echo' is not a Python version\n"
               "hint: --python takes a Python minor version such as 3.12\n"),
    "envbuild-version": (["--from-index", "--envbuild-version", '0.1.0"; x'],
                         "error: --envbuild-version '0.1.0\"; x' is not a release version\n"
                         "hint: --envbuild-version takes a release version such as 0.1.0\n"),
    "envbuild-version-word": (["--from-index", "--envbuild-version", "latest"],
                              "error: --envbuild-version 'latest' is not a release version\n"
                              "hint: --envbuild-version takes a release version such as 0.1.0\n"),
    # packaging reads " 1.0" and "1.0\n" as 1.0; the workflow would carry the whitespace.
    "envbuild-version-newline": (["--from-index", "--envbuild-version", "0.1.0\n"],
                                 "error: --envbuild-version '0.1.0\\n' is not a release version\n"
                                 "hint: --envbuild-version takes a release version such as 0.1.0\n"),
    "no-source": ([],
                  "error: say where the jobs install envbuild from: --requirements PATH "
                  "(hash-pinned) or --from-index --envbuild-version VERSION (an index you control)\n"
                  + _NOT_ON_THE_INDEX),
    "both-sources": ([*SOURCE, "--from-index"],
                     "error: --requirements and --from-index exclude each other\n" + _NOT_ON_THE_INDEX),
    "from-index-without-version": (["--from-index"],
                                   "error: --from-index installs envbuild==VERSION, unhashed: name "
                                   "VERSION\n"
                                   "hint: --envbuild-version takes a release version such as 0.1.0\n"),
    "version-beside-requirements": ([*SOURCE, "--envbuild-version", "0.1.0"],
                                    "error: --envbuild-version applies to --from-index; the "
                                    "requirements file pins envbuild\n"
                                    "hint: pin envbuild in the requirements file, with its --hash\n"),
    **{f"requirements {path!r}": (["--requirements", path], _bad_path("--requirements", path))
       for path in _BAD_PATHS},
    "file": ([*SOURCE, "-f", "../envbuild.toml"],
             _bad_path("--file", "../envbuild.toml", "ml/envbuild.toml")),
    "lock": ([*SOURCE, "--lock", "/etc/envbuild.lock"],
             _bad_path("--lock", "/etc/envbuild.lock", "ml/envbuild.lock")),
    "runner": ([*SOURCE, "--runner", "ubuntu latest"],
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
    result = _run(["--github", *SOURCE, "--python", "3.12; echo", "--runner", "ubuntu latest"])
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


def _urlsafe_sha256(text: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()


def _wheel(folder: Path, name: str, version: str, requires: tuple[str, ...] = ()) -> str:
    """A minimal wheel (metadata only) at `folder`; returns its sha256."""
    dist = f"{name.replace('-', '_')}-{version}"
    metadata = "".join([f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
                        *(f"Requires-Dist: {r}\n" for r in requires)])
    files = {f"{dist}.dist-info/METADATA": metadata,
             f"{dist}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                                        "Tag: py3-none-any\n"}
    record = [f"{member},sha256={_urlsafe_sha256(text)},{len(text)}" for member, text in files.items()]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for member, text in files.items():
            archive.writestr(member, text)
        archive.writestr(f"{dist}.dist-info/RECORD", "\n".join([*record, f"{dist}.dist-info/RECORD,,"]))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _install_in_a_job(step: str, repo: Path) -> tuple[subprocess.CompletedProcess[str], Path]:
    """Run the install step as a job does (sh, at the repository root) into a fresh Python
    environment that has only pip, with no index: what is installed is what the file names."""
    job = repo.parent / "job"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(job)], check=True)
    pip_only = repo.parent / "pip-only"
    pip_only.mkdir()
    spec = importlib.util.find_spec("pip")
    assert spec is not None and spec.submodule_search_locations
    (pip_only / "pip").symlink_to(spec.submodule_search_locations[0])
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON"))},
           "PATH": f"{job / 'bin'}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(pip_only),
           "PIP_CONFIG_FILE": os.devnull, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(repo / "wheels"),
           "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    done = subprocess.run(["sh", "-c", step], cwd=repo, env=env, capture_output=True, text=True,
                          check=False)
    site = next((job / "lib").glob("python3*/site-packages"))
    return done, site


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository with envbuild's wheel committed in tools/ and its dependency in wheels/."""
    root = tmp_path / "repo"
    digest = _wheel(root / "tools", "envbuild", "0.1.0", requires=("envbuild-dep==1.0",))
    dep = _wheel(root / "wheels", "envbuild-dep", "1.0")
    (root / "ci").mkdir()
    (root / _REQUIREMENTS).write_text(
        f"./tools/envbuild-0.1.0-py3-none-any.whl --hash=sha256:{digest}\n"
        f"envbuild-dep==1.0 --hash=sha256:{dep}\n")
    return root


def test_the_install_step_installs_exactly_the_hashed_files(written: Path, repo: Path) -> None:
    done, site = _install_in_a_job(_load(written)["jobs"]["plan"]["steps"][2]["run"], repo)
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(p.name for p in site.iterdir()) == ["envbuild-0.1.0.dist-info",
                                                      "envbuild_dep-1.0.dist-info"]


def test_the_install_step_refuses_a_wheel_that_is_not_the_hashed_one(written: Path, repo: Path) -> None:
    _wheel(repo / "tools", "envbuild", "0.1.0", requires=("envbuild-dep==1.0", "evil"))
    done, site = _install_in_a_job(_load(written)["jobs"]["plan"]["steps"][2]["run"], repo)
    assert done.returncode == 1
    assert "THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE" in done.stderr
    assert list(site.iterdir()) == []


def test_the_install_step_refuses_a_dependency_without_a_hash(written: Path, repo: Path) -> None:
    lines = (repo / _REQUIREMENTS).read_text().splitlines()
    (repo / _REQUIREMENTS).write_text(lines[0] + "\n")  # envbuild hashed, its dependency not
    done, site = _install_in_a_job(_load(written)["jobs"]["plan"]["steps"][2]["run"], repo)
    assert done.returncode == 1
    assert "Hashes are required in --require-hashes mode" in done.stderr
    assert list(site.iterdir()) == []


def test_writing_into_a_repository_notes_the_files_its_jobs_would_miss(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "ml").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    path = repo / ".github" / "workflows" / "envbuild.yml"
    result = _run(["--github", "--requirements", "ci/req.txt", "-f", "ml/envbuild.toml",
                   "-o", str(path)])
    assert result.code == 0, result.err
    assert result.err.splitlines() == [
        f"wrote {path}",
        f"note: the manifest ml/envbuild.toml is not in the repository at {repo} (paths are "
        "from its root): add and commit it before the workflow runs",
        f"note: the lock ml/envbuild.lock is not in the repository at {repo} (paths are from "
        "its root): add and commit it before the workflow runs",
        f"note: the requirements file ci/req.txt is not in the repository at {repo} (paths "
        "are from its root): add and commit it before the workflow runs"]
    (repo / "ml/envbuild.toml").write_text("")
    (repo / "ml/envbuild.lock").write_text("")
    (repo / "ci").mkdir()
    (repo / "ci/req.txt").write_text("envbuild==0.1.0\n")
    result = _run(["--github", "--requirements", "ci/req.txt", "-f", "ml/envbuild.toml",
                   "-o", str(path)])
    assert result.err.splitlines()[1:] == [
        "note: ci/req.txt pins nothing by --hash: `pip install --require-hashes` in every job "
        "will refuse it"]
    (repo / "ci/req.txt").write_text("envbuild==0.1.0 --hash=sha256:" + "0" * 64 + "\n")
    result = _run(["--github", "--requirements", "ci/req.txt", "-f", "ml/envbuild.toml",
                   "-o", str(path)])
    assert result.err.splitlines() == [f"wrote {path}"]
