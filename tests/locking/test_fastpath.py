"""The no-op memo answers only for the exact bytes it saw; anything else is checked in full."""

from __future__ import annotations

from pathlib import Path

from envbuild.locking import fastpath
from tests.helpers import run_cli


def make(tmp_path: Path) -> tuple[Path, Path]:
    manifest = tmp_path / "envbuild.toml"
    manifest.write_text('[project]\nname = "fp"\npython = "3.11"\n[dependencies]\npython = ["alpha"]\n'
                        '[targets.linux]\nplatform = "linux/amd64"\n')
    assert run_cli(["lock", "-f", str(manifest)]).code == 0
    return manifest, tmp_path / "envbuild.lock"


def test_memo_is_recorded_after_a_lock_and_answers_the_check(eb_env: dict[str, str], tmp_path: Path) -> None:
    manifest, lock = make(tmp_path)
    known = fastpath.current_lock_hash(manifest, lock)
    assert known is not None and known in lock.read_text()
    assert run_cli(["lock", "--check", "-f", str(manifest)]).code == 0


def test_a_tampered_lock_is_never_answered_from_the_memo(eb_env: dict[str, str], tmp_path: Path) -> None:
    manifest, lock = make(tmp_path)
    lock.write_text(lock.read_text().replace('requirements = ["alpha"]', 'requirements = ["alpha", "beta"]'))
    assert fastpath.current_lock_hash(manifest, lock) is None
    result = run_cli(["lock", "--check", "-f", str(manifest)])
    assert result.code == 1
    assert '  - target "linux": its content does not match its recorded hash (recorded sha256:' in result.err


def test_an_edited_manifest_is_checked_in_full(eb_env: dict[str, str], tmp_path: Path) -> None:
    manifest, lock = make(tmp_path)
    manifest.write_text("# a comment changes bytes, not inputs\n" + manifest.read_text())
    assert fastpath.current_lock_hash(manifest, lock) is None
    assert run_cli(["lock", "--check", "-f", str(manifest)]).code == 0  # still current
    assert fastpath.current_lock_hash(manifest, lock) is not None  # and remembered again
    manifest.write_text(manifest.read_text().replace('["alpha"]', '["alpha", "greeter"]'))
    assert run_cli(["lock", "--check", "-f", str(manifest)]).code == 1


def test_a_changed_artifact_hash_is_caught_by_the_full_check(eb_env: dict[str, str], tmp_path: Path) -> None:
    manifest, lock = make(tmp_path)
    text = lock.read_text()
    start = text.index('hash = "sha256:', text.index("[[targets.linux.packages]]")) + len('hash = "sha256:')
    lock.write_text(text[:start] + ("0" if text[start] != "0" else "1") + text[start + 1:])
    result = run_cli(["lock", "--check", "-f", str(manifest)])
    assert result.code == 1
    assert 'target "linux": its content does not match its recorded hash' in result.err


def test_lock_repairs_a_hand_edited_target(eb_env: dict[str, str], tmp_path: Path) -> None:
    manifest, lock = make(tmp_path)
    lock.write_text(lock.read_text().replace('size = ', 'size = 1', 1))
    result = run_cli(["lock", "-f", str(manifest)])
    assert result.code == 0 and "wrote" in result.err
    assert run_cli(["lock", "--check", "-f", str(manifest)]).code == 0
