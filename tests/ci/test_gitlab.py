"""`envbuild ci workflow --gitlab`: a valid pipeline whose plan job writes one build job per
changed target into a child pipeline. The plan job's own command line runs here, on a plan
document, and its child pipeline is validated too."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from envbuild.ci.gitlab import JOB_IMAGES
from tests.ci.test_workflow import (
    INSTALL,
    SOURCE,
    SUBFOLDER,
    SUBFOLDER_FILES,
    _run,
    _tool,
    envbuild_calls,
)

yaml = pytest.importorskip("yaml", reason="PyYAML reads the pipeline back")

_INSTALL = INSTALL
_BUILD = 'envbuild ci build --base "$BASE" --target "$TARGET" --push'
_BASE = "1" * 40
_IMAGE = JOB_IMAGES["3.12"].ref  # --python's default
_PINNED = re.compile(r"python:3\.1[0-9]-bookworm@sha256:[0-9a-f]{64}")


@pytest.fixture
def pipeline(tmp_path: Path) -> Path:
    path = tmp_path / ".gitlab-ci.yml"
    result = _run(["--gitlab", *SOURCE, "-o", str(path)])
    assert (result.code, result.err) == (0, f"wrote {path}\n")
    return path


def _schema_check(path: Path) -> None:
    tool = _tool("check-jsonschema")
    if tool is None:
        pytest.skip("check-jsonschema is not installed (pip install check-jsonschema)")
    done = subprocess.run([tool, "--builtin-schema", "vendor.gitlab-ci", str(path)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def _child(pipeline: Path, folder: Path, plan: dict[str, Any]) -> dict[str, Any]:
    """Run the plan job's last command as GitLab would (sh, its variables set) on `plan`."""
    job = yaml.safe_load(pipeline.read_text())["plan"]
    (folder / "plan.json").write_text(json.dumps(plan))
    env = {**os.environ, "ENVBUILD_CHILD_SCRIPT": job["variables"]["ENVBUILD_CHILD_SCRIPT"]["value"],
           "base": _BASE, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(["sh", "-c", job["script"][-1]], cwd=folder, env=env,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    _schema_check(folder / "envbuild-builds.yml")
    child = yaml.safe_load((folder / "envbuild-builds.yml").read_text())
    assert isinstance(child, dict)
    return child


def test_the_pipeline_passes_gitlabs_schema_and_is_deterministic(pipeline: Path) -> None:
    _schema_check(pipeline)
    assert _run(["--gitlab", *SOURCE]).out == pipeline.read_text()


def test_from_index_installs_the_named_release_in_every_job(tmp_path: Path) -> None:
    path = tmp_path / ".gitlab-ci.yml"
    result = _run(["--gitlab", "--from-index", "--envbuild-version", "0.2.0", "-o", str(path)])
    assert (result.code, result.err) == (0, f"wrote {path}\n")
    _schema_check(path)
    install = 'python -m pip install "envbuild==0.2.0"'
    document = yaml.safe_load(path.read_text())
    assert document["lock-check"]["script"][0] == document["plan"]["script"][0] == install
    child = _child(path, tmp_path, {"rebuild": ["cpu"], "targets": {}})
    assert child["build cpu"]["script"][0] == install


def test_merge_requests_check_the_lock_and_attach_the_plan(pipeline: Path) -> None:
    job = yaml.safe_load(pipeline.read_text())["lock-check"]
    assert job["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "merge_request_event"'}]
    assert job["script"] == [
        _INSTALL, "envbuild lock --check",
        'envbuild ci plan --base "$CI_MERGE_REQUEST_DIFF_BASE_SHA" --format markdown > envbuild-plan.md']
    assert job["artifacts"]["expose_as"] == "envbuild plan"


def test_the_child_pipeline_has_one_build_job_per_changed_or_added_target(
        pipeline: Path, tmp_path: Path) -> None:
    # As `envbuild ci plan --json` writes it: `rebuild` lists the changed and added targets.
    plan = {"rebuild": ["a100", "cpu"],
            "targets": {"cpu": {"status": "changed"}, "h100": {"status": "unchanged"},
                        "a100": {"status": "added"}, "old": {"status": "removed"}}}
    child = _child(pipeline, tmp_path, plan)
    assert sorted(child) == ["build a100", "build cpu"]
    job = child["build cpu"]
    assert job["variables"] == {"TARGET": "cpu", "BASE": _BASE, "GIT_DEPTH": "0"}
    assert job["image"] == _IMAGE
    assert job["script"][0] == _INSTALL
    assert job["script"][-1] == _BUILD
    home = tmp_path / "home"
    env = {**os.environ, "HOME": str(home), "ENVBUILD_REGISTRY": "registry.example:5000",
           "ENVBUILD_REGISTRY_USERNAME": "bot", "ENVBUILD_REGISTRY_PASSWORD": "p'\"$x",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run(["sh", "-c", job["script"][1]], env=env, check=True)
    config = json.loads((home / ".docker" / "config.json").read_text())
    assert config == {"auths": {"registry.example:5000": {"username": "bot", "password": "p'\"$x"}}}


def test_a_plan_with_nothing_changed_gives_a_child_pipeline_that_builds_nothing(
        pipeline: Path, tmp_path: Path) -> None:
    child = _child(pipeline, tmp_path, {"rebuild": [], "targets": {"cpu": {"status": "unchanged"}}})
    assert child == {"nothing to build": {"image": _IMAGE,
                                          "script": ["echo no image changed"]}}


def test_a_project_in_a_subfolder_reaches_every_envbuild_command(tmp_path: Path) -> None:
    path = tmp_path / ".gitlab-ci.yml"
    result = _run(["--gitlab", *SOURCE, *SUBFOLDER, "-o", str(path)])
    assert (result.code, result.err) == (0, f"wrote {path}\n")
    _schema_check(path)
    document = yaml.safe_load(path.read_text())
    child = _child(path, tmp_path, {"rebuild": ["cpu"], "targets": {}})
    scripts = [*document["lock-check"]["script"], *document["plan"]["script"],
               *child["build cpu"]["script"]]
    calls = envbuild_calls(scripts, tmp_path)
    assert [name for name, _ in calls] == ["lock", "ci plan", "ci plan", "ci build"]
    assert [(p["manifest_path"], p["lock_path"]) for _, p in calls] == [SUBFOLDER_FILES] * 4
    assert calls[-1][1]["targets"] == ("cpu",)


def test_the_builds_run_as_a_child_pipeline_of_the_plan(pipeline: Path) -> None:
    build = yaml.safe_load(pipeline.read_text())["build"]
    assert build["needs"] == ["plan"]
    assert build["trigger"] == {"include": [{"artifact": "envbuild-builds.yml", "job": "plan"}],
                                "strategy": "depend"}


def test_every_job_image_is_pinned_by_digest(pipeline: Path, tmp_path: Path) -> None:
    document = yaml.safe_load(pipeline.read_text())
    assert document["default"]["image"] == _IMAGE
    assert _PINNED.fullmatch(_IMAGE)
    assert not [name for name, job in document.items()
                if isinstance(job, dict) and "image" in job and job["image"] != _IMAGE]
    child = _child(pipeline, tmp_path, {"rebuild": ["cpu"], "targets": {}})
    assert child["build cpu"]["image"] == _IMAGE


def test_the_pin_follows_the_python_asked_for(tmp_path: Path) -> None:
    result = _run(["--gitlab", *SOURCE, "--python", "3.11"])
    assert result.code == 0
    document = yaml.safe_load(result.out)
    assert document["default"]["image"] == JOB_IMAGES["3.11"].ref
    assert document["plan"]["script"][-1].endswith(
        f'"{JOB_IMAGES["3.11"].ref}" \'{_INSTALL}\' \'{_BUILD}\'')


def test_the_pin_table_names_each_version_by_its_own_tag_and_a_digest() -> None:
    assert len(JOB_IMAGES) >= 2
    for python, image in JOB_IMAGES.items():
        assert image.tag == f"python:{python}-bookworm"
        assert _PINNED.fullmatch(image.ref)
    assert len({image.digest for image in JOB_IMAGES.values()}) == len(JOB_IMAGES)


def test_a_python_without_a_pinned_image_is_refused() -> None:
    result = _run(["--gitlab", *SOURCE, "--python", "3.9"])
    assert (result.code, result.out) == (2, "")
    assert result.err == ("error: no GitLab job image is pinned for python 3.9\n"
                          f"hint: use --python {' or '.join(sorted(JOB_IMAGES))}\n")
