"""The GitLab CI pipeline that runs envbuild, as YAML text: the GitHub workflow's twin.

On merge requests a job checks the lock and attaches the plan (`envbuild ci plan --format
markdown`) as an artifact the merge request links to (`expose_as`; GitLab has no job
summary). On pushes to the default branch a `plan` job turns `ci plan --json` into a child
pipeline with one job per changed or added target, and a `build` job triggers it: GitLab's
`parallel:matrix` takes no values computed at run time, a child pipeline does.

The child pipeline is written as JSON (valid YAML) by a short Python script run in the plan
job, so target names reach it only as JSON strings, never spliced into shell. Registry
credentials are CI/CD variables (mark them masked and protected); every job installs envbuild
as the GitHub workflow does (`install_command`: by hash from a requirements file, unless
`from_index` was chosen), and runs in an image pinned by digest (JOB_IMAGES), as the GitHub
workflow pins its actions by commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from envbuild import __version__
from envbuild.ci.workflow import (
    PASSWORD_SECRET,
    REGISTRY_VARIABLE,
    USERNAME_SECRET,
    WorkflowOptions,
    check_options,
    envbuild_command,
    install_command,
)
from envbuild.cluster.yamlemit import dump
from envbuild.errors import InputError


@dataclass(frozen=True, kw_only=True, slots=True)
class JobImage:
    """A job image pinned to the digest its tag named when it was pinned."""

    tag: str
    digest: str  # of the multi-platform image index, so each runner pulls its own platform

    @property
    def ref(self) -> str:
        # Pulled by digest; the tag is there for the reader (and Renovate) only.
        return f"{self.tag}@{self.digest}"


# The image the jobs run in, per `--python`. The full image, not -slim: `ci plan` reads the
# base lock with git, which -slim lacks. Refresh a pin (tag and digest together) with
# `docker buildx imagetools inspect python:3.12-bookworm` (its `Digest:` line), or
# `skopeo inspect --raw docker://python:3.12-bookworm | sha256sum`.
JOB_IMAGES = {
    "3.11": JobImage(tag="python:3.11-bookworm", digest=(
        "sha256:a8f8fbe1a0edc9e4dddafa64ba73f7e04be7be5ebc23f332362e779e0a2e4e52")),
    "3.12": JobImage(tag="python:3.12-bookworm", digest=(
        "sha256:3cd9086bdb30f7c9bc08a3fa621d9842e0d3f6f9291aeb4677e0547817c10b12")),
    "3.13": JobImage(tag="python:3.13-bookworm", digest=(
        "sha256:8b9a8b28d9cc221c6ab5d40e9cfcd99429959f6a8f5171612a99147975ab043f")),
}

CHILD_PIPELINE = "envbuild-builds.yml"
PLAN_REPORT = "envbuild-plan.md"

# argv: plan.json, base commit, image, install command, build command. Writes the child pipeline.
CHILD_SCRIPT = f"""\
import json, sys
plan_path, base, image, install, build = sys.argv[1:6]
with open(plan_path, encoding="utf-8") as handle:
    plan = json.load(handle)
targets = plan["rebuild"]
login = ('mkdir -p "$HOME/.docker" && python -c \\'import json, os; print(json.dumps({{"auths": '
         '{{os.environ["{REGISTRY_VARIABLE}"]: {{"username": os.environ["{USERNAME_SECRET}"], '
         '"password": os.environ["{PASSWORD_SECRET}"]}}}}}}))\\' > "$HOME/.docker/config.json"')
jobs = {{f"build {{name}}": {{
    "image": image, "timeout": "2h", "variables": {{"TARGET": name, "BASE": base, "GIT_DEPTH": "0"}},
    "script": [install, login, build]}}
    for name in targets}}
# A child pipeline must have a job: say that nothing changed rather than fail.
jobs = jobs or {{"nothing to build": {{"image": image, "script": ["echo no image changed"]}}}}
with open("{CHILD_PIPELINE}", "w", encoding="utf-8") as out:
    json.dump(jobs, out, indent=2, sort_keys=True)
"""

_ON_MERGE_REQUEST = {"if": '$CI_PIPELINE_SOURCE == "merge_request_event"'}
_ON_DEFAULT_BRANCH = {"if": '$CI_PIPELINE_SOURCE == "push" && $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH'}


def gitlab_pipeline(options: WorkflowOptions) -> str:
    """The pipeline's YAML text for `options` (the runner label does not apply here)."""
    check_options(options)
    pinned = JOB_IMAGES.get(options.python)
    if pinned is None:
        raise InputError(f"no GitLab job image is pinned for python {options.python}",
                         hint=f"use --python {' or '.join(sorted(JOB_IMAGES))}")
    image = pinned.ref
    # Neither has a single quote (options are checked): they travel single-quoted below.
    install = install_command(options)
    build = envbuild_command(options, "ci build", '--base "$BASE" --target "$TARGET" --push')
    document: dict[str, Any] = {
        "workflow": {"rules": [_ON_MERGE_REQUEST, _ON_DEFAULT_BRANCH]},
        "stages": ["check", "plan", "build"],
        "default": {"image": image, "interruptible": True},
        # Full history: the plan compares the lock with the one at the base commit.
        "variables": {"GIT_DEPTH": "0", "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
        "lock-check": {
            "stage": "check",
            "rules": [_ON_MERGE_REQUEST],
            "timeout": "30m",
            "script": [install, envbuild_command(options, "lock", "--check"),
                       envbuild_command(options, "ci plan",
                                        '--base "$CI_MERGE_REQUEST_DIFF_BASE_SHA" --format markdown'
                                        f" > {PLAN_REPORT}")],
            "artifacts": {"expose_as": "envbuild plan", "paths": [PLAN_REPORT], "when": "always"},
        },
        "plan": {
            "stage": "plan",
            "rules": [_ON_DEFAULT_BRANCH],
            "timeout": "30m",
            "interruptible": False,
            "script": [
                install,
                # A branch's first push has no before-commit (all zeros): compare with the parent.
                'base="$CI_COMMIT_BEFORE_SHA"; case "$base" in *[!0]*) ;; *) base="$(git rev-parse HEAD^)";; esac',
                envbuild_command(options, "ci plan", '--base "$base" --json > plan.json'),
                f'python -c "$ENVBUILD_CHILD_SCRIPT" plan.json "$base" "{image}" \'{install}\' \'{build}\'',
            ],
            # expand: false, or GitLab would substitute the script's own `$HOME` and `$BASE`.
            "variables": {"ENVBUILD_CHILD_SCRIPT": {"value": CHILD_SCRIPT, "expand": False}},
            "artifacts": {"paths": [CHILD_PIPELINE]},
        },
        "build": {
            "stage": "build",
            "rules": [_ON_DEFAULT_BRANCH],
            "needs": ["plan"],
            # A push half-done is not cancelled by a newer pipeline; the next run resumes it.
            "trigger": {"include": [{"artifact": CHILD_PIPELINE, "job": "plan"}],
                        "strategy": "depend"},
        },
    }
    header = (f"# Written by `envbuild ci workflow --gitlab` (envbuild {__version__}).\n"
              "# Regenerate it rather than editing it. Needs the CI/CD variables\n"
              f"# {REGISTRY_VARIABLE} (registry host), {USERNAME_SECRET} and {PASSWORD_SECRET}\n"
              "# (masked and protected).\n")
    return header + dump(document)
