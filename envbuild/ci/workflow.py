"""The GitHub Actions workflow that runs envbuild in CI, as YAML text.

On pull requests one job checks the lock and writes the plan (`envbuild ci plan --format
markdown`) to the job summary, where a reviewer reads it. On pushes to the default branch a
`plan` job lists the changed and added targets as a JSON array output, and a `build` job fans
out over it as a matrix (`fromJSON(needs.plan.outputs.targets)`), one runner per target, each
running `envbuild ci build --target T --push`.

Hardening, checked by zizmor in the tests: every action pinned by commit SHA with its
release in a comment, `contents: read` at the top and per job, no `pull_request_target`,
checkout without persisted credentials, no `${{ }}` expansion inside a shell script (values
travel through `env:`), registry credentials from secrets. envbuild is not on the default
package index, and the install step runs where the registry secrets are: it installs from a
requirements file in the repository that pins envbuild and every dependency by hash
(`pip install --require-hashes`), or, only when asked (`from_index`), `envbuild==V` from an
index the team controls. The text is a function of the options alone (no dates, no host
names), so regenerating it gives the same bytes.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from envbuild import __version__
from envbuild.cluster.yamlemit import dump, scalar
from envbuild.errors import InputError
from envbuild.scrub import escape


@dataclass(frozen=True, kw_only=True, slots=True)
class Action:
    """A third-party action pinned to the commit of one release."""

    name: str
    commit: str
    release: str

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.commit}"


# The commits of these releases, as tagged upstream; bump both fields together.
CHECKOUT = Action(name="actions/checkout", commit="de0fac2e4500dabe0009e67214ff5f5447ce83dd",
                  release="v6.0.2")
SETUP_PYTHON = Action(name="actions/setup-python", commit="a309ff8b426b58ec0e2a45f0f869d46889d02405",
                      release="v6.2.0")
ACTIONS = (CHECKOUT, SETUP_PYTHON)

# What the workflow reads from the repository's settings: the registry host as a variable,
# the login as secrets (never in the file) of a deployment environment, so that only the
# jobs that name it (the build, on the default branch) can read them.
ENVIRONMENT = "envbuild-registry"
REGISTRY_VARIABLE = "ENVBUILD_REGISTRY"
USERNAME_SECRET = "ENVBUILD_REGISTRY_USERNAME"
PASSWORD_SECRET = "ENVBUILD_REGISTRY_PASSWORD"

# The targets `ci build` must rebuild, from `ci plan --json`: {"targets": [{"name", "status"}]}.
_SELECT = ".rebuild"  # `ci plan --json`: the changed and added targets, by image hash

_PYTHON = re.compile(r"3\.[0-9]{1,2}")
# What PEP 440 spells with, and nothing packaging forgives around it (it strips whitespace).
_VERSION = re.compile(r"[0-9][0-9A-Za-z.+!-]{0,63}")
# A branch name as it may appear unquoted in YAML and in a glob: no spaces, quotes, globs
# or `${{`; git allows more, but a default branch with those is not worth the escaping.
_BRANCH = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,99}")
_RUNNER = re.compile(r"[a-z0-9][a-z0-9.-]{0,63}")
# A path component that needs no quoting in YAML or shell and is never read as an option.
_COMPONENT = re.compile(r"[A-Za-z0-9._][A-Za-z0-9._-]{0,254}")


@dataclass(frozen=True, kw_only=True, slots=True)
class WorkflowOptions:
    """What a generated workflow depends on."""

    # Where the jobs get envbuild: a requirements file in the repository, relative to its
    # root, every line pinned with --hash; or, opted into, `envbuild==envbuild_version`
    # from the index the runner is configured with (unhashed: a team's own index only).
    requirements: str | None = None
    from_index: bool = False
    envbuild_version: str | None = None
    # A project in a subfolder: its manifest and lock, from the repository root, given to
    # every envbuild step as `-f` and `--lock` (None: envbuild's own defaults).
    manifest: str | None = None
    lock: str | None = None
    branch: str = "main"       # the default branch: pushes there build
    python: str = "3.12"
    runner: str = "ubuntu-24.04"  # a fixed image rather than `-latest`, which moves


def missing_inputs(options: WorkflowOptions, top: Path) -> list[str]:
    """Notes on the files the workflow will read from the repository root `top` that are not
    there (or, for the requirements file, carry no hash) now: the jobs would fail on them."""
    notes = []
    manifest = options.manifest or "envbuild.toml"
    lock = options.lock or posixpath.join(posixpath.dirname(manifest), "envbuild.lock")
    for what, path in (("manifest", manifest), ("lock", lock),
                       ("requirements file", options.requirements)):
        if path is None:
            continue
        found = top / path
        if not found.is_file():
            notes.append(f"the {what} {path} is not in the repository at {top} (paths are from "
                         "its root): add and commit it before the workflow runs")
        elif what == "requirements file" and "--hash=" not in found.read_text(errors="replace"):
            notes.append(f"{path} pins nothing by --hash: `pip install --require-hashes` in "
                         "every job will refuse it")
    return notes


def github_workflow(options: WorkflowOptions) -> str:
    """The workflow's YAML text for `options`; InputError for a value it cannot carry."""
    check_options(options)
    document: dict[str, Any] = {
        "name": "envbuild",
        # GitHub reads `on` as a key; the emitter quotes it so no YAML 1.1 reader takes it for true.
        "on": {"pull_request": {"branches": [options.branch]},
               "push": {"branches": [options.branch]}},
        "permissions": {"contents": "read"},
        "concurrency": {"group": "envbuild-${{ github.ref }}",
                        # Never cancel a build half-pushed; do cancel superseded pull-request runs.
                        "cancel-in-progress": "${{ github.event_name == 'pull_request' }}"},
        "jobs": {"check": _check_job(options), "plan": _plan_job(options),
                 "build": _build_job(options)},
    }
    header = (f"# Written by `envbuild ci workflow --github` (envbuild {__version__}).\n"
              "# Regenerate it rather than editing it. Needs the variable\n"
              f"# {REGISTRY_VARIABLE} (registry host) and the secrets {USERNAME_SECRET} and\n"
              f"# {PASSWORD_SECRET} in the deployment environment {ENVIRONMENT}.\n")
    return header + _cite_releases(dump(document))


def check_options(options: WorkflowOptions) -> None:
    """InputError naming every option value that cannot go into a workflow unquoted, with a
    hint per option saying what a valid value looks like."""
    problems = _install_problems(options)  # (what is wrong, what the option takes)
    if options.envbuild_version is not None and not (
            _VERSION.fullmatch(options.envbuild_version) and _is_version(options.envbuild_version)):
        problems.append((f"--envbuild-version {escape(options.envbuild_version)!r} is not a release version",
                         "--envbuild-version takes a release version such as 0.1.0"))
    for option, path, example in (("--file", options.manifest, "ml/envbuild.toml"),
                                  ("--lock", options.lock, "ml/envbuild.lock")):
        problem = None if path is None else repo_path_problem(path, option, example)
        if problem:
            problems.append(problem)
    if not _BRANCH.fullmatch(options.branch):
        problems.append((f"--branch {escape(options.branch)!r} is not a plain branch name",
                         "--branch takes a branch name of letters, digits, '.', '-', '_' and '/', "
                         "such as main"))
    if not _PYTHON.fullmatch(options.python):
        problems.append((f"--python {escape(options.python)!r} is not a Python version",
                         "--python takes a Python minor version such as 3.12"))
    if not _RUNNER.fullmatch(options.runner):
        problems.append((f"--runner {escape(options.runner)!r} is not a runner label",
                         "--runner takes a runner label of lowercase letters, digits, '.' and '-', "
                         "such as ubuntu-24.04"))
    if problems:
        raise InputError("; ".join(problem for problem, _ in problems),
                         hint="; ".join(hint for _, hint in problems))


def envbuild_command(options: WorkflowOptions, command: str, arguments: str) -> str:
    """`envbuild COMMAND [-f M] [--lock L] ARGUMENTS`, with the project's files if it names
    them (options already checked: the paths need no quoting beyond double quotes)."""
    files = "".join([f' -f "{options.manifest}"' if options.manifest else "",
                     f' --lock "{options.lock}"' if options.lock else ""])
    return f"envbuild {command}{files} {arguments}"


def install_command(options: WorkflowOptions) -> str:
    """The shell command that installs envbuild in a job (options already checked)."""
    if options.requirements is not None:
        # --require-hashes: a dependency without a hash, or a file with another hash, fails.
        return f'python -m pip install --require-hashes -r "{options.requirements}"'
    return f'python -m pip install "envbuild=={options.envbuild_version}"'


def repo_path_problem(value: str, option: str, example: str) -> tuple[str, str] | None:
    """Why `value` is not a plain relative path inside the repository (with the hint for
    `option`), or None: it goes unescaped into YAML and, double-quoted, into shell."""
    parts = value.split("/")
    if value.startswith("/") or not all(_COMPONENT.fullmatch(p) and p not in (".", "..")
                                        for p in parts):
        return (f"{option} {escape(value)!r} is not a plain relative path inside the repository",
                f"{option} takes a path from the repository root, folders of letters, digits, "
                f"'.', '-' and '_' joined by '/', such as {example}")
    return None


def _install_problems(options: WorkflowOptions) -> list[tuple[str, str]]:
    hashed = ("envbuild is not on the default package index: commit a requirements file that pins "
              "envbuild and every dependency with --hash (uv pip compile --generate-hashes; add "
              "the envbuild wheel's sha256 by hand) and pass --requirements PATH")
    if options.requirements is not None and options.from_index:
        return [("--requirements and --from-index exclude each other", hashed)]
    if options.requirements is not None:
        problem = repo_path_problem(options.requirements, "--requirements",
                                    "ci/envbuild-requirements.txt")
        if options.envbuild_version is not None:
            return [("--envbuild-version applies to --from-index; the requirements file pins envbuild",
                     "pin envbuild in the requirements file, with its --hash"),
                    *([problem] if problem else [])]
        return [problem] if problem else []
    if options.from_index:
        if options.envbuild_version is None:
            return [("--from-index installs envbuild==VERSION, unhashed: name VERSION",
                     "--envbuild-version takes a release version such as 0.1.0")]
        return []
    return [("say where the jobs install envbuild from: --requirements PATH (hash-pinned) or "
             "--from-index --envbuild-version VERSION (an index you control)", hashed)]


def _is_version(text: str) -> bool:
    try:
        Version(text)
    except InvalidVersion:
        return False
    return True


def _check_job(options: WorkflowOptions) -> dict[str, Any]:
    return {
        "name": "Lock check and plan",
        "if": "github.event_name == 'pull_request'",
        "runs-on": options.runner,
        "timeout-minutes": 30,
        "permissions": {"contents": "read"},
        "steps": [*_setup(options), {
            "name": "Check that the lock matches the manifest",
            "run": envbuild_command(options, "lock", "--check"),
        }, {
            "name": "Write the plan to the job summary",
            "env": {"BASE_SHA": "${{ github.event.pull_request.base.sha }}"},
            "run": envbuild_command(options, "ci plan",
                                    '--base "$BASE_SHA" --format markdown >> "$GITHUB_STEP_SUMMARY"'),
        }],
    }


def _plan_job(options: WorkflowOptions) -> dict[str, Any]:
    return {
        "name": "Plan",
        "if": "github.event_name == 'push'",
        "runs-on": options.runner,
        "timeout-minutes": 30,
        "permissions": {"contents": "read"},
        "outputs": {"targets": "${{ steps.plan.outputs.targets }}",
                    "base": "${{ steps.plan.outputs.base }}"},
        "steps": [*_setup(options), {
            "name": "List the targets whose image changed",
            "id": "plan",
            "env": {"BEFORE": "${{ github.event.before }}"},
            # A branch's first push has no `before` (all zeros): compare with the parent.
            "run": "".join(f"{line}\n" for line in [
                "set -euo pipefail",
                'base="$BEFORE"',
                'if [ -z "${base//0/}" ]; then base="$(git rev-parse HEAD^)"; fi',
                envbuild_command(options, "ci plan", '--base "$base" --json > "$RUNNER_TEMP/plan.json"'),
                f"targets=\"$(jq -c '{_SELECT}' \"$RUNNER_TEMP/plan.json\")\"",
                'echo "base=$base" >> "$GITHUB_OUTPUT"',
                'echo "targets=$targets" >> "$GITHUB_OUTPUT"']),
        }],
    }


def _build_job(options: WorkflowOptions) -> dict[str, Any]:
    return {
        "name": "Build ${{ matrix.target }}",
        "needs": "plan",
        "if": "needs.plan.outputs.targets != '[]'",
        "runs-on": options.runner,
        "timeout-minutes": 120,  # a cold CUDA image is gigabytes; a hung push must still end
        "environment": ENVIRONMENT,
        "permissions": {"contents": "read"},
        "strategy": {"fail-fast": False,
                     "matrix": {"target": "${{ fromJSON(needs.plan.outputs.targets) }}"}},
        "steps": [*_setup(options), {
            "name": "Log in to the registry",
            "env": {"REGISTRY": f"${{{{ vars.{REGISTRY_VARIABLE} }}}}",
                    "REGISTRY_USERNAME": f"${{{{ secrets.{USERNAME_SECRET} }}}}",
                    "REGISTRY_PASSWORD": f"${{{{ secrets.{PASSWORD_SECRET} }}}}"},
            "run": ('printf \'%s\' "$REGISTRY_PASSWORD" | '
                    'docker login "$REGISTRY" --username "$REGISTRY_USERNAME" --password-stdin'),
        }, {
            "name": "Build and push the image",
            "env": {"TARGET": "${{ matrix.target }}", "BASE": "${{ needs.plan.outputs.base }}"},
            "run": envbuild_command(options, "ci build", '--base "$BASE" --target "$TARGET" --push'),
        }],
    }


def _setup(options: WorkflowOptions) -> list[dict[str, Any]]:
    return [
        # Full history: the plan compares the lock with the one at the base commit.
        {"uses": CHECKOUT.ref, "with": {"fetch-depth": 0, "persist-credentials": False}},
        {"uses": SETUP_PYTHON.ref, "with": {"python-version": options.python}},
        {"name": "Install envbuild", "run": install_command(options)},
    ]


def _cite_releases(text: str) -> str:
    # The emitter writes no comments; the release next to each SHA is what a reviewer
    # (and Dependabot or Renovate) reads to know what the commit is.
    for action in ACTIONS:
        written = f"uses: {scalar(action.ref)}"
        text = text.replace(f"{written}\n", f"{written} # {action.release}\n")
    return text
