"""The one helper that turns lock, listing and manifest values into paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from envbuild.errors import InputError
from envbuild.image.store import Store
from envbuild.safepath import inside, relative


@pytest.mark.parametrize(("part", "problem"), [
    ("/etc/passwd", "contains a path separator"),
    ("..", "is not a file name"),
    (".", "is not a file name"),
    ("../x.whl", "contains a path separator"),
    ("a\\b.whl", "contains a path separator"),
    ("", "is empty"),
    ("x\0.whl", "contains a NUL character"),
    ("x\x1b[2J.whl", "contains control characters"),
    ("a" * 256, "is longer than 255 bytes"),
])
def test_a_part_that_could_leave_the_root_is_refused(tmp_path: Path, part: str, problem: str) -> None:
    with pytest.raises(InputError) as info:
        inside(tmp_path, "wheels", part, what="wheel file name")
    assert info.value.message.endswith(problem)
    assert info.value.message.startswith('wheel file name "')
    assert "\x1b" not in info.value.message and "\0" not in info.value.message


def test_a_symlink_on_disk_that_leads_outside_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    root.mkdir()
    (root / "wheels").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(InputError, match="resolves outside"):
        inside(root, "wheels", "x.whl", what="wheel file name")


def test_plain_names_join_under_the_root(tmp_path: Path) -> None:
    assert inside(tmp_path, "a", "b-1.0-py3-none-any.whl", what="f") == tmp_path / "a" / "b-1.0-py3-none-any.whl"
    assert relative(tmp_path, "x.lock.d/datasets/val.listing", what="listing") == \
        tmp_path / "x.lock.d" / "datasets" / "val.listing"
    with pytest.raises(InputError, match="is not a relative path"):
        relative(tmp_path, "/etc/passwd", what="listing")


def test_the_wheel_cache_never_names_a_path_outside_itself(tmp_path: Path) -> None:
    store = Store(tmp_path / "cache")
    digest = "sha256:" + "a" * 64
    assert store.wheel_path(digest, "alpha-1.0-py3-none-any.whl").parent.parent.parent.parent == store.root
    sentinel = tmp_path / "notes.txt"
    sentinel.write_text("keep")
    for name in (str(sentinel), f"../../../../{sentinel.name}"):
        with pytest.raises(InputError):
            store.wheel_path(digest, name)
    with pytest.raises(InputError, match="is not a sha256 digest"):
        store.wheel_path("sha256:" + "../" * 21 + "x", "alpha-1.0-py3-none-any.whl")
    assert sentinel.read_text() == "keep"
