"""`envbuild diff` and `envbuild show` on real locks."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.helpers import run_cli

BETWEEN_BETAS = "2024-03-01T00:00:00Z"
BODY = ('[project]\nname = "d"\npython = "3.11"\nexclude-newer = "{when}"\n'
        '[dependencies]\npython = ["alpha"]\n[dependency-groups]\ntools = ["greeter"]\n'
        '[targets.linux]\nplatform = "linux/amd64"\ngroups = ["tools"]\n'
        '[targets.arm]\nplatform = "linux/arm64"\ndependencies = ["filelock"]\n')


def test_diff_reports_changes_per_target(eb_env: dict[str, str], tmp_path: Path) -> None:
    manifest = tmp_path / "envbuild.toml"
    manifest.write_text(BODY.format(when=BETWEEN_BETAS))
    assert run_cli(["lock", "-f", str(manifest)]).code == 0
    old = tmp_path / "old.lock"
    old.write_bytes((tmp_path / "envbuild.lock").read_bytes())
    manifest.write_text(BODY.format(when="2025-01-01T00:00:00Z").replace('["filelock"]', "[]"))
    assert run_cli(["lock", "-f", str(manifest), "--upgrade"]).code == 0
    result = run_cli(["diff", str(old), str(tmp_path / "envbuild.lock")])
    assert result.code == 0
    lines = result.out.splitlines()
    arm = lines.index("target arm: changed")
    beta = ["  ~ beta 1.0 -> 2.0",
            "      artifact.file: beta-1.0-py3-none-any.whl -> beta-2.0-py3-none-any.whl"]
    assert lines[arm + 1:arm + 4] == ["  - filelock 3.16.1", *beta]
    assert '  requirements: ["alpha", "filelock"] -> ["alpha"]' in lines
    assert "lock: project.exclude-newer: 2024-03-01T00:00:00Z -> 2025-01-01T00:00:00Z" in lines
    linux = lines.index("target linux: changed")
    assert lines[linux + 1:linux + 3] == beta
    data = json.loads(run_cli(["diff", "--json", str(old), str(tmp_path / "envbuild.lock")]).out)
    assert data["differs"] is True
    assert data["targets"]["linux"]["changed"] == [{"name": "beta", "old": "1.0", "new": "2.0"}]
    assert run_cli(["diff", "--exit-code", str(old), str(tmp_path / "envbuild.lock")]).code == 1
    assert run_cli(["diff", "--exit-code", str(old), str(old)]).code == 0


def test_diff_defaults_to_the_lock_in_git_head(eb_env: dict[str, str], tmp_path: Path) -> None:
    manifest = tmp_path / "envbuild.toml"
    manifest.write_text(BODY.format(when=BETWEEN_BETAS))
    assert run_cli(["lock", "-f", str(manifest)]).code == 0
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "lock"], check=True)
    manifest.write_text(BODY.format(when="2025-01-01T00:00:00Z"))
    assert run_cli(["lock", "-f", str(manifest), "--upgrade"]).code == 0
    cwd = Path.cwd()
    os.chdir(tmp_path)
    try:
        result = run_cli(["diff"])
    finally:
        os.chdir(cwd)
    assert result.code == 0, result.err
    assert "  ~ beta 1.0 -> 2.0" in result.out


def test_groups_and_per_target_dependencies(eb_env: dict[str, str], tmp_path: Path) -> None:
    manifest = tmp_path / "envbuild.toml"
    manifest.write_text(BODY.format(when=BETWEEN_BETAS))
    assert run_cli(["lock", "-f", str(manifest)]).code == 0
    shown = json.loads(run_cli(["show", "--json", "-f", str(manifest)]).out)
    assert shown["targets"]["linux"]["packages"] == 3  # alpha, beta, greeter
    assert shown["targets"]["arm"]["packages"] == 3  # alpha, beta, filelock
    text = run_cli(["show", "-f", str(manifest)]).out
    assert text.splitlines()[0].startswith("d  ")
    assert "linux/arm64" in text


def test_runs_by_full_path_without_path_or_an_activated_venv(eb_env: dict[str, str], tmp_path: Path) -> None:
    manifest = tmp_path / "envbuild.toml"
    manifest.write_text(BODY.format(when=BETWEEN_BETAS))
    env = {**eb_env, "PATH": "/nonexistent"}
    env.pop("VIRTUAL_ENV", None)
    done = subprocess.run([str(Path(sys.executable).parent / "envbuild"), "lock", "-f", str(manifest)],
                          env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_diff_compares_content_not_recorded_hashes(eb_env: dict[str, str], tmp_path: Path) -> None:
    """A hand edit that keeps every recorded hash is shown field by field, after a loud line
    saying the edited side does not prove; the command exits 1 with or without --exit-code."""
    manifest = tmp_path / "envbuild.toml"
    manifest.write_text(BODY.format(when=BETWEEN_BETAS))
    assert run_cli(["lock", "-f", str(manifest)]).code == 0
    old = tmp_path / "old.lock"
    old.write_bytes((tmp_path / "envbuild.lock").read_bytes())
    edited = tmp_path / "envbuild.lock"
    text = edited.read_text()
    beta = text.index('name = "beta"', text.index("[[targets.linux.packages]]"))
    found = re.compile(r"size = (\d+)").search(text, beta)
    assert found is not None
    old_size = int(found.group(1))
    edited.write_text(text[:found.start()] + f"size = {old_size + 1}" + text[found.end():])
    for argv in (["diff", str(old), str(edited)], ["diff", "--exit-code", str(old), str(edited)]):
        result = run_cli(argv)
        assert result.code == 1, result.err
        lines = result.out.splitlines()
        assert lines[0] == ("!! new lock does not prove: its content does not match its hashes "
                            "(edited after `envbuild lock` wrote it)")
        assert lines[1].startswith('!!   target "linux": its content does not match its recorded hash')
        assert "locks are identical" not in result.out
        assert "target linux: changed" in lines
        assert "  # beta: same version, different file or hash" in lines
        assert f"      artifact.size: {old_size} -> {old_size + 1}" in lines
    data = json.loads(run_cli(["diff", "--json", str(old), str(edited)]).out)
    assert data["proved"] is False and data["proof"]["old"] == [] and len(data["proof"]["new"]) == 1
    assert data["differs"] is True
    assert data["old_lock_hash"] == data["new_lock_hash"]  # the recorded hashes agree; the content does not
    assert {"path": "packages.beta.artifact.size", "old": old_size, "new": old_size + 1} in \
        data["targets"]["linux"]["fields"]
