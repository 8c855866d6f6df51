"""Fixtures of the image tests: a private index server and a project folder per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.image.project import CPU, Project
from tests.support.indexserver import IndexServer


@pytest.fixture
def index_server() -> Iterator[IndexServer]:
    server = IndexServer()
    server.add_index("local")
    with server:
        yield server


@pytest.fixture
def project(tmp_path: Path, index_server: IndexServer,
            monkeypatch: pytest.MonkeyPatch) -> Project:
    for key in list(os.environ):
        if key.startswith(("PIP_", "UV_")) or key in ("SOURCE_DATE_EPOCH", "NETRC"):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("ENVBUILD_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "proj"
    folder.mkdir()
    p = Project(folder=folder, server=index_server, wheel_dir=tmp_path / "wheels",
                targets={"cpu": CPU})
    p.write()
    return p
