"""The portable runtime imports nothing outside the standard library and bundles reproducibly."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import envbuild.runtime
from envbuild.runtime import PORTABLE
from envbuild.runtime.bundle import write_zipapp

HERE = Path(envbuild.runtime.__file__).parent


@pytest.mark.parametrize("module", PORTABLE)
def test_portable_modules_import_only_the_standard_library(module: str) -> None:
    tree = ast.parse((HERE / f"{module}.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: a sibling, itself portable
                assert (node.module or "").split(".")[0] in (*PORTABLE, "")
                continue
            names = [node.module or ""]
        else:
            continue
        for name in names:
            assert name.split(".")[0] in sys.stdlib_module_names, f"{module} imports {name}"


def test_every_module_but_hosted_is_portable() -> None:
    assert {p.stem for p in HERE.glob("*.py")} - set(PORTABLE) == {"hosted"}


def test_bundle_is_byte_for_byte_reproducible(tmp_path: Path) -> None:
    one = write_zipapp(tmp_path / "one.pyz").read_bytes()
    assert write_zipapp(tmp_path / "two.pyz").read_bytes() == one


def test_bundle_probe_runs_isolated(tmp_path: Path) -> None:
    bundle = write_zipapp(tmp_path / "envbuild-runtime.pyz", include_pynvml=False)
    done = subprocess.run([sys.executable, "-I", str(bundle), "probe"], capture_output=True,
                          text=True, check=True)
    doc = json.loads(done.stdout)
    assert (doc["schema"], doc["nvml"], doc["gpus"]) == (1, False, [])


def test_cached_tree_is_written_once_and_runs(tmp_path: Path) -> None:
    from envbuild.runtime.bundle import cached_tree

    first = cached_tree(tmp_path)
    assert cached_tree(tmp_path) == first
    assert sorted(p.name for p in (tmp_path / "runtime").iterdir()) == [first.name]
    done = subprocess.run([sys.executable, "-I", str(first), "verify", "--bogus"],
                          capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.splitlines()[0] == "error: verify: unknown argument '--bogus'"
