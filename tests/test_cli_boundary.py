"""The error boundary: messages and exit codes, never a traceback unless asked for."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import run_cli


def test_a_stray_exception_becomes_a_message(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import envbuild.lockfile

    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(envbuild.lockfile, "load", broken)
    result = run_cli(["show", "--lock", str(tmp_path / "x.lock")])
    assert result.code == 3
    assert result.err.splitlines() == [
        "error: internal error: RuntimeError: boom",
        "hint: this is a bug in envbuild; rerun as `envbuild -v ...` and report the traceback",
    ]
    verbose = run_cli(["-v", "show", "--lock", str(tmp_path / "x.lock")])
    assert "Traceback" in verbose.err


def test_verbose_after_the_command_is_not_the_global_flag(tmp_path: Path) -> None:
    result = run_cli(["lock", "-v", "-f", str(tmp_path / "envbuild.toml")])
    assert result.code == 2
    assert "No such option '-v'" in result.err


def test_check_without_a_lock_is_stale(tmp_path: Path) -> None:
    manifest = tmp_path / "envbuild.toml"
    manifest.write_text('[project]\nname = "x"\npython = "3.11"\n[targets.a]\nplatform = "linux/amd64"\n')
    result = run_cli(["lock", "--check", "-f", str(manifest)])
    assert result.code == 1
    assert "no lock file" in result.err


def test_export_never_writes_credentials_from_the_environment(eb_env: dict[str, str], tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    manifest = tmp_path / "envbuild.toml"
    manifest.write_text('[project]\nname = "x"\npython = "3.11"\n[dependencies]\npython = ["beta"]\n'
                        '[targets.a]\nplatform = "linux/amd64"\n')
    assert run_cli(["lock", "-f", str(manifest)]).code == 0
    index = eb_env["UV_DEFAULT_INDEX"].replace("http://", "http://alice:s3cret@")
    monkeypatch.setenv("UV_DEFAULT_INDEX", index)
    result = run_cli(["export", "-f", str(manifest), "--format", "requirements"])
    assert result.code == 0, result.err
    assert "s3cret" not in result.out and "alice" not in result.out
    # The default index is the installer's own configuration: no URL of it is written at all.
    assert "--index-url" not in result.out and "127.0.0.1" not in result.out


def test_export_names_an_index_the_manifest_lost(eb_env: dict[str, str], tmp_path: Path) -> None:
    manifest = tmp_path / "envbuild.toml"
    manifest.write_text('[project]\nname = "x"\npython = "3.11"\n[dependencies]\npython = ["beta"]\n'
                        '[targets.a]\nplatform = "linux/amd64"\n')
    assert run_cli(["lock", "-f", str(manifest)]).code == 0
    lock = tmp_path / "envbuild.lock"
    lock.write_text(lock.read_text().replace('index = "default"', 'index = "mirror"'))
    result = run_cli(["export", "-f", str(manifest), "--format", "requirements"])
    assert result.code == 2
    assert result.err.startswith('error: beta: the lock names index "mirror", which the manifest does not declare')
