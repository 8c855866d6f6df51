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
