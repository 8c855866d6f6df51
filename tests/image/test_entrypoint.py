"""`envbuild image` checks the image's command against the image's own files (exit 2).

Each base here is a small OS-like tree packed by `rootfs.pack_rootfs` (the code
`scripts/make-base` uses): a fake `python3.11`, `python3 -> python3.11`, usrmerge's
`bin -> usr/bin`, and a few programs, so each failure mode is one tree, built in
milliseconds.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from envbuild.image.rootfs import pack_rootfs
from tests.helpers import run_cli
from tests.image.project import Project
from tests.image.services import base_layout, docker_client
from tests.image.test_build import blob

PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def os_base(folder: Path, *, env_path: str = PATH) -> str:
    """A base with python3 (not python), symlinked bins and /opt/tools; its `oci:` ref."""
    tree = folder / "tree"
    for path, mode in (("usr/bin/python3.11", 0o755), ("opt/tools/bin/mytool", 0o755),
                       ("opt/tools/notes.txt", 0o644)):
        (tree / path).parent.mkdir(parents=True, exist_ok=True)
        (tree / path).write_bytes(b"\x7fELF fake")
        (tree / path).chmod(mode)
    (tree / "usr/bin/python3").symlink_to("python3.11")
    (tree / "bin").symlink_to("usr/bin")
    # Resolved inside the image: /usr/bin/env is on this host, never in this image.
    (tree / "opt/tools/bin/hostenv").symlink_to("/usr/bin/env")
    # `..` past the image's root stays at its root: this is /usr/bin/python3.11.
    (tree / "opt/tools/bin/py").symlink_to("../../../../../../usr/bin/python3.11")
    (tree / "opt/tools/bin/loop").symlink_to("loop")
    pack_rootfs(tree, folder / "oci", epoch=0, env=(f"PATH={env_path}",), cmd=("python3",))
    return f"oci:{folder / 'oci'}"


def build(project: Project, tmp_path: Path, image: str) -> tuple[int, str, Path]:
    project.image = image
    project.write()
    out = tmp_path / "out"
    result = run_cli(["image", "-f", str(project.manifest), "--output", f"oci:{out}"])
    return result.code, result.err, out


def config_of(out: Path) -> dict[str, object]:
    """The one image's config in the layout at `out`, without unpacking its layers."""
    (entry,) = json.loads((out / "index.json").read_bytes())["manifests"]
    manifest = json.loads(blob(out, entry["digest"]))
    config: dict[str, object] = json.loads(blob(out, manifest["config"]["digest"]))["config"]
    return config


def with_code(project: Project) -> None:
    """src/train.py: `copy = ["src/"]` puts it at /workspace/src/train.py."""
    (project.folder / "src").mkdir()
    (project.folder / "src/train.py").write_text('print("train ran")\n')
    (project.folder / "configs").mkdir()
    (project.folder / "configs/run.yaml").write_text("lr: 0.1\n")


def test_python_entrypoint_on_a_python3_base_exits_2_before_any_layer_is_built(
        project: Project, tmp_path: Path) -> None:
    base = os_base(tmp_path / "base")
    with_code(project)
    code, err, out = build(project, tmp_path, f'\n[image]\nbase = "{base}"\ncopy = ["src/"]\n'
                           'entrypoint = ["python", "-m", "train"]\n')
    assert code == 2, err
    assert err.splitlines()[-2:] == [
        f'error: target "cpu": entrypoint program "python" not found on the image\'s '
        f"PATH={PATH}",
        'hint: the base has python3, not python: write [image] entrypoint = ["python3", "-m", '
        '"train"] instead of ["python", "-m", "train"]']
    # A locked wheel could have provided a `python` script: looked for, then refused.
    assert "building layer" not in err and not out.exists()


def test_python3_through_symlinks_runs_copied_code_from_its_folder(
        project: Project, tmp_path: Path) -> None:
    # PATH names /bin only: python3 is found through bin -> usr/bin and python3 -> python3.11.
    base = os_base(tmp_path / "base", env_path="/bin")
    with_code(project)
    code, err, out = build(project, tmp_path, f'\n[image]\nbase = "{base}"\n'
                           'copy = ["src/", "configs/"]\nentrypoint = ["python3", "-m", "train"]\n')
    assert code == 0, err
    config = config_of(out)
    assert config["WorkingDir"] == "/workspace/src"
    assert config["Entrypoint"] == ["python3", "-m", "train"]


@pytest.mark.parametrize(("entrypoint", "problem"), [
    ("/opt/tools/notes.txt", "is not executable"),
    ("/opt/tools/missing", "does not exist in the image"),
    ("/opt/tools", "is a folder"),
    ("/opt/tools/bin/hostenv", "does not exist in the image"),
    ("/opt/tools/bin/loop", "does not exist in the image"),
], ids=["not-executable", "missing", "folder", "host-symlink", "symlink-loop"])
def test_absolute_entrypoint_that_cannot_run_exits_2(
        project: Project, tmp_path: Path, entrypoint: str, problem: str) -> None:
    base = os_base(tmp_path / "base")
    code, err, _ = build(project, tmp_path, f'\n[image]\nbase = "{base}"\n'
                         f'entrypoint = ["{entrypoint}"]\n')
    assert code == 2, err
    assert err.splitlines()[-2:] == [
        f'error: target "cpu": entrypoint program "{entrypoint}" {problem}',
        "hint: name a program the base has, a copied file (by its path in the image), or a "
        "console script of a locked package"]


def test_symlink_past_the_root_stays_in_the_image(project: Project, tmp_path: Path) -> None:
    base = os_base(tmp_path / "base")
    code, err, _ = build(project, tmp_path, f'\n[image]\nbase = "{base}"\n'
                         'entrypoint = ["/opt/tools/bin/py", "-c", "pass"]\n')
    assert code == 0, err


def test_program_on_the_path_of_the_image_env(project: Project, tmp_path: Path) -> None:
    base = os_base(tmp_path / "base")
    code, err, _ = build(project, tmp_path, f'\n[image]\nbase = "{base}"\n'
                         'entrypoint = ["mytool"]\n')
    assert code == 2, err
    assert (f'error: target "cpu": entrypoint program "mytool" not found on the image\'s '
            f"PATH={PATH}") in err
    code, err, _ = build(project, tmp_path, f'\n[image]\nbase = "{base}"\n'
                         'entrypoint = ["mytool"]\nenv = { PATH = "/opt/tools/bin:/usr/bin" }\n')
    assert code == 0, err


def test_console_script_of_a_locked_wheel_and_copied_script(
        project: Project, tmp_path: Path) -> None:
    base = os_base(tmp_path / "base")
    (project.folder / "run.sh").write_text("#!/bin/sh\n")
    (project.folder / "run.sh").chmod(0o755)
    # alpha's console script is in the wheel, not the base: found in its zip directory.
    code, err, _ = build(project, tmp_path, f'\n[image]\nbase = "{base}"\n'
                         'entrypoint = ["alpha"]\n')
    assert code == 0, err
    code, err, _ = build(project, tmp_path, f'\n[image]\nbase = "{base}"\ncopy = ["run.sh"]\n'
                         'entrypoint = ["./run.sh"]\n')
    assert code == 0, err


def test_console_script_of_a_pruned_wheel_is_not_checked_not_refused(
        project: Project, tmp_path: Path) -> None:
    base = os_base(tmp_path / "base")
    code, err, _ = build(project, tmp_path, f'\n[image]\nbase = "{base}"\n'
                         'entrypoint = ["alpha"]\n')
    assert code == 0, err
    shutil.rmtree(tmp_path / "cache/wheels")  # the layers stay cached: nothing is fetched
    code, err, _ = build(project, tmp_path, f'\n[image]\nbase = "{base}"\n'
                         'entrypoint = ["alpha", "--help"]\n')
    assert code == 0, err
    assert "downloading" not in err
    assert "cpu: the image's command was not checked: a locked wheel is not in the cache" in err


def test_base_command_is_checked_without_an_entrypoint(project: Project,
                                                       tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "usr/bin").mkdir(parents=True)
    (tree / "usr/bin/python3.11").write_bytes(b"\x7fELF fake")
    (tree / "usr/bin/python3.11").chmod(0o755)
    pack_rootfs(tree, tmp_path / "oci", epoch=0, cmd=("bash",))
    code, err, _ = build(project, tmp_path, f'\n[image]\nbase = "oci:{tmp_path / "oci"}"\n')
    assert code == 2, err
    assert err.splitlines()[-2:] == [
        f'error: target "cpu": the base\'s command program "bash" not found on the image\'s '
        f"PATH={PATH}",
        "hint: set [image] entrypoint to a program the image has"]


def test_module_python_cannot_find_exits_2_naming_its_folder(
        project: Project, tmp_path: Path) -> None:
    base = os_base(tmp_path / "base")
    with_code(project)
    code, err, _ = build(project, tmp_path, f'\n[image]\nbase = "{base}"\nworkdir = "/app"\n'
                         'copy = ["src/"]\nentrypoint = ["python3", "-m", "train"]\n')
    assert code == 2, err
    assert err.splitlines()[-2:] == [
        'error: target "cpu": entrypoint runs `python3 -m train`, but no module "train" is in '
        "the working directory /app, PYTHONPATH or the image's lib/python3 folders",
        'hint: it is in /app/src: set [image] workdir = "/app/src", or copy its folder first '
        "(the working directory is where `python -m` finds the first copy entry's code)"]
    # A locked package's module is found in its wheel: alpha is not copied code.
    code, err, _ = build(project, tmp_path, f'\n[image]\nbase = "{base}"\n'
                         'entrypoint = ["python3", "-m", "alpha"]\n')
    assert code == 0, err


@pytest.mark.parametrize(("copy", "files", "working_dir"), [
    ('["src/", "configs/"]', ["src/train.py", "configs/a.yaml"], "/workspace/src"),
    ('["src/pkg/"]', ["src/pkg/__init__.py"], "/workspace/src"),
    ('["train.py", "configs/"]', ["train.py", "configs/a.yaml"], "/workspace"),
    ('["scripts/train.py"]', ["scripts/train.py"], "/workspace/scripts"),
    ("[]", [], "/workspace"),
], ids=["module-folder", "package", "file-first", "file-in-folder", "no-copy"])
def test_working_dir_is_where_python_m_finds_the_first_copy_entry(
        project: Project, tmp_path: Path, copy: str, files: list[str],
        working_dir: str) -> None:
    for name in files:
        (project.folder / name).parent.mkdir(parents=True, exist_ok=True)
        (project.folder / name).write_text("")
    code, err, out = build(project, tmp_path, f"\n[image]\ncopy = {copy}\n")
    assert code == 0, err
    assert config_of(out)["WorkingDir"] == working_dir


@pytest.mark.docker
def test_docker_run_of_the_image_runs_the_copied_code(project: Project,
                                                      tmp_path: Path) -> None:
    """`docker run IMAGE`, no arguments: python3 -m train from /workspace/src."""
    client: Any = docker_client()
    base = base_layout()  # Debian bookworm with python3 (scripts/make-base)
    marker = f"train ran {uuid.uuid4().hex}"
    (project.folder / "src/train").mkdir(parents=True)
    (project.folder / "src/train/__init__.py").write_text("")
    (project.folder / "src/train/__main__.py").write_text(
        "import os, alpha\n"
        f"print({marker!r}, os.getcwd(), open('../configs/run.yaml').read().strip())\n")
    (project.folder / "configs").mkdir()
    (project.folder / "configs/run.yaml").write_text("lr: 0.1")
    project.image = (f'\n[image]\nbase = "oci:{base}"\ncopy = ["src/", "configs/"]\n'
                     'entrypoint = ["python3", "-m", "train"]\n')
    project.write()
    result = run_cli(["image", "-f", str(project.manifest), "--load", "--json"])
    assert result.code == 0, result.err
    (tag,) = json.loads(result.out)["loaded"]
    try:
        printed = client.containers.run(tag, network_mode="none", remove=True).decode()
    finally:
        client.images.remove(tag, force=True)
    assert printed == f"{marker} /workspace/src lr: 0.1\n"


@pytest.mark.docker
def test_docker_stop_needs_init_for_a_python_entrypoint(project: Project) -> None:
    """As the README says: python3 as PID 1 ignores SIGTERM (`docker stop` kills it, 137);
    under `docker run --init` it dies of the SIGTERM (143)."""
    client: Any = docker_client()
    project.image = (f'\n[image]\nbase = "oci:{base_layout()}"\nentrypoint = ["python3", "-c", '
                     '"import time; print(\'up\', flush=True); time.sleep(120)"]\n')
    project.write()
    result = run_cli(["image", "-f", str(project.manifest), "--load", "--json"])
    assert result.code == 0, result.err
    (tag,) = json.loads(result.out)["loaded"]
    try:
        for init, grace, status in ((True, 30, 143), (False, 1, 137)):
            container = client.containers.run(tag, network_mode="none", detach=True, init=init)
            try:
                for _ in range(200):
                    if b"up" in container.logs():
                        break
                    time.sleep(0.05)
                container.stop(timeout=grace)
                assert container.wait()["StatusCode"] == status, (init, container.logs())
            finally:
                container.remove(force=True)
    finally:
        client.images.remove(tag, force=True)
