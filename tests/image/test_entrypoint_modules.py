"""`python -m NAME` as Python parses it: where the working directory and PYTHONPATH are off
sys.path (-I, -P, -E), a joined `-mNAME`, and a dotted NAME's submodules (exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.image.project import Project
from tests.image.test_entrypoint import build, os_base, with_code


def entrypoint(base: str, words: str, copy: str = '["src/"]', extra: str = "") -> str:
    return f'\n[image]\nbase = "{base}"\ncopy = {copy}\nentrypoint = {words}\n{extra}'


@pytest.mark.parametrize(("words", "shown", "flag"), [
    ('["python3", "-I", "-m", "train"]', "python3 -I -m train", "-I"),
    ('["python3", "-P", "-m", "train"]', "python3 -P -m train", "-P"),
    ('["python3", "-Im", "train"]', "python3 -Im train", "-I"),
], ids=["isolated", "safe-path", "joined-flags"])
def test_module_in_the_working_dir_with_it_off_sys_path_exits_2(
        project: Project, tmp_path: Path, words: str, shown: str, flag: str) -> None:
    base = os_base(tmp_path / "base")
    with_code(project)
    code, err, _ = build(project, tmp_path, entrypoint(base, words))
    assert code == 2, err
    places = ("the image's lib/python3 folders" if flag == "-I" else
              "PYTHONPATH or the image's lib/python3 folders")
    assert err.splitlines()[-2:] == [
        f'error: target "cpu": entrypoint runs `{shown}`, but no module "train" is in '
        f"{places} ({flag} keeps the working directory off sys.path)",
        f"hint: drop {flag}, or install the code as a package (a locked wheel puts it in "
        "site-packages)"]


def test_isolated_python_finds_a_locked_package(project: Project, tmp_path: Path) -> None:
    base = os_base(tmp_path / "base")
    code, err, _ = build(project, tmp_path,
                         entrypoint(base, '["python3", "-I", "-m", "alpha"]', copy="[]"))
    assert code == 0, err


def test_ignore_environment_drops_pythonpath(project: Project, tmp_path: Path) -> None:
    base = os_base(tmp_path / "base")
    with_code(project)
    (project.folder / "lib").mkdir()
    (project.folder / "lib/tool.py").write_text("")
    env = 'env = { PYTHONPATH = "/workspace/lib" }\n'
    copy = '["src/", "lib/"]'
    code, err, _ = build(project, tmp_path,
                         entrypoint(base, '["python3", "-m", "tool"]', copy, env))
    assert code == 0, err
    code, err, _ = build(project, tmp_path,
                         entrypoint(base, '["python3", "-E", "-m", "tool"]', copy, env))
    assert code == 2, err
    assert err.splitlines()[-2:] == [
        'error: target "cpu": entrypoint runs `python3 -E -m tool`, but no module "tool" is '
        "in the working directory /workspace/src or the image's lib/python3 folders "
        "(-E ignores PYTHONPATH)",
        "hint: drop -E, or install the code as a package (a locked wheel puts it in "
        "site-packages)"]


def test_joined_module_name_is_checked(project: Project, tmp_path: Path) -> None:
    base = os_base(tmp_path / "base")
    with_code(project)
    code, err, _ = build(project, tmp_path, entrypoint(base, '["python3", "-mnosuch"]'))
    assert code == 2, err
    assert err.splitlines()[-2:] == [
        'error: target "cpu": entrypoint runs `python3 -mnosuch`, but no module "nosuch" is '
        "in the working directory /workspace/src, PYTHONPATH or the image's lib/python3 "
        "folders",
        "hint: copy the module into the image (it runs from /workspace/src)"]
    code, err, _ = build(project, tmp_path, entrypoint(base, '["python3", "-mtrain"]'))
    assert code == 0, err


def package(project: Project) -> None:
    (project.folder / "src/train").mkdir(parents=True)
    (project.folder / "src/train/__init__.py").write_text("")
    (project.folder / "src/train/sub.py").write_text("")
    (project.folder / "src/train/nested").mkdir()
    (project.folder / "src/train/nested/__init__.py").write_text("")


@pytest.mark.parametrize("module", ["train.sub", "train.nested"])
def test_submodule_of_a_copied_package(project: Project, tmp_path: Path, module: str) -> None:
    base = os_base(tmp_path / "base")
    package(project)
    code, err, _ = build(project, tmp_path, entrypoint(base, f'["python3", "-m", "{module}"]'))
    assert code == 0, err


def test_missing_submodule_exits_2(project: Project, tmp_path: Path) -> None:
    base = os_base(tmp_path / "base")
    package(project)
    code, err, _ = build(project, tmp_path,
                         entrypoint(base, '["python3", "-m", "train.nested.nosuch"]'))
    assert code == 2, err
    assert err.splitlines()[-2:] == [
        'error: target "cpu": entrypoint runs `python3 -m train.nested.nosuch`, but package '
        '"train.nested" (in /workspace/src) has no submodule "nosuch"',
        "hint: check the dotted name, or add nosuch.py (or nosuch/__init__.py) to "
        "/workspace/src/train/nested/"]


def test_submodule_of_a_plain_module_exits_2(project: Project, tmp_path: Path) -> None:
    base = os_base(tmp_path / "base")
    with_code(project)  # src/train.py: a module, not a package
    code, err, _ = build(project, tmp_path, entrypoint(base, '["python3", "-m", "train.sub"]'))
    assert code == 2, err
    assert err.splitlines()[-2:] == [
        'error: target "cpu": entrypoint runs `python3 -m train.sub`, but module "train" '
        '(in /workspace/src) has no submodule "sub"',
        "hint: /workspace/src/train.py is a module, not a package: check the dotted name"]


def test_absolute_python_on_a_python3_base_names_python3(project: Project,
                                                         tmp_path: Path) -> None:
    base = os_base(tmp_path / "base")
    with_code(project)
    code, err, _ = build(project, tmp_path,
                         entrypoint(base, '["/usr/bin/python", "-m", "train"]'))
    assert code == 2, err
    assert err.splitlines()[-2:] == [
        'error: target "cpu": entrypoint program "/usr/bin/python" does not exist in the image',
        'hint: the image has /usr/bin/python3: write [image] entrypoint = ["/usr/bin/python3", '
        '"-m", "train"] instead of ["/usr/bin/python", "-m", "train"]']
