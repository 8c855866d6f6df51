"""Nothing left behind, nothing poisoned: a corrupt cached layer is rebuilt, and what a
killed run leaves (scratch folders, a half-written layout) goes with the next build."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from envbuild.scratch import scratch_dir
from tests.helpers import run_cli
from tests.image.project import Project

ROOT = Path(__file__).resolve().parents[2]


def build(project: Project, out: Path) -> tuple[str, str]:
    """(image digest of target cpu, standard error) of `envbuild image --output oci:OUT`."""
    result = run_cli(["image", "-f", str(project.manifest), "--output", f"oci:{out}", "--json"])
    assert result.code == 0, result.err
    return json.loads(result.out)["targets"]["cpu"]["digest"], result.err


def names(folder: Path) -> list[str]:
    return sorted(entry.name for entry in folder.iterdir())


def layer_blobs(cache: Path) -> list[Path]:
    """The cached blobs that layer records point at."""
    records = [json.loads(p.read_text()) for p in (cache / "layers").glob("*.json")]
    return sorted({cache / "blobs" / "sha256" / r["digest"].split(":")[1] for r in records})


def corrupt_in_place(blob: Path) -> None:
    """Flip bytes in the middle, same size, mtime put back: only ctime tells."""
    before = blob.stat()
    data = bytearray(blob.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 16] = bytes(b ^ 0xFF for b in data[middle : middle + 16])
    blob.write_bytes(bytes(data))
    os.utime(blob, ns=(before.st_atime_ns, before.st_mtime_ns))


def killed_run_leaves(root: Path, prefix: str, *, file: bool = False) -> Path:
    """Make a scratch entry in a real process and SIGKILL it inside the block."""
    kind = "scratch_file" if file else "scratch_dir"
    code = (f"import os, pathlib, sys\nfrom envbuild.scratch import {kind}\n"
            f"with {kind}({prefix!r}, root=pathlib.Path({str(root)!r})) as path:\n"
            "    print(path, flush=True)\n"
            "    if path.is_dir(): (path / 'half-written').write_bytes(b'x' * 1000)\n"
            "    os.kill(os.getpid(), 9)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)
    assert done.returncode == -9, done.stderr
    left = Path(done.stdout.strip())
    assert left.exists()
    return left


def test_corrupt_cached_layer_is_dropped_and_rebuilt(project: Project, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first, _ = build(project, tmp_path / "one")
    blobs = layer_blobs(cache)
    assert blobs
    corrupt_in_place(blobs[0])
    second, err = build(project, tmp_path / "two")
    assert second == first
    record = next(json.loads(p.read_text()) for p in (cache / "layers").glob("*.json")
                  if json.loads(p.read_text())["digest"].endswith(blobs[0].name))
    name_line = [line for line in err.splitlines() if line.startswith("warning: cached layer ")]
    assert name_line == [line for line in name_line
                         if line.endswith(f"({record['digest']}) does not match its digest; "
                                          "dropped, rebuilding it")]
    assert len(name_line) == 1
    assert (tmp_path / "two" / "blobs" / "sha256" / blobs[0].name).read_bytes() == \
        (tmp_path / "one" / "blobs" / "sha256" / blobs[0].name).read_bytes()
    third, err = build(project, tmp_path / "three")
    assert third == first and "warning" not in err


def test_truncated_cached_layer_is_dropped_and_rebuilt(project: Project, tmp_path: Path) -> None:
    first, _ = build(project, tmp_path / "one")
    blob = layer_blobs(tmp_path / "cache")[-1]
    blob.write_bytes(blob.read_bytes()[:-10])
    second, err = build(project, tmp_path / "two")
    assert second == first
    assert "does not match its digest; dropped, rebuilding it" in err


def test_next_build_removes_what_a_killed_layout_write_left(project: Project, tmp_path: Path) -> None:
    out = tmp_path / "site" / "image"
    out.parent.mkdir()
    staging = killed_run_leaves(out.parent, f".{out.name}.tmp")
    old = killed_run_leaves(out.parent, f".{out.name}.old")
    with scratch_dir(f".{out.name}.tmp", root=out.parent) as live:  # a build still going
        build(project, out)
        assert names(out.parent) == sorted([out.name, live.name])
    assert not staging.exists() and not old.exists()
    assert names(out.parent) == [out.name]


def test_next_build_removes_a_killed_builds_scratch_in_the_cache(project: Project, tmp_path: Path) -> None:
    tmp = tmp_path / "cache" / "tmp"
    stage = killed_run_leaves(tmp, "stage")
    part = killed_run_leaves(tmp, "part", file=True)
    build(project, tmp_path / "out")
    assert not stage.exists() and not part.exists()
    assert names(tmp) == []


def test_prune_keeps_the_scratch_of_a_live_run(project: Project, tmp_path: Path) -> None:
    tmp = tmp_path / "cache" / "tmp"
    dead = killed_run_leaves(tmp, "lock")
    with scratch_dir("lock", root=tmp) as live:
        (live / "resolver-output").write_text("in use")
        result = run_cli(["cache", "prune", "--all"])
        assert result.code == 0, result.err
        assert (live / "resolver-output").read_text() == "in use"
        assert not dead.exists()
