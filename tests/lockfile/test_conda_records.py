"""Conda records in the lock: their TOML form round-trips, and every value is checked."""

from __future__ import annotations

import dataclasses

import pytest

from envbuild.lockfile import Lock, LockFormatError, dump, loads
from envbuild.lockfile.hashes import seal, seal_target
from envbuild.lockfile.model import CondaPackage
from tests.lockfile.test_codec import H, sample_lock

MD5 = "0123456789abcdef" * 2


def conda_lock() -> Lock:
    base = sample_lock()
    records = (
        CondaPackage(name="cuda-toolkit", version="12.4.1", build="0", subdir="linux-64", channel="forge",
                     file="cuda-toolkit-12.4.1-0.conda", size=1047, hash=H, md5=MD5,
                     dependencies=("__cuda >=12.4",)),
        CondaPackage(name="python", version="3.11.9", build="h1_0_cpython", subdir="linux-64", channel="forge",
                     file="python-3.11.9-h1_0_cpython.tar.bz2", size=30, hash=H, md5=MD5),
        CondaPackage(name="filelock", version="3.16.1", build="pyhd8ed1ab_0", subdir="noarch", channel="forge",
                     file="filelock-3.16.1-pyhd8ed1ab_0.conda", size=17, hash=H, md5=MD5,
                     dependencies=("python >=3.9",)),
    )
    target = base.targets["a10g"]
    # filelock now comes from conda: torch's edge to it stays, satisfied by the conda record.
    target = dataclasses.replace(target, packages=target.packages[1:], conda=records,
                                 conda_channels=("forge",), conda_requirements=("cuda-toolkit 12.4.*", "filelock"))
    return seal(dataclasses.replace(base, indexes={**base.indexes, "forge": {"exclude-newer-exempt": False,
                                                                             "kind": "conda"}},
                                    targets={"a10g": seal_target(target)}))


def test_conda_records_round_trip() -> None:
    lock = conda_lock()
    text = dump(lock)
    assert loads(text) == lock
    assert text.count("[[targets.a10g.conda]]") == 3
    assert 'conda-channels = ["forge"]' in text


def test_a_lock_without_conda_keeps_its_bytes() -> None:
    text = dump(sample_lock())
    assert "[[targets.a10g.conda]]" not in text and "conda-" not in text and 'kind = "conda"' not in text


BAD = {
    "file-with-a-folder": ('file = "cuda-toolkit-12.4.1-0.conda"', 'file = "../cuda-toolkit-12.4.1-0.conda"',
                           "'../cuda-toolkit-12.4.1-0.conda' is not one plain file name in "
                           "'targets.a10g.conda[0].file'"),
    "file-of-another-package": ('file = "cuda-toolkit-12.4.1-0.conda"', 'file = "nccl-12.4.1-0.conda"',
                                '"nccl-12.4.1-0.conda" is not cuda-toolkit-12.4.1-0.conda or .tar.bz2 in '
                                "'targets.a10g.conda[0].file'"),
    "md5-not-hex": (f'md5 = "{MD5}"', 'md5 = "not-an-md5"', "'not-an-md5' is not 32 lowercase hex in "
                                                            "'targets.a10g.conda[0].md5'"),
    "size-zero": ("size = 1047", "size = 0", "'0' is not a positive size in 'targets.a10g.conda[0].size'"),
    "subdir-unknown": ('subdir = "noarch"', 'subdir = "win-64"',
                       "'win-64' is not one of linux-64, linux-aarch64, osx-64, osx-arm64, noarch in "
                       "'targets.a10g.conda[2].subdir'"),
    "channel-undeclared": ('channel = "forge"', 'channel = "elsewhere"',
                           "\"elsewhere\" is not one of the target's conda-channels in "
                           "'targets.a10g.conda[0].channel'"),
    "channel-not-conda": ('conda-channels = ["forge"]', 'conda-channels = ["default"]',
                          '"default" is not a conda channel the lock declares (an [indexes] entry with '
                          "kind = \"conda\") in 'targets.a10g.conda-channels[0]'"),
    "index-kind-unknown": ('kind = "conda"', 'kind = "npm"', "unknown index kind \"npm\" in 'indexes.forge.kind'"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_conda_value_names_its_key(case: str) -> None:
    old, new, message = BAD[case]
    text = dump(conda_lock())
    assert old in text
    with pytest.raises(LockFormatError) as info:
        loads(text.replace(old, new, 1), source="x.lock")
    assert info.value.message == f"x.lock: {message}"


def test_a_pypi_edge_to_a_package_neither_side_locks_is_refused() -> None:
    text = dump(conda_lock()).replace('dependencies = ["python >=3.9"]', "dependencies = []")
    text = text.replace('name = "filelock"', 'name = "filelock2"').replace(
        'file = "filelock-3.16.1-pyhd8ed1ab_0.conda"', 'file = "filelock2-3.16.1-pyhd8ed1ab_0.conda"')
    with pytest.raises(LockFormatError) as info:
        loads(text, source="x.lock")
    assert info.value.message == ('x.lock: "filelock", a dependency of torch, is not locked in '
                                  "'targets.a10g.packages[0].dependencies'")
