"""A real virtual environment built once per session; tests that change it work on a copy."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.runtime.envs import BASE, CLEAN_ENV_KEYS, build_wheels, copy_venv, make_venv


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("envbuild-cache")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, cache_dir: Path) -> None:
    monkeypatch.setenv("ENVBUILD_CACHE_DIR", str(cache_dir))
    for key in CLEAN_ENV_KEYS:
        monkeypatch.delenv(key, raising=False)


@pytest.fixture(scope="session")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("wheels")
    build_wheels(folder, {**BASE, "extra-tool": "0.1"})
    return build_wheels(folder, {"alpha": "1.1"})


@pytest.fixture(scope="session")
def golden_venv(tmp_path_factory: pytest.TempPathFactory, wheels: Path) -> Path:
    """A venv with pip (and setuptools where the Python bundles it) and BASE installed."""
    return make_venv(tmp_path_factory.mktemp("golden") / "venv", wheels,
                     [f"{n}=={v}" for n, v in BASE.items()])


@pytest.fixture
def venv(golden_venv: Path, tmp_path: Path) -> Iterator[Path]:
    """A copy of the golden venv this test may change; yields its python."""
    yield copy_venv(golden_venv.parent.parent, tmp_path / "venv")
