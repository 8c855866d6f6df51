"""The bundled recipes and their committed locks under lock/."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.helpers import run_cli

ROOT = Path(__file__).resolve().parent.parent
RECIPES = sorted(p.name for p in (ROOT / "recipes").iterdir() if (p / "envbuild.toml").exists())


@pytest.mark.parametrize("recipe", RECIPES)
def test_committed_recipe_lock_is_current(recipe: str) -> None:
    """Offline: the suite fails when a recipe's lock is stale. Fix: scripts/relock-recipes."""
    result = run_cli(["lock", "--check", "-f", str(ROOT / "recipes" / recipe / "envbuild.toml"),
                      "--lock", str(ROOT / "lock" / f"{recipe}.lock")])
    assert result.code == 0, result.err


@pytest.mark.pypi
@pytest.mark.parametrize("recipe", RECIPES)
def test_fresh_lock_from_the_live_index_is_byte_identical(recipe: str, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Exact pins and exclude-newer: a lock made today on this machine equals the committed one."""
    for key in list(os.environ):
        if key.startswith("UV_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))
    monkeypatch.setenv("ENVBUILD_CACHE_DIR", str(tmp_path / "cache"))
    shutil.copy(ROOT / "recipes" / recipe / "envbuild.toml", tmp_path / "envbuild.toml")
    result = run_cli(["lock", "-f", str(tmp_path / "envbuild.toml")])
    assert result.code == 0, result.err
    assert (tmp_path / "envbuild.lock").read_bytes() == (ROOT / "lock" / f"{recipe}.lock").read_bytes()


def _committed(paths: list[Path]) -> bool:
    """Whether ROOT is a git checkout in which `paths` have no uncommitted change."""
    import subprocess

    try:
        done = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", *map(str, paths)],
                              capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return False
    return done.stdout.strip() == ""


@pytest.mark.parametrize("recipe", RECIPES)
def test_the_ci_plan_of_a_committed_recipe_rebuilds_nothing(recipe: str) -> None:
    """What CI runs on this project's own recipes: the plan against HEAD of an unchanged
    tree is empty (every target unchanged)."""
    import json

    manifest, lock = ROOT / "recipes" / recipe / "envbuild.toml", ROOT / "lock" / f"{recipe}.lock"
    if not _committed([manifest.parent, lock]):
        pytest.skip("not a git checkout, or the recipe has uncommitted changes")
    result = run_cli(["ci", "plan", "-f", str(manifest), "--lock", str(lock), "--base", "HEAD", "--json"])
    assert result.code == 0, result.err
    plan = json.loads(result.out)
    assert plan["rebuild"] == []
    assert {t["status"] for t in plan["targets"].values()} == {"unchanged"}
