"""The conda channel the conda tests share: built once, served on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.conda_channel import CondaChannel, standard_channel


@pytest.fixture(scope="module")
def conda_channel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[CondaChannel, str]]:
    channel = standard_channel(tmp_path_factory.mktemp("conda-channel"))
    with channel.serve() as url:
        yield channel, url


def conda_manifest(folder: Path, url: str, *, conda: str = '"accel", "python=3.11", "beta", "prefixed", "tinyutil"',
                   python: str = '"alpha"', targets: str | None = None) -> Path:
    targets = targets if targets is not None else (
        '[targets.gpu]\nplatform = "linux/amd64"\ncuda = "12.4"\ngpus = ["H100"]\nconda = ["cuda-toolkit"]\n\n'
        '[targets.arm]\nplatform = "linux/arm64"\n')
    manifest = folder / "envbuild.toml"
    manifest.write_text(
        '[project]\nname = "demo"\npython = "3.11"\n\n'
        f'[indexes]\nforge = {{ url = "{url}", kind = "conda" }}\n\n'
        '[conda]\nchannels = ["forge"]\n\n'
        f"[dependencies]\nconda = [{conda}]\npython = [{python}]\n\n{targets}")
    return manifest
