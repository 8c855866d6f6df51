"""The image record beside the lock (`<lock>.d/images.json`) and `--image` parsing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from envbuild.cluster.images import parse_image_option, read_record, record_path, write_record
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


@pytest.mark.parametrize(("text", "target", "pinned"), [
    (f"registry.example.com/app@{D}", None, f"registry.example.com/app@{D}"),
    (f"registry.example.com:5000/team/app:v1@{D}", None, f"registry.example.com:5000/team/app@{D}"),
    (f"h100=localhost:5000/app@{D}", "h100", f"localhost:5000/app@{D}"),
])
def test_image_options(text: str, target: str | None, pinned: str) -> None:
    chosen, image = parse_image_option(text)
    assert (chosen, image.pinned) == (target, pinned)
