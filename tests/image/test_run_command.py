"""`envbuild image` checks `[run] command`, what cluster jobs start in the image, as it
checks the entrypoint: its program on the image's PATH, its `-m` module from the image's
working directory, with `[run] env` over the image's (exit 2, naming run.command)."""

from __future__ import annotations

from pathlib import Path

from tests.image.project import Project
from tests.image.test_entrypoint import PATH, build, os_base, with_code


def run_section(command: str, extra: str = "") -> str:
    return f"\n[run]\ncommand = {command}\n{extra}"


def test_run_command_python_on_a_python3_base_exits_2(project: Project, tmp_path: Path) -> None:
    base = os_base(tmp_path / "base")
    with_code(project)
    code, err, out = build(project, tmp_path, f'\n[image]\nbase = "{base}"\ncopy = ["src/"]\n'
                           'entrypoint = ["python3", "-m", "train"]\n'
                           + run_section('["python", "-m", "train"]'))
    assert code == 2, err
    assert err.splitlines()[-2:] == [
        f'error: target "cpu": run.command program "python" not found on the image\'s '
        f"PATH={PATH}",
        'hint: the base has python3, not python: write [run] command = ["python3", "-m", '
        '"train"] instead of ["python", "-m", "train"]']
    assert not out.exists()


def test_run_command_module_the_image_lacks_exits_2(project: Project, tmp_path: Path) -> None:
    base = os_base(tmp_path / "base")
    with_code(project)
    code, err, _ = build(project, tmp_path, f'\n[image]\nbase = "{base}"\ncopy = ["src/"]\n'
                         + run_section('["python3", "-m", "nosuch"]'))
    assert code == 2, err
    assert err.splitlines()[-2:] == [
        'error: target "cpu": run.command runs `python3 -m nosuch`, but no module "nosuch" is '
        "in the working directory /workspace/src, PYTHONPATH or the image's lib/python3 "
        "folders",
        "hint: copy the module into the image (it runs from /workspace/src)"]


def test_run_command_found_through_run_env(project: Project, tmp_path: Path) -> None:
    """The Job sets [run] env: a PYTHONPATH there is where its Python looks."""
    base = os_base(tmp_path / "base")
    with_code(project)
    (project.folder / "lib").mkdir()
    (project.folder / "lib/tool.py").write_text("")
    image = f'\n[image]\nbase = "{base}"\ncopy = ["src/", "lib/"]\n'
    code, err, _ = build(project, tmp_path, image + run_section('["python3", "-m", "tool"]'))
    assert code == 2, err
    assert 'run.command runs `python3 -m tool`, but no module "tool"' in err
    code, err, _ = build(project, tmp_path, image + run_section(
        '["python3", "-m", "tool"]', 'env = { PYTHONPATH = "/workspace/lib" }\n'))
    assert code == 0, err


def test_empty_run_command_hint_names_python3(project: Project, tmp_path: Path) -> None:
    """Debian bases have python3, not python: the hint says so."""
    base = os_base(tmp_path / "base")
    code, err, _ = build(project, tmp_path, f'\n[image]\nbase = "{base}"\n'
                         + run_section("[]"))
    assert code == 2, err
    line = project.manifest.read_text().splitlines().index("command = []") + 1
    assert err.splitlines()[-3:] == [
        "error: 1 problem found",
        f'envbuild.toml:{line}: run.command: is empty; name the program, e.g. command = '
        '["python3", "-m", "train"]',
        f"hint: fix the problems above in {project.manifest}"]
