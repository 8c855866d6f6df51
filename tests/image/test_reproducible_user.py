"""Two clean builds as different users (root and nobody), with different TZ, umask, HOME and
locale, in different folders, give byte-identical layouts; amd64 and arm64."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tests.image.project import ARM64, CPU, Project, layout_files

ROOT = Path(__file__).resolve().parents[2]
NOBODY = 65534
SITE = next(Path(sys.prefix).glob("lib/python3.*/site-packages"), None)


def interpreter_for_others() -> str | None:
    """An interpreter another user may run: ours if reachable, else the system's 3.11."""
    for candidate in (sys.executable, "/usr/bin/python3.11"):
        probe = subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}",
                                "--clear-groups", "sh", "-c", f"exec {candidate} -c pass"],
                               capture_output=True, check=False)
        if probe.returncode == 0:
            return candidate
    return None


def build_as(uid: int | None, project_dir: Path, out: Path, cache: Path, home: Path,
             env_extra: dict[str, str], umask: str, python: str = sys.executable) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_", "LC_"))}
    # The venv's site-packages by path: the other user may run another build of Python 3.11.
    env.update(env_extra, ENVBUILD_CACHE_DIR=str(cache), PYTHONPATH=f"{ROOT}:{SITE}",
               HOME=str(home), PYTHONDONTWRITEBYTECODE="1")
    command = (f"umask {umask} && exec {python} -m envbuild image "
               f"-f {project_dir / 'envbuild.toml'} --output oci:{out}")
    prefix = [] if uid is None else ["setpriv", f"--reuid={uid}", f"--regid={uid}",
                                     "--clear-groups"]
    done = subprocess.run([*prefix, "sh", "-c", command], env=env, capture_output=True,
                          text=True, cwd=out.parent, check=False)
    assert done.returncode == 0, done.stderr


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                    reason="needs root and setpriv to build as another user")
@pytest.mark.parametrize("targets", [{"cpu": CPU}, {"arm": ARM64}], ids=["amd64", "arm64"])
def test_builds_as_root_and_as_nobody_are_byte_identical(
        project: Project, tmp_path: Path, targets: dict[str, dict[str, Any]]) -> None:
    python = interpreter_for_others()
    if python is None:
        pytest.skip(f"uid {NOBODY} can run neither {sys.executable} nor /usr/bin/python3.11")
    project.targets = targets
    project.image = '\n[image]\ncopy = ["src"]\nentrypoint = ["python", "-m", "app"]\n'
    (project.folder / "src").mkdir()
    (project.folder / "src" / "app.py").write_text("print('hi')\n")
    project.write()
    shared = Path(tempfile.mkdtemp(prefix="envbuild-other-user-"))
    try:
        shared.chmod(0o755)
        other = shared / "elsewhere" / "proj"
        shutil.copytree(project.folder, other)
        for path in [shared, *shared.rglob("*")]:
            os.chown(path, NOBODY, NOBODY)
        (shared / "home").mkdir()
        (shared / "out").mkdir()
        for path in (shared / "home", shared / "out"):
            os.chown(path, NOBODY, NOBODY)
        first = tmp_path / "one" / "layout"
        first.parent.mkdir()
        (tmp_path / "home").mkdir()
        build_as(None, project.folder, first, tmp_path / "cache", tmp_path / "home",
                 {"TZ": "UTC", "LANG": "C.UTF-8", "SOURCE_DATE_EPOCH": "1700000000"}, "022")
        second = shared / "out" / "layout"
        build_as(NOBODY, other, second, shared / "cache", shared / "home",
                 {"TZ": "America/St_Johns", "LANG": "de_DE.UTF-8", "LC_ALL": "C",
                  "SOURCE_DATE_EPOCH": "1700000000"}, "027", python)
        assert layout_files(first) == layout_files(second)
    finally:
        shutil.rmtree(shared, ignore_errors=True)
