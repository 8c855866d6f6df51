"""Shared fixtures: the local package index (tests/support) and an isolated envbuild env."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.debarchive import debian_archive_key  # noqa: F401  (found by name)
from tests.support.fixtures import (  # noqa: F401  (fixtures are found by name)
    LocalIndex,
    fresh_index,
    hermetic_env,
    hermetic_environ,
    index_corpus,
    local_index,
)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def eb_env(local_index: LocalIndex, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Point envbuild (and the uv it runs) at the local index as the default index.

    The default index is whatever the user's configuration says; here UV_DEFAULT_INDEX,
    exactly as a user behind a mirror would set it.
    """
    env = hermetic_environ(cache_dir=tmp_path / "uv-cache")
    env["UV_DEFAULT_INDEX"] = local_index.url("pypi")
    env["ENVBUILD_CACHE_DIR"] = str(tmp_path / "envbuild-cache")
    env.pop("UV_NO_CONFIG", None)
    for key in list(os.environ):
        if key.startswith(("PIP_", "UV_")):
            monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    yield env
