"""Shared fixtures of the cluster tests: a manifest with [cluster] and [run], a lock to match."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cluster.support import write_project


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A folder with envbuild.toml (every provider, pool h100, 2-node run) and envbuild.lock."""
    return write_project(tmp_path)
