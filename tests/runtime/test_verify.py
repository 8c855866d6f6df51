"""`envbuild verify` against a real venv: pass, each failure mode, and its exact message."""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from envbuild.runtime.bundle import write_zipapp
from envbuild.runtime.target import read_lock
from envbuild.runtime.verifier import VerifyOptions, verify
from tests.helpers import run_cli
from tests.runtime.envs import (
    BASE,
    CPU_HASH,
    clean_environ,
    copy_venv,
    gpu_targets,
    lock_hash_of,
    pip_install,
    pip_uninstall,
    site_packages,
    sys_path,
    target,
    write_lock,
)

OK = f"note: target cpu is a CPU target: hardware not checked\nverified: target cpu ({CPU_HASH})\n"


@pytest.fixture
def lock(tmp_path: Path) -> Path:
    return write_lock(tmp_path / "envbuild.lock", target("cpu", BASE))


def verify_cli(lock: Path, python: Path, *extra: str) -> tuple[int, str, str]:
    result = run_cli(["verify", "--lock", str(lock), "--python", str(python), *extra])
    return result.code, result.out, result.err


def test_matching_environment_passes(lock: Path, golden_venv: Path) -> None:
    assert verify_cli(lock, golden_venv) == (0, "", OK)


def test_a_python_named_without_a_slash_is_the_file_here(lock: Path, golden_venv: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """`--python python` in the venv's bin folder checks that file, not a python on PATH."""
    monkeypatch.chdir(golden_venv.parent)
    assert verify_cli(lock, Path(golden_venv.name)) == (0, "", OK)


def test_swapped_version_fails_naming_it(lock: Path, venv: Path, wheels: Path) -> None:
    pip_install(venv, wheels, ["alpha==1.1"])
    assert verify_cli(lock, venv) == (1, "", (
        "note: target cpu is a CPU target: hardware not checked\n"
        "target cpu: 1 mismatch\n"
        "  version: alpha: locked at 1.0, installed 1.1\n"))


def test_missing_and_unlocked_are_all_listed(lock: Path, venv: Path, wheels: Path) -> None:
    pip_uninstall(venv, "beta-tools")
    pip_install(venv, wheels, ["extra-tool"])
    code, _, err = verify_cli(lock, venv)
    assert code == 1
    assert err.splitlines()[1:] == [
        "target cpu: 2 mismatches",
        "  missing: beta-tools: locked at 2.0, not installed",
        "  unlocked: extra-tool: 0.1 is installed but not locked (allow it with --allow extra-tool)",
    ]


def test_allow_accepts_an_unlocked_distribution(lock: Path, venv: Path, wheels: Path) -> None:
    pip_install(venv, wheels, ["extra-tool"])
    assert verify_cli(lock, venv, "--allow", "Extra_Tool")[0] == 0


def test_default_allowances_are_pip_setuptools_wheel(tmp_path: Path, golden_venv: Path) -> None:
    # Locking pip means its version is checked like any other.
    locked = write_lock(tmp_path / "l.lock", target("cpu", {**BASE, "pip": "0.1"}))
    code, _, err = verify_cli(locked, golden_venv)
    assert code == 1
    assert "  version: pip: locked at 0.1, installed " in err


def test_local_versions_compare_exactly(tmp_path: Path, golden_venv: Path) -> None:
    locked = write_lock(tmp_path / "l.lock", target("cpu", {**BASE, "gamma": "2.5.1+cu124"}))
    code, _, err = verify_cli(locked, golden_venv)
    assert code == 1
    assert err.splitlines()[-1] == "  version: gamma: locked at 2.5.1+cu124, installed 2.5.1+cu121"


def test_names_are_compared_normalised(tmp_path: Path, golden_venv: Path) -> None:
    # The lock writes foo-bar-baz; the distribution calls itself Foo.Bar_baz.
    locked = write_lock(tmp_path / "l.lock", target("cpu", BASE))
    assert 'name = "foo-bar-baz"' in locked.read_text()
    assert verify_cli(locked, golden_venv)[0] == 0


def test_tampered_file_is_caught_only_by_deep(lock: Path, venv: Path) -> None:
    module = site_packages(venv) / "alpha" / "__init__.py"
    module.write_text(module.read_text() + "# changed\n")
    assert verify_cli(lock, venv)[0] == 0
    assert verify_cli(lock, venv, "--deep") == (1, "", (
        "note: target cpu is a CPU target: hardware not checked\n"
        "target cpu: 1 mismatch\n"
        "  file-modified: alpha: alpha/__init__.py differs from its RECORD sha256\n"))


def test_deleted_file_is_reported_missing_by_deep(lock: Path, venv: Path) -> None:
    (site_packages(venv) / "gamma" / "__init__.py").unlink()
    code, _, err = verify_cli(lock, venv, "--deep")
    assert code == 1
    assert err.splitlines()[-1] == "  file-missing: gamma: gamma/__init__.py is in RECORD but not on disk"


def test_deep_skips_pyc_files(lock: Path, venv: Path) -> None:
    subprocess.run([str(venv), "-c", "import alpha, gamma"], check=True)
    assert list((site_packages(venv) / "alpha").glob("__pycache__/*.pyc"))
    assert verify_cli(lock, venv, "--deep")[0] == 0


def test_other_python_version_fails(tmp_path: Path, golden_venv: Path) -> None:
    locked = write_lock(tmp_path / "l.lock", target("cpu", BASE, python="3.10"))
    code, _, err = verify_cli(locked, golden_venv)
    assert code == 1
    assert err.splitlines()[-1] == (
        f"  python: Python {platform.python_version()} does not match target cpu's 3.10")


def test_lock_hash_must_match(lock: Path, golden_venv: Path) -> None:
    other = "sha256:" + "00" * 32
    code, _, err = verify_cli(lock, golden_venv, "--lock-hash", other)
    assert code == 1
    actual = lock_hash_of(lock)
    assert err.splitlines()[-1] == f"  lock-hash: the lock's hash is {actual}, expected {other}"
    assert verify_cli(lock, golden_venv, "--lock-hash", actual)[0] == 0


def test_json_lists_every_mismatch(lock: Path, venv: Path, wheels: Path) -> None:
    pip_install(venv, wheels, ["alpha==1.1", "extra-tool"])
    code, out, _ = verify_cli(lock, venv, "--json")
    assert code == 1
    doc = json.loads(out)
    assert doc["ok"] is False
    assert doc["mismatches"] == [
        {"kind": "version", "package": "alpha", "detail": "locked at 1.0, installed 1.1"},
        {"kind": "unlocked", "package": "extra-tool",
         "detail": "0.1 is installed but not locked (allow it with --allow extra-tool)"},
    ]


def test_same_verdicts_from_cli_standalone_and_in_process(
        lock: Path, venv: Path, wheels: Path, tmp_path: Path) -> None:
    pip_install(venv, wheels, ["alpha==1.1", "extra-tool"])
    (site_packages(venv) / "gamma" / "__init__.py").write_text("tampered\n")
    _, out, _ = verify_cli(lock, venv, "--json", "--deep")
    via_cli = json.loads(out)
    bundle = write_zipapp(tmp_path / "envbuild-runtime.pyz")
    done = subprocess.run([str(venv), "-I", str(bundle), "verify", "--lock", str(lock), "--deep",
                           "--json"], capture_output=True, text=True, env=clean_environ())
    assert done.returncode == 1
    standalone = json.loads(done.stdout)
    in_process = verify(read_lock(lock, None, {}), VerifyOptions(deep=True, paths=sys_path(venv)),
                        environ={}).as_json()
    assert len(via_cli["mismatches"]) == 3
    for doc in (standalone, in_process):
        assert doc["mismatches"] == via_cli["mismatches"]
        assert doc["notes"] == via_cli["notes"]
        assert doc["target_hash"] == via_cli["target_hash"]


def test_target_comes_from_env_when_not_given(tmp_path: Path, golden_venv: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    locked = write_lock(tmp_path / "l.lock", *gpu_targets(BASE))
    code, _, err = verify_cli(locked, golden_venv)
    assert (code, err) == (2, (
        f"error: {locked}: the lock has 3 targets (a100, cpu, h100); choose one with --target\n"
        "hint: list them with `envbuild show`\n"))
    monkeypatch.setenv("ENVBUILD_TARGET", "cpu")
    assert verify_cli(locked, golden_venv) == (0, "", OK)


def test_unknown_target_is_bad_input(lock: Path, golden_venv: Path) -> None:
    code, _, err = verify_cli(lock, golden_venv, "--target", "tpu")
    assert (code, err.splitlines()[0]) == (2, f"error: {lock}: no target 'tpu' (targets: cpu)")


def test_missing_lock_is_bad_input(tmp_path: Path, golden_venv: Path) -> None:
    code, _, err = verify_cli(tmp_path / "none.lock", golden_venv)
    assert (code, err.splitlines()[0]) == (2, f"error: {tmp_path / 'none.lock'}: no lock file")


def test_python_that_does_not_exist_is_bad_input(lock: Path, tmp_path: Path) -> None:
    code, _, err = verify_cli(lock, tmp_path / "nope" / "python")
    assert (code, err) == (2, f"error: --python {tmp_path / 'nope' / 'python'}: "
                              "not an executable interpreter\n")


NOT_A_PYTHON_HINT = "hint: give the python of the virtual environment to check, e.g. --python .venv/bin/python\n"


def test_python_that_is_not_a_python_is_bad_input(lock: Path) -> None:
    true = Path(shutil.which("true") or "/bin/true")
    assert verify_cli(lock, true) == (2, "", (
        f"error: --python {true}: not a Python 3.11+ interpreter (it exited 0 with no output)\n"
        + NOT_A_PYTHON_HINT))


def test_python_that_prints_garbage_is_bad_input(lock: Path, tmp_path: Path) -> None:
    script = tmp_path / "python"
    script.write_text("#!/bin/sh\necho 'hello from a script'\n")
    script.chmod(0o755)
    assert verify_cli(lock, script) == (2, "", (
        f"error: --python {script}: not a Python 3.11+ interpreter "
        "(it exited 0 and printed 'hello from a script')\n" + NOT_A_PYTHON_HINT))


def _old_python() -> Path | None:
    candidates = [shutil.which(f"python3.{minor}") for minor in (8, 9)]
    candidates += [str(p) for p in sorted(Path.home().glob(".pyenv/versions/3.[89].*/bin/python3"))]
    for candidate in filter(None, candidates):
        if subprocess.run([candidate, "-c", "pass"], capture_output=True, check=False).returncode == 0:
            return Path(candidate)
    return None


OLD_PYTHON = _old_python()


@pytest.mark.skipif(OLD_PYTHON is None, reason="no Python 3.8 or 3.9 on this machine")
def test_python_too_old_for_the_verifier_is_bad_input(lock: Path) -> None:
    # The bundle's own guard answers before any 3.11 syntax is reached.
    assert verify_cli(lock, OLD_PYTHON or Path()) == (2, "", (
        f"error: --python {OLD_PYTHON}: the envbuild verifier needs Python 3.11 or newer\n"))


def _note_checking(python: Path) -> str:
    return (f"note: checking {python} (the virtual environment `envbuild sync` makes); "
            "--python names another")


def test_without_python_the_venv_sync_makes_is_checked(tmp_path: Path, golden_venv: Path,
                                                       wheels: Path) -> None:
    """`.venv` beside the manifest, where `envbuild sync` puts it, not envbuild's own
    interpreter (whose distributions are envbuild's, locked by no project)."""
    locked = write_lock(tmp_path / "envbuild.lock", target("cpu", BASE))
    python = copy_venv(golden_venv.parent.parent, tmp_path / ".venv")
    args = ["verify", "-f", str(tmp_path / "envbuild.toml"), "--lock", str(locked)]
    result = run_cli(args)
    assert (result.code, result.out, result.err) == (0, "", f"{_note_checking(python)}\n{OK}")
    pip_install(python, wheels, ["alpha==1.1"])  # it is that venv that is checked
    result = run_cli(args)
    assert (result.code, result.err.splitlines()) == (1, [
        _note_checking(python), "note: target cpu is a CPU target: hardware not checked",
        "target cpu: 1 mismatch", "  version: alpha: locked at 1.0, installed 1.1"])


def test_without_python_or_venv_a_failure_hints_at_sync(tmp_path: Path) -> None:
    locked = write_lock(tmp_path / "envbuild.lock", target("cpu", BASE))
    result = run_cli(["verify", "-f", str(tmp_path / "envbuild.toml"), "--lock", str(locked)])
    lines = result.err.splitlines()
    assert result.code == 1
    assert "note: checking" not in result.err
    assert any(line.startswith("  unlocked: ") for line in lines)  # envbuild's own click, ...
    assert lines[-1] == (
        f"hint: no --python was given and there is no {tmp_path / '.venv'} beside the "
        f"manifest, so envbuild's own interpreter ({sys.executable}) was checked; make the "
        "project's environment with `envbuild sync`, or name it with --python "
        f"{tmp_path / '.venv' / 'bin' / 'python'}")


def test_a_failure_in_a_named_python_has_no_hint(lock: Path, venv: Path, wheels: Path) -> None:
    pip_install(venv, wheels, ["extra-tool"])
    code, _, err = verify_cli(lock, venv)
    assert code == 1
    assert err.splitlines()[-1] == (
        "  unlocked: extra-tool: 0.1 is installed but not locked (allow it with --allow extra-tool)")
