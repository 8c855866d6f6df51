from __future__ import annotations

from collections.abc import Callable

import pytest

from envbuild.canonical import canonical_bytes, digest, is_hash
from envbuild.lockfile import (
    SCHEMA_VERSION,
    Artifact,
    Lock,
    LockedPackage,
    LockedTarget,
    LockFormatError,
    dump,
    loads,
)

H = "sha256:" + "ab" * 32


def sample_lock() -> Lock:
    filelock = LockedPackage(name="filelock", version="3.16.1", index="default", dependencies=(),
                             artifact=Artifact(kind="wheel", file="filelock-3.16.1-py3-none-any.whl",
                                               size=16163, hash=H))
    pkg = LockedPackage(name="torch", version="2.5.1+cu121", index="pytorch-cu121",
                        dependencies=("filelock",),
                        artifact=Artifact(kind="wheel", file="torch-2.5.1+cu121-cp311-cp311-linux_x86_64.whl",
                                          size=123, hash=H, hash_origin="computed"))
    target = LockedTarget(name="a10g", hash=H, input_hash=H, platform="linux/amd64", python="3.11",
                          glibc="2.28", cuda="12.1", gpus=("A10G",), driver_floor="530.30.02",
                          resolver="uv", requirements=("torch==2.5.1",),
                          hardware=({"row_id": "cuda:12.1", "driver_min": "530.30.02"},), packages=(filelock, pkg))
    return Lock(version=SCHEMA_VERSION, lock_hash=H, input_hash=H, name="demo", python="3.11",
                exclude_newer="2025-06-01T00:00:00Z",
                indexes={"default": {"exclude-newer-exempt": False},
                         "pytorch-cu121": {"exclude-newer-exempt": True}},
                targets={"a10g": target},
                datasets={"val": {"digest": "blake3:" + "00" * 32, "files": 3, "size": 10, "source": "data/val"}})


def test_round_trip_is_identity() -> None:
    lock = sample_lock()
    assert loads(dump(lock)) == lock
    assert dump(loads(dump(lock))) == dump(lock)


def test_dump_is_canonical_toml_with_one_table_per_package() -> None:
    text = dump(sample_lock())
    assert text.count("[[targets.a10g.packages]]") == 2
    assert 'file = "torch-2.5.1+cu121-cp311-cp311-linux_x86_64.whl"' in text
    assert "http" not in text


def test_newer_schema_is_refused_with_hint() -> None:
    text = dump(sample_lock()).replace(f"version = {SCHEMA_VERSION}", "version = 9", 1)
    with pytest.raises(LockFormatError) as info:
        loads(text)
    assert "newer than this envbuild reads" in info.value.message
    assert info.value.hint == "upgrade envbuild"


def test_bad_value_names_its_dotted_path() -> None:
    text = dump(sample_lock()).replace('hash-origin = "computed"', 'hash-origin = "guessed"')
    with pytest.raises(LockFormatError) as info:
        loads(text, source="x.lock")
    assert info.value.message == ('x.lock: unknown hash origin "guessed" in '
                                  "'targets.a10g.packages[1].artifact.hash-origin'")


def test_hash_format_is_checked() -> None:
    text = dump(sample_lock()).replace(H, "sha256:ABC", 1)
    with pytest.raises(LockFormatError, match="is not sha256:<64 lowercase hex>"):
        loads(text)


def test_canonical_bytes_ignore_key_order_and_reject_floats() -> None:
    assert canonical_bytes({"b": 1, "a": [1, "x"]}) == canonical_bytes({"a": [1, "x"], "b": 1})
    assert is_hash(digest({"a": 1}))
    with pytest.raises(TypeError):
        canonical_bytes({"a": 1.5})


def _with_base(base: str, base_digest: str) -> str:
    import dataclasses

    lock = sample_lock()
    target = dataclasses.replace(lock.targets["a10g"], base=base, base_digest=base_digest)
    return dump(dataclasses.replace(lock, targets={"a10g": target}))


def test_a_targets_base_pin_round_trips_in_its_table() -> None:
    text = _with_base("registry.example.com/base/python:3.11", H)
    assert 'base = "registry.example.com/base/python:3.11"\nbase-digest = "' + H + '"' in text
    assert "[image]" not in text
    assert loads(text).targets["a10g"].base_digest == H


@pytest.mark.parametrize(("edit", "message"), [
    (lambda t: t.replace('base = "oci:base"\n', ""),
     "x.lock: a base digest without its base in 'targets.a10g.base-digest'"),
    (lambda t: t.replace(f'base-digest = "{H}"\n', ""),
     "x.lock: missing value in 'targets.a10g.base-digest'"),
    (lambda t: t.replace(f'base-digest = "{H}"', 'base-digest = "blake3:' + "0" * 64 + '"'),
     f"x.lock: \"blake3:{'0' * 64}\" is not sha256:<64 lowercase hex> in 'targets.a10g.base-digest'"),
    (lambda t: t.replace('base = "oci:base"', 'base = "Python 3.11!"'),
     "x.lock: \"Python 3.11!\" is neither oci:DIR[:TAG], docker-archive:PATH nor a registry reference "
     "in 'targets.a10g.base'"),
    (lambda t: t.replace('base = "oci:base"', 'base = "oci:a\\u001b[2Jb"'),
     "x.lock: \"oci:a\\x1b[2Jb\" is neither oci:DIR[:TAG], docker-archive:PATH nor a registry reference "
     "in 'targets.a10g.base'"),
], ids=["digest-without-base", "base-without-digest", "not-sha256", "not-a-reference", "control-character"])
def test_a_bad_base_pin_names_its_key(edit: Callable[[str], str], message: str) -> None:
    text = edit(_with_base("oci:base", H))
    with pytest.raises(LockFormatError) as info:
        loads(text, source="x.lock")
    assert info.value.message == message
