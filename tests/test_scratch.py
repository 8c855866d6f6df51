"""Scratch folders: gone when their block ends, at interpreter exit, and after a kill with
the next run; never while their owner runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from envbuild.scratch import in_use, owner, scratch_dir, scratch_file, sweep

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ENVBUILD_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def names(folder: Path) -> list[str]:
    return sorted(entry.name for entry in folder.iterdir())


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)


def test_folder_lives_under_the_cache_and_goes_with_its_block(cache: Path) -> None:
    with scratch_dir("lock") as folder, scratch_file("part") as file:
        (folder / "inside").write_text("x")
        assert folder.parent == cache / "tmp" and file.parent == cache / "tmp"
        assert folder.name.startswith(f"lock-{owner()}-")
        assert in_use(folder.name)
    assert names(cache / "tmp") == []


def test_left_open_at_exit_is_removed_by_atexit(cache: Path) -> None:
    done = run_python("import contextlib, sys\nfrom envbuild.scratch import scratch_dir\n"
                      "stack = contextlib.ExitStack()\n"
                      "print(stack.enter_context(scratch_dir('lock')), flush=True)\n"
                      "sys.exit(3)\n")
    assert done.returncode == 3, done.stderr
    assert not Path(done.stdout.strip()).exists()
    assert names(cache / "tmp") == []


def test_killed_owner_is_swept_by_the_next_scratch_folder(cache: Path) -> None:
    done = run_python("import os\nfrom envbuild.scratch import scratch_dir\n"
                      "with scratch_dir('lock') as path:\n"
                      "    print(path, flush=True)\n"
                      "    os.kill(os.getpid(), 9)\n")
    assert done.returncode == -9
    left = Path(done.stdout.strip())
    assert left.is_dir() and not in_use(left.name)
    with scratch_dir("image") as mine:
        assert names(cache / "tmp") == [mine.name]


def test_reused_pid_other_hosts_and_foreign_names(tmp_path: Path) -> None:
    host, pid, start = owner().split("-")
    reused = tmp_path / f"lock-{host}-{pid}-{int(start) + 1}-0123abcd"  # our pid, not us
    mine = tmp_path / f"lock-{host}-{pid}-{start}-0123abcd"
    elsewhere = tmp_path / f"lock-{'f' * 8 if host != 'f' * 8 else 'e' * 8}-1-1-0123abcd"
    foreign = tmp_path / "user-data-2024-01-05"
    for path in (reused, mine, elsewhere, foreign):
        path.mkdir()
    assert sweep(tmp_path) == [reused]
    assert names(tmp_path) == sorted(p.name for p in (mine, elsewhere, foreign))
