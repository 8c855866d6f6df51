"""pytest fixtures over the local package index.

`tests/conftest.py` imports them by name, which registers them for the whole suite.

- `index_corpus` (session): the standard corpus, built once into a temporary folder.
- `local_index` (session): a running server over that corpus, shared by the whole session;
  treat it as read-only (use unique names if a test must add a file to it).
- `fresh_index` (function): its own server over the same files, for tests that change
  settings (auth, broken, hashes) or add files, and that count requests from zero.
- `hermetic_env` (function): an environment for running pip and uv without this machine's
  configuration (site pip config, PIP_* and UV_* variables, user uv.toml).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from .corpus import Corpus, build_corpus
from .indexserver import HostedFile, IndexServer, LoggedRequest
from .wheelfactory import DistSpec, build_sdist, build_wheel


@dataclass(frozen=True, kw_only=True, slots=True)
class LocalIndex:
    """A running index server with the corpus it serves and a folder for extra files."""

    server: IndexServer
    corpus: Corpus
    extra_dir: Path

    def url(self, index: str = "pypi") -> str:
        """The simple-API root of a named index, e.g. `http://127.0.0.1:PORT/pypi/simple/`."""
        return self.server.simple_url(index)

    @property
    def urls(self) -> dict[str, str]:
        return self.server.urls

    def file_url(self, index: str, filename: str) -> str:
        return self.server.file_url(index, filename)

    def publish(
        self,
        spec: DistSpec,
        *,
        index: str = "pypi",
        upload_time: datetime | None = None,
        sdist: bool = False,
    ) -> HostedFile:
        """Build `spec` (a wheel, or an sdist) and serve it from `index` at once."""
        folder = self.extra_dir / index
        path = build_sdist(spec, folder) if sdist else build_wheel(spec, folder)
        return self.server.add_file(index, path, upload_time=upload_time)

    @property
    def log(self) -> list[LoggedRequest]:
        return self.server.log

    def clear_log(self) -> None:
        self.server.clear_log()

    def downloads(self, filename: str, *, index: str | None = None) -> int:
        return self.server.downloads(filename, index=index)


def hermetic_environ(
    base: Mapping[str, str] | None = None, *, cache_dir: Path | None = None, **extra: str
) -> dict[str, str]:
    """`base` (default os.environ) without pip's and uv's configuration.

    pip's `--isolated` ignores PIP_* variables and the user's config but still reads the
    global one (/etc/xdg/pip/pip.conf, which here sets a constraint); PIP_CONFIG_FILE set
    to os.devnull is what makes pip skip every config file. Run pip with both.
    """
    env = {
        k: v
        for k, v in (os.environ if base is None else base).items()
        if not k.startswith(("PIP_", "UV_")) and k not in ("NETRC", "VIRTUAL_ENV")
    }
    env["PIP_CONFIG_FILE"] = os.devnull
    env["UV_NO_CONFIG"] = "1"
    env["UV_PYTHON_DOWNLOADS"] = "never"
    if cache_dir is not None:
        env["UV_CACHE_DIR"] = str(cache_dir)
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def index_corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    return build_corpus(tmp_path_factory.mktemp("index-corpus"))


@pytest.fixture(scope="session")
def local_index(
    index_corpus: Corpus, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalIndex]:
    with index_corpus.server() as server:
        yield LocalIndex(
            server=server, corpus=index_corpus, extra_dir=tmp_path_factory.mktemp("index-extra")
        )


@pytest.fixture
def fresh_index(index_corpus: Corpus, tmp_path: Path) -> Iterator[LocalIndex]:
    with index_corpus.server() as server:
        yield LocalIndex(server=server, corpus=index_corpus, extra_dir=tmp_path / "index-extra")


@pytest.fixture
def hermetic_env(tmp_path: Path) -> dict[str, str]:
    return hermetic_environ(cache_dir=tmp_path / "uv-cache")
