"""The image record beside the lock (`<lock>.d/images.json`) and `--image` parsing."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest

from envbuild.cluster.images import (
    parse_image_option,
    read_record,
    record_path,
    unpacked_size,
    write_record,
)
from envbuild.errors import InputError

D = "sha256:" + "a" * 64


def test_record_round_trip_and_format(tmp_path: Path) -> None:
    lock = tmp_path / "envbuild.lock"
    path = write_record(lock, "h100", ref="registry.example.com/team/app", digest=D,
                        image_hash="sha256:" + "b" * 64, target_hash="sha256:" + "c" * 64)
    write_record(lock, "cpu", ref="registry.example.com/team/app", digest="sha256:" + "d" * 64,
                 image_hash="sha256:" + "e" * 64, target_hash="sha256:" + "f" * 64)
    assert path == record_path(lock) == tmp_path / "envbuild.lock.d" / "images.json"
    assert json.loads(path.read_text())["targets"]["h100"] == {
        "ref": "registry.example.com/team/app", "digest": D, "image_hash": "sha256:" + "b" * 64,
        "target_hash": "sha256:" + "c" * 64}
    image, built_from = read_record(lock)["h100"]
    assert image.pinned == f"registry.example.com/team/app@{D}"
    assert built_from == "sha256:" + "c" * 64 and sorted(read_record(lock)) == ["cpu", "h100"]


def test_a_bad_record_is_an_input_error(tmp_path: Path) -> None:
    lock = tmp_path / "envbuild.lock"
    record_path(lock).parent.mkdir()
    record_path(lock).write_text('{"schema": 1, "targets": {"h100": {"ref": "r", "digest": "x"}}}')
    with pytest.raises(InputError) as caught:
        read_record(lock)
    assert caught.value.message == f"{record_path(lock)}: targets.h100.digest: expected sha256:<64 hex>, got 'x'"


def test_unpacked_size_counts_every_member_of_each_layer(tmp_path: Path) -> None:
    text = tmp_path / "text.gz"  # compresses well
    text.write_bytes(gzip.compress(b"layer " * 100_000, mtime=0))
    noise = tmp_path / "noise.gz"  # does not compress: the blob is larger than its tar
    noise.write_bytes(gzip.compress(os.urandom(300_000), compresslevel=1, mtime=0))
    plain = tmp_path / "plain.tar"  # an uncompressed layer counts as it is
    plain.write_bytes(b"\0" * 10_240)
    # Two members, as envbuild writes layers: the last trailer names only the last one.
    members = tmp_path / "members.gz"
    members.write_bytes(gzip.compress(b"a" * 500_000, mtime=0) + gzip.compress(b"b" * 10, mtime=0))
    assert noise.stat().st_size > 300_000
    assert unpacked_size([(None, text), (None, noise), (None, plain), (None, members)]) == \
        600_000 + 300_000 + 10_240 + 500_010
    # A size the build knows (the layers it packed) is taken as it is.
    assert unpacked_size([(123_456, text), (None, plain)]) == 123_456 + 10_240


def test_the_unpacked_size_is_recorded_and_read_back(tmp_path: Path) -> None:
    lock = tmp_path / "envbuild.lock"
    write_record(lock, "h100", ref="registry.example.com/team/app", digest=D,
                 image_hash="sha256:" + "b" * 64, target_hash="sha256:" + "c" * 64,
                 unpacked_bytes=5_905_580_032)
    assert json.loads(record_path(lock).read_text())["targets"]["h100"]["unpacked_bytes"] == \
        5_905_580_032
    image, _ = read_record(lock)["h100"]
    assert image.unpacked_bytes == 5_905_580_032


def test_a_bad_unpacked_size_is_an_input_error(tmp_path: Path) -> None:
    lock = tmp_path / "envbuild.lock"
    write_record(lock, "h100", ref="registry.example.com/team/app", digest=D,
                 image_hash="sha256:" + "b" * 64, target_hash="sha256:" + "c" * 64)
    document = json.loads(record_path(lock).read_text())
    document["targets"]["h100"]["unpacked_bytes"] = "5 GB"
    record_path(lock).write_text(json.dumps(document))
    with pytest.raises(InputError) as caught:
        read_record(lock)
    assert caught.value.message == (f"{record_path(lock)}: targets.h100.unpacked_bytes: "
                                    "expected a byte count, got '5 GB'")


@pytest.mark.parametrize(("text", "target", "pinned"), [
    (f"registry.example.com/app@{D}", None, f"registry.example.com/app@{D}"),
    (f"registry.example.com:5000/team/app:v1@{D}", None, f"registry.example.com:5000/team/app@{D}"),
    (f"h100=localhost:5000/app@{D}", "h100", f"localhost:5000/app@{D}"),
])
def test_image_options(text: str, target: str | None, pinned: str) -> None:
    chosen, image = parse_image_option(text)
    assert (chosen, image.pinned) == (target, pinned)
