"""`exclude-newer` on conda channels: judged by each record's build `timestamp` (never by
when the channel was indexed), and not at all on a channel whose index is exempt."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import run_cli
from tests.support.conda_channel import CondaChannel, CondaSpec

LATE = 1767225600000  # 2026-01-01, after the manifests' cutoff (the packages' own: 2024-01-01)


@pytest.fixture(scope="module")
def channels(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """`forge`: tool 1.0 (old) and 2.0 (built after the cutoff); `late`: fresh 1.0 (after)."""
    root = tmp_path_factory.mktemp("channels")
    forge, late = CondaChannel(root / "forge"), CondaChannel(root / "late")
    for version in ("1.0", "2.0"):
        forge.add(CondaSpec(name="tool", version=version))
    late.add(CondaSpec(name="fresh", version="1.0"))
    forge.index()
    late.index()
    forge.tamper("linux-64", "tool-2.0-0.conda", timestamp=LATE)
    late.tamper("linux-64", "fresh-1.0-0.conda", timestamp=LATE)
    with forge.serve() as forge_url, late.serve() as late_url:
        yield forge_url, late_url


def _lock(folder: Path, channels: tuple[str, str], conda: str, *, exempt: tuple[bool, bool] = (False, False),
          ) -> tuple[int, str, dict[str, str]]:
    flags = ["true" if e else "false" for e in exempt]
    manifest = folder / "envbuild.toml"
    manifest.write_text(
        '[project]\nname = "demo"\npython = "3.11"\nexclude-newer = "2025-06-01T00:00:00Z"\n\n'
        f'[indexes]\nforge = {{ url = "{channels[0]}", kind = "conda", exclude-newer-exempt = {flags[0]} }}\n'
        f'late = {{ url = "{channels[1]}", kind = "conda", exclude-newer-exempt = {flags[1]} }}\n\n'
        '[conda]\nchannels = ["forge", "late"]\n\n'
        f'[dependencies]\nconda = [{conda}]\n\n[targets.cpu]\nplatform = "linux/amd64"\n')
    result = run_cli(["lock", "-f", str(manifest)])
    if result.code != 0:
        return result.code, result.err, {}
    table = tomllib.loads((folder / "envbuild.lock").read_text())["targets"]["cpu"]
    return 0, result.err, {r["name"]: r["version"] for r in table["conda"]}


def test_the_cutoff_judges_build_time_not_index_time(eb_env: dict[str, str], tmp_path: Path,
                                                     channels: tuple[str, str]) -> None:
    # Both channels were indexed after the cutoff; tool 1.0 was built before it.
    code, err, versions = _lock(tmp_path, channels, '"tool"')
    assert code == 0, err
    assert versions == {"tool": "1.0"}


def test_an_exempt_channel_gets_no_cutoff(eb_env: dict[str, str], tmp_path: Path,
                                          channels: tuple[str, str]) -> None:
    code, err, versions = _lock(tmp_path, channels, '"tool"', exempt=(True, True))
    assert code == 0, err
    assert versions == {"tool": "2.0"}


def test_mixed_channels_cut_only_the_channels_not_exempt(eb_env: dict[str, str], tmp_path: Path,
                                                         channels: tuple[str, str]) -> None:
    code, err, versions = _lock(tmp_path, channels, '"tool", "fresh"', exempt=(False, True))
    assert code == 0, err
    assert versions == {"fresh": "1.0", "tool": "1.0"}


def test_a_spec_only_the_cutoff_refuses_names_exclude_newer(eb_env: dict[str, str], tmp_path: Path,
                                                            channels: tuple[str, str]) -> None:
    code, err, _ = _lock(tmp_path, channels, '"tool >=2"')
    assert code == 2
    assert err.splitlines()[-1] == (
        "hint: exclude-newer (2025-06-01T00:00:00Z) left out 1 newer build(s) (tool 2.0 0): move "
        "exclude-newer later, or set exclude-newer-exempt = true on the channel's index; or relax a "
        "conda spec, or check the target's cuda and glibc")
    assert not (tmp_path / "envbuild.lock").exists()
