"""Listings on disk, shards and merge, through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from envbuild.data.listing import parse_listing
from envbuild.errors import InputError
from tests.data.helpers import make_tree
from tests.helpers import run_cli


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    files = {f"d{i % 3}/f{i:02d}.bin": bytes([i]) * i for i in range(23)}
    return make_tree(tmp_path / "ds", files)


@pytest.mark.parametrize("count", [1, 2, 3, 5, 8, 30])
def test_merged_shards_equal_single_machine_digest(tree: Path, tmp_path: Path, count: int) -> None:
    whole = run_cli(["data", "hash", str(tree)])
    assert whole.code == 0, whole.err
    listings = []
    for index in range(count):
        out = tmp_path / f"shard-{index}.listing"
        shard = run_cli(["data", "hash", str(tree), "--shard", f"{index}/{count}", "-o", str(out)])
        assert shard.code == 0, shard.err
        assert shard.out == ""
        listings.append(str(out))
    merged = run_cli(["data", "merge", *reversed(listings), "-o", str(tmp_path / "all.listing")])
    assert merged.code == 0, merged.err
    assert merged.out == whole.out
    assert parse_listing((tmp_path / "all.listing").read_bytes(), where="x").digest() + "\n" == (whole.out)


def test_shards_are_disjoint_and_balanced(tree: Path, tmp_path: Path) -> None:
    sizes = []
    seen: set[str] = set()
    for index in range(4):
        out = tmp_path / f"s{index}"
        run_cli(["data", "hash", str(tree), "--shard", f"{index}/4", "-o", str(out)])
        paths = {e.path for e in parse_listing(out.read_bytes(), where="x").entries}
        assert not paths & seen
        seen |= paths
        sizes.append(len(paths))
    assert len(seen) == 23 and max(sizes) - min(sizes) <= 1


def test_merge_refuses_missing_duplicate_and_foreign_shards(tree: Path, tmp_path: Path) -> None:
    for index in range(3):
        run_cli(["data", "hash", str(tree), "--shard", f"{index}/3", "-o", str(tmp_path / f"{index}")])
    missing = run_cli(["data", "merge", str(tmp_path / "0"), str(tmp_path / "2")])
    assert missing.code == 2
    assert "error: shards 1/3 are missing" in missing.err
    twice = run_cli(["data", "merge", str(tmp_path / "0"), str(tmp_path / "0")])
    assert f"{tmp_path}/0 and {tmp_path}/0 are both shard 0" in twice.err
    (tree / "d0" / "new").write_bytes(b"late")
    run_cli(["data", "hash", str(tree), "--shard", "1/3", "-o", str(tmp_path / "late")])
    foreign = run_cli(["data", "merge", str(tmp_path / "0"), str(tmp_path / "late"), str(tmp_path / "2")])
    assert foreign.code == 2
    assert "are shards of different runs" in foreign.err


def test_shard_option_errors(tree: Path) -> None:
    assert "--shard needs --listing FILE" in run_cli(["data", "hash", str(tree), "--shard", "0/2"]).err
    bad = run_cli(["data", "hash", str(tree), "--shard", "2/2", "-o", "x"])
    assert bad.code == 2
    assert "error: --shard '2/2' is not I/N with 0 <= I < N" in bad.err


def test_hand_edited_listing_is_refused(tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "l"
    run_cli(["data", "hash", str(tree), "--shard", "0/1", "-o", str(out)])
    merged = tmp_path / "m"
    run_cli(["data", "merge", str(out), "-o", str(merged)])
    lines = merged.read_text().splitlines()
    entry = json.loads(lines[1])
    entry["size"] += 1
    lines[1] = json.dumps(entry)
    merged.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match="do not match its recorded digest"):
        parse_listing(merged.read_bytes(), where=str(merged))


def test_not_a_listing(tmp_path: Path) -> None:
    (tmp_path / "junk").write_text("hello\n")
    result = run_cli(["data", "merge", str(tmp_path / "junk")])
    assert result.code == 2
    assert f"error: {tmp_path}/junk: not an envbuild dataset listing (envbuild-listing/1)" in result.err
