"""Datasets in the lock: digests enter the lock hash, never a target hash."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from tests.helpers import run_cli


def setup(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "a.txt").write_text("alpha\n")
    (data / "sub" / "b.bin").write_bytes(b"\0" * 100)
    manifest = tmp_path / "envbuild.toml"
    manifest.write_text('[project]\nname = "ds"\npython = "3.11"\n[dependencies]\npython = ["alpha"]\n'
                        '[targets.linux]\nplatform = "linux/amd64"\n'
                        '[datasets.val]\nsource = "data"\nmount = "/data/val"\n')
    return manifest


def lock_doc(tmp_path: Path) -> dict[str, object]:
    return tomllib.loads((tmp_path / "envbuild.lock").read_text())


def test_dataset_is_locked_and_a_data_change_moves_only_the_lock_hash(eb_env: dict[str, str],
                                                                     tmp_path: Path) -> None:
    manifest = setup(tmp_path)
    assert run_cli(["lock", "-f", str(manifest)]).code == 0
    first = lock_doc(tmp_path)
    val = first["datasets"]["val"]  # type: ignore[index]
    assert val["files"] == 2 and val["size"] == 106 and str(val["digest"]).startswith("blake3:")
    assert (tmp_path / "envbuild.lock.d" / "datasets" / "val.listing").is_file()

    again = run_cli(["lock", "-f", str(manifest)])
    assert again.code == 0 and "is up to date" in again.err

    (tmp_path / "data" / "a.txt").write_text("alphA\n")  # same size, new content
    # --check stays offline: it compares recorded inputs, not the data.
    assert run_cli(["lock", "--check", "-f", str(manifest)]).code == 0
    relocked = run_cli(["lock", "-f", str(manifest)])
    assert relocked.code == 0 and "wrote" in relocked.err
    second = lock_doc(tmp_path)
    assert second["datasets"]["val"]["digest"] != val["digest"]  # type: ignore[index]
    assert second["lock-hash"] != first["lock-hash"]
    assert second["targets"]["linux"]["hash"] == first["targets"]["linux"]["hash"]  # type: ignore[index]


def test_manifest_dataset_change_makes_the_lock_stale(eb_env: dict[str, str], tmp_path: Path) -> None:
    manifest = setup(tmp_path)
    assert run_cli(["lock", "-f", str(manifest)]).code == 0
    manifest.write_text(manifest.read_text().replace('mount = "/data/val"', 'mount = "/data/v2"'))
    check = run_cli(["lock", "--check", "--json", "-f", str(manifest)])
    assert check.code == 1
    assert json.loads(check.out)["reasons"] == ["dataset val: its manifest entry changed"]


def test_show_lists_datasets(eb_env: dict[str, str], tmp_path: Path) -> None:
    manifest = setup(tmp_path)
    assert run_cli(["lock", "-f", str(manifest)]).code == 0
    shown = json.loads(run_cli(["show", "--json", "-f", str(manifest)]).out)
    assert shown["datasets"]["val"]["files"] == 2
