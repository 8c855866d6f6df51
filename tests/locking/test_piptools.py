"""The pip-tools backend: the host's own target only, same lock shape as uv's."""

from __future__ import annotations

import tomllib
from pathlib import Path

from tests.helpers import run_cli


def test_piptools_locks_the_host_target_like_uv(eb_env: dict[str, str], tmp_path: Path) -> None:
    body = ('[project]\nname = "pt"\npython = "3.11"\n[dependencies]\npython = ["alpha", "greeter"]\n'
            '[targets.host]\nplatform = "linux/amd64"\n')
    uv_dir, pt_dir = tmp_path / "uv", tmp_path / "pt"
    uv_dir.mkdir()
    pt_dir.mkdir()
    (uv_dir / "envbuild.toml").write_text(body)
    (pt_dir / "envbuild.toml").write_text(body + 'resolver = "pip-tools"\n')
    assert run_cli(["lock", "-f", str(uv_dir / "envbuild.toml")]).code == 0
    result = run_cli(["lock", "-f", str(pt_dir / "envbuild.toml")])
    assert result.code == 0, result.err
    by_uv = tomllib.loads((uv_dir / "envbuild.lock").read_text())["targets"]["host"]["packages"]
    by_pt = tomllib.loads((pt_dir / "envbuild.lock").read_text())["targets"]["host"]["packages"]
    assert by_pt == by_uv  # same versions, files, hashes and dependency edges


def test_piptools_refuses_a_foreign_target(eb_env: dict[str, str], tmp_path: Path) -> None:
    manifest = tmp_path / "envbuild.toml"
    manifest.write_text('[project]\nname = "pt"\npython = "3.11"\n[resolution]\nresolver = "pip-tools"\n'
                        '[targets.arm]\nplatform = "linux/arm64"\n')
    result = run_cli(["lock", "-f", str(manifest)])
    assert result.code == 2
    assert result.err.splitlines() == [
        "resolving arm (linux/arm64)",
        'error: target "arm": pip-tools resolves only for this host (linux/amd64, Python 3.11), '
        "not for linux/arm64 with Python 3.11",
        'hint: use resolver = "uv" for this target (the default)',
    ]
