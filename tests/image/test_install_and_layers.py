"""RECORD checked in the install pass, and the layer packer (tar, block-parallel gzip)."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import random
import subprocess
import tarfile
import threading
import zipfile
import zlib
from pathlib import Path

import pytest

from envbuild.errors import CheckFailed
from envbuild.image import layers
from envbuild.image.install import InstallLayout, WheelRefused, install_wheels, site_layout
from envbuild.image.layers import write_tar_gz
from tests.support.wheelfactory import DistSpec, build_wheel, raw_member

LAYOUT = InstallLayout(interpreter="/usr/local/bin/python3.11")
SCRIPT = "evil-1.0.data/scripts/evil-tool"


def _wheel(folder: Path, changes: dict[str, bytes]) -> Path:
    """The `evil` wheel (a package, a `#!python` script, a __pycache__ member) with some
    members' bytes replaced after RECORD was written."""
    spec = DistSpec(name="evil", version="1.0", files={
        "evil/__init__.py": "VALUE = 1\n", "evil/__pycache__/x.cpython-311.pyc": b"\0" * 16,
        SCRIPT: "#!python\nprint('tool')\n"})
    path = build_wheel(spec, folder)
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    members.update(changes)
    with zipfile.ZipFile(path, "w") as zf:
        for name, content in members.items():
            zf.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), content)
    return path


def test_a_good_wheel_installs_with_its_script_rewritten(tmp_path: Path) -> None:
    root = tmp_path / "root"
    install_wheels(root, [("evil", _wheel(tmp_path, {}))], LAYOUT)
    assert (root / "usr/local/bin/evil-tool").read_bytes() == \
        b"#!/usr/local/bin/python3.11\nprint('tool')\n"
    assert (root / "usr/local/lib/python3.11/site-packages/evil/__init__.py").exists()
    assert not list(root.rglob("__pycache__"))


@pytest.mark.parametrize(("member", "data"), [
    ("evil/__init__.py", b"VALUE = 2\n"),  # written whole: installer's own hash is compared
    (SCRIPT, b"#!python\nprint('other')\n"),  # shebang rewritten: read again to check
    ("evil/__pycache__/x.cpython-311.pyc", b"\1" * 16),  # left out, but still checked
])
def test_a_member_failing_its_record_is_named(tmp_path: Path, member: str, data: bytes) -> None:
    with pytest.raises(WheelRefused) as caught:
        install_wheels(tmp_path / "root", [("evil", _wheel(tmp_path, {member: data}))], LAYOUT)
    assert caught.value.message == (
        "evil: evil-1.0-py3-none-any.whl fails its RECORD:\n"
        f"In evil-1.0-py3-none-any.whl, hash / size of {member} didn't match RECORD")


def test_every_failing_member_is_named_sorted(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path, {"evil/__init__.py": b"x", SCRIPT: b"#!python\n"})
    with pytest.raises(WheelRefused) as caught:
        install_wheels(tmp_path / "root", [("evil", wheel)], LAYOUT)
    assert caught.value.message.splitlines()[1:] == [
        f"In evil-1.0-py3-none-any.whl, hash / size of {SCRIPT} didn't match RECORD",
        "In evil-1.0-py3-none-any.whl, hash / size of evil/__init__.py didn't match RECORD"]


def test_a_member_missing_from_record_is_refused_before_anything_is_written(
        tmp_path: Path) -> None:
    root = tmp_path / "root"
    with pytest.raises(WheelRefused) as caught:
        install_wheels(root, [("evil", _wheel(tmp_path, {"evil/extra.py": b""}))], LAYOUT)
    assert "evil/extra.py is not mentioned in RECORD" in caught.value.message
    assert not root.exists()


def _tree(root: Path) -> None:
    (root / "pkg/sub").mkdir(parents=True)
    (root / "pkg/big.bin").write_bytes(os.urandom(1 << 20) * 3 + b"tail")  # several chunks
    (root / "pkg/sub/run").write_text("#!/bin/sh\n")
    (root / "pkg/sub/run").chmod(0o755)
    (root / ("pkg/" + "long-" * 30 + "é.py")).write_text("x = 1\n")
    (root / "pkg/link").symlink_to("big.bin")


def _plain_tar(root: Path) -> bytes:
    """The layer's tar as one thread writes it, without compression."""
    out = io.BytesIO()
    with tarfile.TarFile(fileobj=out, mode="w", format=tarfile.PAX_FORMAT,
                         encoding="utf-8") as tar:
        for name, path in layers._entries(root):
            layers._add(tar, name, path, 0)
    return out.getvalue()


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("extra", [0, 1, layers.GZIP_BLOCK - 1024])
def test_one_worker_and_many_give_the_same_layer_bytes(tmp_path: Path, extra: int) -> None:
    _tree(tmp_path / "root")  # several blocks; `extra` moves where the last one ends
    (tmp_path / "root/pkg/pad.bin").write_bytes(b"p" * extra)
    one = write_tar_gz(tmp_path / "root", tmp_path / "one.tgz", epoch=0, workers=1)
    many = write_tar_gz(tmp_path / "root", tmp_path / "many.tgz", epoch=0, workers=5)
    assert one == many
    blob = (tmp_path / "many.tgz").read_bytes()
    assert blob == (tmp_path / "one.tgz").read_bytes()
    tar = _plain_tar(tmp_path / "root")
    assert len(tar) > 3 * layers.GZIP_BLOCK
    # A standard gzip reader gets the tar back; diff_id, digest and size are of those bytes.
    assert gzip.decompress(blob) == tar
    assert many == (_sha(tar), _sha(blob), len(blob))
    assert blob[:10] == b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x04\xff"  # mtime 0, no name


def test_an_empty_tree_packs_to_a_valid_gzip(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    diff_id, _, _ = write_tar_gz(tmp_path / "root", tmp_path / "out.tgz", epoch=0, workers=3)
    assert gzip.decompress((tmp_path / "out.tgz").read_bytes()) == _plain_tar(tmp_path / "root")
    assert diff_id == _sha(_plain_tar(tmp_path / "root"))


def test_compressing_in_blocks_costs_little_over_one_stream(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "pkg").mkdir(parents=True)
    text = "".join(f"line {i}: {'abc' * (i % 17)}\n" for i in range(400_000)).encode()
    (root / "pkg/text.py").write_bytes(text)  # compressible, spans several blocks
    _, _, size = write_tar_gz(root, tmp_path / "out.tgz", epoch=0)
    one_stream = len(gzip.compress(_plain_tar(root), compresslevel=layers.GZIP_LEVEL))
    assert size < one_stream * 1.02


def test_an_entry_that_cannot_be_packed_stops_every_stage(tmp_path: Path) -> None:
    _tree(tmp_path / "root")
    os.mkfifo(tmp_path / "root/pkg/zz-fifo")
    before = threading.active_count()
    with pytest.raises(ValueError, match="pkg/zz-fifo: not a file, folder or link"):
        write_tar_gz(tmp_path / "root", tmp_path / "out.tgz", epoch=0)
    assert threading.active_count() == before


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_full_disk_while_writing_the_layer_is_raised(tmp_path: Path) -> None:
    _tree(tmp_path / "root")
    before = threading.active_count()
    with pytest.raises(OSError, match="No space left on device"):
        write_tar_gz(tmp_path / "root", Path("/dev/full"), epoch=0)
    assert threading.active_count() == before


@pytest.mark.parametrize(("spec", "why"), [
    (DistSpec(name="odd", version="1.0", files={"odd-1.0.data/bogus/x": "x\n"}),
     "is not contained in a valid .data subdirectory"),
    (DistSpec(name="odd", version="1.0", files={"odd/__init__.py": "def main(): pass\n"},
              console_scripts={"../../../../opt/evil": "odd:main"}),
     "outside of the target directory"),
])
def test_installers_own_refusals_are_check_failures_not_crashes(tmp_path: Path, spec: DistSpec,
                                                                why: str) -> None:
    with pytest.raises(WheelRefused) as caught:
        install_wheels(tmp_path / "root", [("odd", build_wheel(spec, tmp_path))], LAYOUT)
    assert caught.value.message.startswith("odd: odd-1.0-py3-none-any.whl would write outside its "
                                           "install scheme: ")
    assert why in caught.value.message


def test_the_site_directory_follows_the_interpreter() -> None:
    debian = site_layout("/usr/bin/python3.11", None)
    assert debian.site_packages == "/usr/local/lib/python3.11/dist-packages"
    assert debian.on_site_path
    python_org = site_layout("/usr/local/bin/python3.12", None)
    assert python_org.site_packages == "/usr/local/lib/python3.12/site-packages"
    assert python_org.on_site_path
    # Checked against what the base shows; unknown or elsewhere: site-packages + PYTHONPATH.
    known = ("/usr/local/lib/python3.11/dist-packages",)
    assert site_layout("/usr/bin/python3.11", known) == debian
    for unknown in (site_layout("/usr/bin/python3.11", ()),
                    site_layout("/usr/local/bin/python3.11", known),
                    site_layout("/opt/python/bin/python3.11", None)):
        assert unknown.site_packages == "/usr/local/lib/python3.11/site-packages"
        assert not unknown.on_site_path


def test_layers_cached_before_site_directories_are_not_reused() -> None:
    old = {"interpreter": "/usr/local/bin/python3.11", "prefix": "/usr/local",
           "schemes": InstallLayout(interpreter="/usr/local/bin/python3.11").schemes(),
           "installer": "envbuild", "bytecode": False}  # the document before "site"
    new = InstallLayout(interpreter="/usr/local/bin/python3.11").document()
    assert layers.layer_key("wheels", {"layout": new}, 0) \
        != layers.layer_key("wheels", {"layout": old}, 0)
    debian = site_layout("/usr/bin/python3.11", None).document()
    assert debian["schemes"]["purelib"] == "/usr/local/lib/python3.11/dist-packages"
    assert debian != InstallLayout(interpreter="/usr/bin/python3.11").document()


# --- Splicing: big deflated wheel members are copied into the layer, not compressed again


def _big(seed: int = 0) -> bytes:
    """About 2.5 MiB that deflate shrinks (text with some entropy), so a copied stream is
    told apart from one compressed here."""
    words = [hashlib.sha256(f"{seed}-{i}".encode()).hexdigest()[: 4 + i % 9] for i in range(4000)]
    return "\n".join(words[(i * 7919) % 4000] for i in range(320_000)).encode()


BIG = "bigpkg/weights.bin"
BIG_STAGED = "usr/local/lib/python3.11/site-packages/" + BIG


def _big_wheel(folder: Path, **files: bytes | str) -> Path:
    return build_wheel(DistSpec(name="bigpkg", version="1.0", files={
        "bigpkg/__init__.py": "X = 1\n", BIG: _big(), "bigpkg/small.txt": "small\n",
        **{k.replace("__", "/"): v for k, v in files.items()}}), folder)


def test_a_big_deflated_member_is_copied_into_the_layer_not_compressed_again(
        tmp_path: Path) -> None:
    wheel = _big_wheel(tmp_path)
    root = tmp_path / "root"
    splices = install_wheels(root, [("bigpkg", wheel)], LAYOUT)
    assert list(splices) == [BIG_STAGED]  # small members and RECORD are compressed here
    assert (root / BIG_STAGED).read_bytes() == _big()
    spliced = write_tar_gz(root, tmp_path / "s.tgz", epoch=0, workers=1, splices=splices)
    again = write_tar_gz(root, tmp_path / "s3.tgz", epoch=0, workers=3, splices=splices)
    plain = write_tar_gz(root, tmp_path / "p.tgz", epoch=0, workers=2)
    blob = (tmp_path / "s.tgz").read_bytes()
    assert again == spliced and (tmp_path / "s3.tgz").read_bytes() == blob
    # The same tar (diff_id) either way; the wheel's own deflate bytes sit in the blob.
    assert spliced[0] == plain[0] == _sha(_plain_tar(root))
    assert spliced[1] != plain[1]
    assert raw_member(wheel, BIG) in blob
    assert raw_member(wheel, BIG) not in (tmp_path / "p.tgz").read_bytes()
    # Every reader sees one tar: Python's gzip, and gzip(1) (as Go's reader, which engines
    # use, it reads every member of a multi-member file; the engine test pulls one).
    assert gzip.decompress(blob) == _plain_tar(root)
    unzipped = subprocess.run(["gzip", "-dc", str(tmp_path / "s.tgz")], capture_output=True,
                              check=True).stdout
    assert unzipped == _plain_tar(root)


def _relabelled(wheel: Path, out: Path, raw: bytes, data: bytes) -> Path:
    """A copy of `wheel` in `out` whose member BIG is the deflate stream `raw`, labelled
    with `data`'s CRC-32 and size (zipfile writes no such stream itself)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(wheel) as old, zipfile.ZipFile(buffer, "w") as new:
        for name in old.namelist():  # BIG stored as `raw`, relabelled below
            new.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)),
                         raw if name == BIG else old.read(name))
    patched = bytearray(buffer.getvalue())
    with zipfile.ZipFile(io.BytesIO(bytes(patched))) as zf:
        local = zf.getinfo(BIG).header_offset
    central = _central_entry(bytes(patched), BIG)
    crc, size = zlib.crc32(data).to_bytes(4, "little"), len(data).to_bytes(4, "little")
    for at, method, crc_at, size_at in ((local, 8, 14, 22), (central, 10, 16, 24)):
        patched[at + method:at + method + 2] = (8).to_bytes(2, "little")  # deflate
        patched[at + crc_at:at + crc_at + 4] = crc
        patched[at + size_at:at + size_at + 4] = size
    out.mkdir(exist_ok=True)
    (out / wheel.name).write_bytes(bytes(patched))
    return out / wheel.name


def _wheel_with(folder: Path, data: bytes) -> Path:
    """The bigpkg wheel with BIG = `data` (RECORD written for it)."""
    return build_wheel(DistSpec(name="bigpkg", version="1.0", files={
        "bigpkg/__init__.py": "X = 1\n", BIG: data}), folder)


def test_bytes_after_a_members_deflate_stream_install_but_are_not_copied(
        tmp_path: Path) -> None:
    # zipfile stops at the end of the deflate stream and ignores what follows; copying such
    # a member would put those bytes where gzip expects the trailer.
    wheel = _big_wheel(tmp_path)
    rebuilt = _relabelled(wheel, tmp_path / "out", raw_member(wheel, BIG) + b"JUNK", _big())
    with zipfile.ZipFile(rebuilt) as zf:
        assert zf.read(BIG) == _big()  # zipfile reads it, ignoring the junk
    root = tmp_path / "root"
    assert install_wheels(root, [("bigpkg", rebuilt)], LAYOUT) == {}
    assert (root / BIG_STAGED).read_bytes() == _big()


def test_a_stream_whose_last_output_comes_after_its_last_raw_byte_installs(
        tmp_path: Path) -> None:
    # zlib can take a stream's last raw byte while still holding decoded output (a long
    # match cut at a read's limit). installer reads 64 KiB at a time, so a file whose size
    # is such an `m` past a multiple of 64 KiB ends with a read that only drains zlib. The
    # tail is deflated on its own after a full flush, so its `m` holds inside the file too.
    rng = random.Random(1)
    for _ in range(1000):
        tail = (rng.randbytes(rng.randint(1, 3000)) + bytes([rng.randint(0, 255)])
                * rng.randint(1, 2000) + rng.randbytes(rng.randint(0, 3))
                + b"xyz" * rng.randint(0, 300))
        engine = zlib.compressobj(9, zlib.DEFLATED, -15)
        deflated = engine.compress(tail) + engine.flush()
        held = [m for m in range(1, 300) if _held_after_last_byte(deflated, len(tail) - m)]
        if held:
            break
    assert held, "no tail found that makes zlib hold output after its last raw byte"
    prefix = rng.randbytes(17 * 65536 + held[0] - len(tail))
    engine = zlib.compressobj(6, zlib.DEFLATED, -15)
    raw = (engine.compress(prefix) + engine.flush(zlib.Z_FULL_FLUSH) + engine.compress(tail)
           + engine.flush())
    data = prefix + tail
    wheel = _relabelled(_wheel_with(tmp_path, data), tmp_path / "out", raw, data)
    root = tmp_path / "root"
    assert list(install_wheels(root, [("bigpkg", wheel)], LAYOUT)) == [BIG_STAGED]
    assert (root / BIG_STAGED).read_bytes() == data


def _held_after_last_byte(deflated: bytes, limit: int) -> bool:
    engine = zlib.decompressobj(-15)
    engine.decompress(deflated, limit)
    return engine.unconsumed_tail == b"" and not engine.eof


def _central_entry(data: bytes, name: str) -> int:
    """The offset of `name`'s central directory header."""
    at = data.index(b"PK\x01\x02")
    while True:
        name_length = int.from_bytes(data[at + 28:at + 30], "little")
        if data[at + 46:at + 46 + name_length] == name.encode():
            return at
        at = data.index(b"PK\x01\x02", at + 4)


def test_a_big_member_whose_deflate_stream_is_damaged_is_refused(tmp_path: Path) -> None:
    wheel = _big_wheel(tmp_path)
    raw = raw_member(wheel, BIG)
    data = wheel.read_bytes()
    at = data.index(raw) + len(raw) // 2
    wheel.write_bytes(data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1:])
    with pytest.raises(WheelRefused) as caught:
        install_wheels(tmp_path / "root", [("bigpkg", wheel)], LAYOUT)
    assert caught.value.message.startswith("bigpkg: bigpkg-1.0-py3-none-any.whl ")
    assert BIG in caught.value.message


def test_a_wheel_holding_a_name_twice_is_refused(tmp_path: Path) -> None:
    wheel = _big_wheel(tmp_path)
    with zipfile.ZipFile(wheel, "a") as zf, pytest.warns(UserWarning, match="Duplicate"):
        zf.writestr("bigpkg/small.txt", "other\n")
    with pytest.raises(WheelRefused, match=r"holds bigpkg/small\.txt twice"):
        install_wheels(tmp_path / "root", [("bigpkg", wheel)], LAYOUT)


def test_a_folder_entry_twice_is_harmless(tmp_path: Path) -> None:
    wheel = _big_wheel(tmp_path)
    with zipfile.ZipFile(wheel, "a") as zf, pytest.warns(UserWarning, match="Duplicate"):
        zf.writestr("bigpkg/sub/", b"")
        zf.writestr("bigpkg/sub/", b"")
    install_wheels(tmp_path / "root", [("bigpkg", wheel)], LAYOUT)
    assert (tmp_path / "root" / BIG_STAGED).exists()


def test_data_and_script_members_are_never_copied(tmp_path: Path) -> None:
    wheel = _big_wheel(tmp_path, **{"bigpkg-1.0.data__data__share__big.bin": _big(1)})
    root = tmp_path / "root"
    assert list(install_wheels(root, [("bigpkg", wheel)], LAYOUT)) == [BIG_STAGED]
    assert (root / "usr/local/share/big.bin").read_bytes() == _big(1)


def test_a_wheel_changed_before_packing_fails_the_layer(tmp_path: Path) -> None:
    wheel = _big_wheel(tmp_path)
    root = tmp_path / "root"
    splices = install_wheels(root, [("bigpkg", wheel)], LAYOUT)
    data = bytearray(wheel.read_bytes())
    at = bytes(data).index(raw_member(wheel, BIG)) + 1000
    data[at] ^= 1
    wheel.write_bytes(bytes(data))  # same size, one raw byte of BIG's stream changed
    with pytest.raises(CheckFailed, match="changed while a member was copied"):
        write_tar_gz(root, tmp_path / "out.tgz", epoch=0, splices=splices)


def test_a_staged_file_changed_before_packing_fails_the_layer(tmp_path: Path) -> None:
    root = tmp_path / "root"
    splices = install_wheels(root, [("bigpkg", _big_wheel(tmp_path))], LAYOUT)
    data = bytearray((root / BIG_STAGED).read_bytes())
    data[100] ^= 1
    (root / BIG_STAGED).write_bytes(bytes(data))  # same size, other bytes
    with pytest.raises(CheckFailed, match=f"layer file {BIG_STAGED} is not what its wheel"):
        write_tar_gz(root, tmp_path / "out.tgz", epoch=0, splices=splices)
