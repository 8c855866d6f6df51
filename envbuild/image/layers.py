"""Deterministic layer tarballs from a staging tree, and the cache of built layers.

A layer's bytes depend only on the files' paths, contents and executable bits: entries are
sorted (each directory once, before what it holds), every mtime is the build epoch,
uid/gid are 0 with no user or group names, modes are 0755 (directories and executables)
or 0644, and PAX records appear only where USTAR cannot hold a value (long or non-ASCII
names), never for times.

The blob is a gzip file of several members (RFC 1952 allows any number; gzip, Python, Go
and so Docker, containerd and the registries read them as one stream, as eStargz layers
rely on). Two kinds of member alternate:
- compressed here (mtime 0, no file name, a fixed level): a deflate stream cut every
  GZIP_BLOCK bytes of tar, as pigz does: each block is compressed on its own (primed with
  the previous block's last 32 KiB), so blocks are compressed on every core at once and the
  bytes are the same whatever the number of workers;
- spliced: a file of at least SPLICE_MIN bytes that a wheel stores deflated is not
  compressed again. Its member is the wheel's own deflate stream, copied byte for byte,
  between a gzip header and a trailer (CRC-32, size). The install pass inflated exactly
  those bytes to write the file and checked them against RECORD (`Splice`); packing checks
  the staged file against the same CRC-32 and size, and the copied bytes against the raw
  CRC-32 the install pass took (a wheel changed in between fails the layer). Those bytes
  are fixed by the wheel's locked sha256, so they are the same on every machine, and
  deflating them again (the slowest part of building a big layer) is skipped.
The diff_id (sha256 of the tar) is what reproducibility promises; the compressed digest
also depends on the zlib build (zlib-ng compresses differently), which is why built layers
are cached by their inputs and never recompressed.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tarfile
import time
import zlib
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from envbuild import __version__
from envbuild.canonical import digest
from envbuild.errors import CheckFailed
from envbuild.image.store import Store

LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
# Level 1: torch 2.13 cpu (699 MB unpacked) packs in 21 s to 212 MB; level 6 takes 71 s for
# 185 MB and level 9 146 s for 183 MB. Built once per wheel hash, so speed wins (README).
GZIP_LEVEL = 1
# Deflate restarts every GZIP_BLOCK bytes of tar (1 MiB: pigz's 128 KiB costs more flush
# markers and dictionary priming for no speed on few cores); part of every layer's key.
GZIP_BLOCK = 1 << 20
_WINDOW = 1 << 15  # deflate's window: the dictionary each block is primed with
# gzip header: magic, deflate, no flags, mtime 0, XFL 4 (fastest, as for level 1), OS unknown
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x04\xff"
# a spliced member's header: the same, with XFL 0 (the level that made it is the wheel's)
_SPLICE_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
# Files at least this big that a wheel stores deflated are spliced (module docstring): the
# bytes of the CUDA wheels are 98% in such files; below it, a member's 18 bytes of framing
# and its lost shared dictionary would cost more than compressing does. In every layer key.
SPLICE_MIN = 1 << 20
_CHUNK = 1 << 20


@dataclass(frozen=True, kw_only=True, slots=True)
class Splice:
    """A staged file whose bytes are the inflation of `length` bytes of raw deflate at
    `offset` in `source` (a wheel): its install inflated them, to their end and nothing
    after, into `size` bytes with this CRC-32, and checked them against RECORD. `raw_crc`
    is the CRC-32 of the raw bytes themselves, checked again as they are copied."""

    source: Path
    offset: int
    length: int
    size: int
    crc: int
    raw_crc: int


# staged files that may be spliced, by their name in the layer (posix, relative to its root)
Splices = dict[str, Splice]


@dataclass(frozen=True, kw_only=True, slots=True)
class Layer:
    digest: str  # of the compressed blob
    diff_id: str  # of the uncompressed tar
    size: int  # compressed bytes
    media_type: str = LAYER_MEDIA_TYPE
    name: str = ""  # what it holds, for reports
    reused: bool = False  # came from the cache (or the base) without being rebuilt
    # Bytes of the uncompressed tar when this build packed it (cluster sizes disks with it);
    # None for layers it did not pack (the base's): their gzip trailer is read instead.
    unpacked: int | None = None

    def document(self) -> dict[str, Any]:
        return {"digest": self.digest, "diff_id": self.diff_id, "size": self.size,
                "media_type": self.media_type, "name": self.name}


def layer_key(kind: str, inputs: Any, epoch: int) -> str:
    """Everything a layer's bytes depend on, hashed; equal keys give equal blobs."""
    return digest({"builder": f"envbuild-oci/{__version__}", "kind": kind, "inputs": inputs,
                   "epoch": epoch, "gzip": {"level": GZIP_LEVEL, "block": GZIP_BLOCK,
                                            "splice": SPLICE_MIN},
                   "tar": "pax-sorted-v1"})


@dataclass(kw_only=True, slots=True)
class PackTimes:
    """Where one layer's build went, in seconds, filled in as it is built (for progress)."""

    unpack: float = 0.0  # filling the staging tree (installing wheels)
    pack: float = 0.0  # tar + compress + write, wall clock (they overlap)
    gzip: float = 0.0  # deflate CPU seconds, summed over the workers
    workers: int = 0
    spliced: int = 0  # bytes of files whose wheel's deflate stream was copied (Splice)

    def render(self) -> str:
        copied = f", {self.spliced / 1e6:.0f} MB copied deflated" if self.spliced else ""
        return (f"unpack {self.unpack:.1f}s, pack {self.pack:.1f}s (gzip {self.gzip:.1f} "
                f"CPU-s over {self.workers} workers{copied})")


def compress_workers() -> int:
    """Deflate workers per layer: every core (a layer build may run beside another)."""
    return os.cpu_count() or 1


def _deflate(block: bytes, primer: bytes, last: bool) -> tuple[bytes, float]:
    """One block as raw deflate, ended on a byte boundary (sync flush) unless `last`; and
    the CPU seconds it took (wall time would count waiting for a core on a busy host)."""
    start = time.thread_time()
    # wbits -15: raw deflate (the gzip header and trailer are ours); the first block has no
    # dictionary to be primed with.
    engine = (zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, -15, zdict=primer) if primer
              else zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, -15))
    out = engine.compress(block) + engine.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH)
    return out, time.thread_time() - start


class _BlockGzip:
    """A write-only gzip stream: input is cut into GZIP_BLOCK blocks, deflated by `pool`
    (zlib releases the GIL), and written to `out` in order by the feeding thread. The cut
    points depend only on the bytes, so the output does not depend on the pool's size.
    `splice` ends the current member and copies a spliced one (module docstring)."""

    def __init__(self, out: _Hashing, pool: ThreadPoolExecutor, workers: int) -> None:
        self._out = out
        self._pool = pool
        self._pending: deque[Future[tuple[bytes, float]]] = deque()
        self._limit = 2 * workers + 1  # blocks in flight: bounds memory, keeps workers fed
        self._buffer = bytearray()
        self.busy = 0.0  # deflate CPU seconds, summed
        self.spliced = 0  # bytes of files spliced, not compressed
        self._begin()

    def _begin(self) -> None:
        self._primer = b""
        self._crc = 0
        self._size = 0
        self._out.write(_GZIP_HEADER)

    def write(self, data: bytes) -> int:
        self._buffer += data
        while len(self._buffer) > GZIP_BLOCK:
            block = bytes(self._buffer[:GZIP_BLOCK])
            del self._buffer[:GZIP_BLOCK]
            self._submit(block, last=False)
        return len(data)

    def _submit(self, block: bytes, *, last: bool) -> None:
        self._crc = zlib.crc32(block, self._crc)
        self._size += len(block)
        self._pending.append(self._pool.submit(_deflate, block, self._primer, last))
        self._primer = block[-_WINDOW:]
        while len(self._pending) > (0 if last else self._limit):
            data, seconds = self._pending.popleft().result()
            self.busy += seconds
            self._out.write(data)

    def close(self) -> None:
        """The last block (maybe empty) and the trailer: CRC-32 and size mod 2**32."""
        self._submit(bytes(self._buffer), last=True)
        self._buffer.clear()
        self._out.write(_trailer(self._crc, self._size))

    def splice(self, splice: Splice) -> None:
        """End this member, copy `splice`'s deflate stream as a member of its own, and begin
        the next member (for what follows in the tar)."""
        self.close()
        self._out.write(_SPLICE_HEADER)
        copied = 0
        with splice.source.open("rb") as source:
            source.seek(splice.offset)
            left = splice.length
            while left:
                chunk = source.read(min(_CHUNK, left))
                if not chunk:
                    break
                left -= len(chunk)
                copied = zlib.crc32(chunk, copied)
                self._out.write(chunk)
        if left or copied != splice.raw_crc:
            raise CheckFailed(f"{splice.source.name} changed while a member was copied into a "
                              "layer", hint="the wheel cache changed during the build; build "
                                            "again")
        self._out.write(_trailer(splice.crc, splice.size))
        self.spliced += splice.size
        self._begin()


def _trailer(crc: int, size: int) -> bytes:
    return crc.to_bytes(4, "little") + (size & 0xFFFFFFFF).to_bytes(4, "little")


class _TarSink:
    """Where tarfile writes: every byte is hashed for the diff_id and goes to `gz`, except
    the contents of a file `arm`ed for splicing, which are only checked (size, CRC-32)
    against the member `gz.splice` copied in their place."""

    def __init__(self, gz: _BlockGzip) -> None:
        self.sha = hashlib.sha256()
        self.size = 0
        self._gz = gz
        self._batch = bytearray()
        self._armed: Splice | None = None
        self._header_left = 0  # bytes of the armed file's tar header still to come
        self._content_left = 0  # bytes of a spliced file's contents still to come
        self._crc = 0
        self._name = ""

    def arm(self, name: str, splice: Splice, header: int) -> None:
        """The next `header` bytes are `name`'s tar header, then come its contents."""
        self._armed, self._header_left, self._name = splice, header, name

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        self.size += len(data)
        view = memoryview(data)
        while view:
            if self._content_left:
                part = view[:self._content_left]
                self._crc = zlib.crc32(part, self._crc)
                self._content_left -= len(part)
                view = view[len(part):]
                if not self._content_left:
                    self._check_spliced()
            elif self._armed is not None:
                part = view[:self._header_left]
                self._batch += part
                self._header_left -= len(part)
                view = view[len(part):]
                if not self._header_left:
                    self.flush()
                    self._gz.splice(self._armed)
                    self._content_left, self._crc = self._armed.size, 0
                    self._armed = self._armed if self._content_left else None
            else:
                self._batch += view
                view = view[len(view):]
                if len(self._batch) >= _CHUNK:
                    self.flush()
        return len(data)

    def _check_spliced(self) -> None:
        splice, self._armed = self._armed, None
        if splice is None or self._crc != splice.crc:
            raise CheckFailed(f"layer file {self._name} is not what its wheel's member "
                              "inflates to", hint="the staging folder changed during the "
                              "build; build again")

    def flush(self) -> None:
        if self._batch:
            self._gz.write(bytes(self._batch))
            self._batch.clear()

    def tell(self) -> int:
        return self.size


class _Hashing:
    """A write-only stream that hashes and counts what passes through it to `inner`."""

    def __init__(self, inner: IO[bytes] | Any) -> None:
        self.inner = inner
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        self.size += len(data)
        self.inner.write(data)
        return len(data)


def _entries(root: Path) -> list[tuple[str, Path]]:
    found: list[tuple[str, Path]] = []
    for folder, dirs, files in os.walk(root):
        base = Path(folder)
        for name in [*dirs, *files]:
            path = base / name
            found.append((path.relative_to(root).as_posix(), path))
    found.sort(key=lambda item: item[0].split("/"))
    return found


def write_tar_gz(root: Path, out: Path, *, epoch: int, rootfs: bool = False,
                 workers: int | None = None, times: PackTimes | None = None,
                 splices: Splices | None = None) -> tuple[str, str, int]:
    """Pack the tree `root` into `out`; return (diff_id, digest, compressed size)."""
    diff_id, blob_digest, size, _ = pack_tree(root, out, epoch=epoch, rootfs=rootfs,
                                              workers=workers, times=times, splices=splices)
    return diff_id, blob_digest, size


def pack_tree(root: Path, out: Path, *, epoch: int, rootfs: bool = False,
              workers: int | None = None, times: PackTimes | None = None,
              splices: Splices | None = None) -> tuple[str, str, int, int]:
    """Pack the tree `root` into `out`; return (diff_id, digest, compressed size, tar size).

    `rootfs` packs an operating system tree instead of installed wheels: modes (setuid,
    sticky, 0640 ...) and numeric owners are kept, device nodes, fifos and sockets are left
    out (an engine mounts its own /dev), hard links are stored as links. `workers`: deflate
    threads (default: compress_workers()); the bytes are the same for any number.
    `splices`: staged files whose wheel member is copied instead of compressed (a file
    whose size is not the splice's is compressed as any other).
    """
    start = time.perf_counter()
    workers = workers or compress_workers()
    with out.open("wb") as raw, ThreadPoolExecutor(workers, "layer-gzip") as pool:
        compressed = _Hashing(raw)
        gz = _BlockGzip(compressed, pool, workers)
        try:
            plain = _TarSink(gz)
            with tarfile.TarFile(fileobj=plain, mode="w",  # type: ignore[arg-type]
                                 format=tarfile.PAX_FORMAT, encoding="utf-8",
                                 copybufsize=_CHUNK) as tar:
                seen: dict[tuple[int, int], str] = {}
                for name, path in _entries(root):
                    if rootfs:
                        _add_rootfs(tar, name, path, epoch, seen)
                    else:
                        _add(tar, name, path, epoch, plain, (splices or {}).get(name))
            plain.flush()
            gz.close()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        raw.flush()
        os.fsync(raw.fileno())
    if times is not None:
        times.pack, times.gzip, times.workers = time.perf_counter() - start, gz.busy, workers
        times.spliced = gz.spliced
    return ("sha256:" + plain.sha.hexdigest(), "sha256:" + compressed.sha.hexdigest(),
            compressed.size, plain.size)


def _add(tar: tarfile.TarFile, name: str, path: Path, epoch: int,
         sink: _TarSink | None = None, splice: Splice | None = None) -> None:
    st = path.lstat()
    info = tarfile.TarInfo(name)
    info.mtime = epoch
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if stat.S_ISLNK(st.st_mode):
        info.type, info.mode, info.linkname = tarfile.SYMTYPE, 0o777, path.readlink().as_posix()
        tar.addfile(info)
    elif stat.S_ISDIR(st.st_mode):
        info.type, info.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(info)
    elif stat.S_ISREG(st.st_mode):
        info.mode = 0o755 if st.st_mode & 0o111 else 0o644
        info.size = st.st_size
        with path.open("rb") as handle:
            if sink is not None and splice is not None and splice.size == st.st_size > 0:
                sink.arm(name, splice, len(info.tobuf(tar.format, tar.encoding, tar.errors)))
            tar.addfile(info, handle)
    else:
        raise ValueError(f"{name}: not a file, folder or link")


def _add_rootfs(tar: tarfile.TarFile, name: str, path: Path, epoch: int,
                seen: dict[tuple[int, int], str]) -> None:
    st = path.lstat()
    info = tarfile.TarInfo(name)
    info.mtime = epoch
    info.uid, info.gid = st.st_uid, st.st_gid
    info.uname = info.gname = ""
    info.mode = stat.S_IMODE(st.st_mode)
    if stat.S_ISLNK(st.st_mode):
        info.type, info.linkname = tarfile.SYMTYPE, path.readlink().as_posix()
        tar.addfile(info)
    elif stat.S_ISDIR(st.st_mode):
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
    elif stat.S_ISREG(st.st_mode):
        first = seen.setdefault((st.st_dev, st.st_ino), name) if st.st_nlink > 1 else name
        if first != name:
            info.type, info.linkname = tarfile.LNKTYPE, first
            tar.addfile(info)
            return
        info.size = st.st_size
        with path.open("rb") as handle:
            tar.addfile(info, handle)


class LayerCache:
    """Built layers by input key: a hit reuses the compressed blob as it is.

    A blob is trusted only as its record last saw it: its size always, and, whenever its
    stat (inode, size, mtime, ctime) moved since the last check, its sha256 too. Any write
    to the blob moves ctime, so an edited or truncated blob is hashed, found wrong,
    dropped with a warning and rebuilt; an untouched one costs one stat per build.
    """

    _TOUCH_EVERY = 3600  # s: blobs are touched for `prune --older-than DAYS`, not more often

    def __init__(self, store: Store, warn: Callable[[str], None] | None = None) -> None:
        self.store = store
        self.warn = warn or (lambda _: None)

    def get(self, key: str, name: str) -> Layer | None:
        record = self.store.layer_record(key)
        try:
            data = json.loads(record.read_text())
            blob = self.store.blob_path(data["digest"])
            seen = blob.stat()
            sound = seen.st_size == data["size"] and (
                data.get("checked") == _stamp(seen) or _file_sha256(blob) == data["digest"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if not sound:
            self.warn(f"warning: cached layer {name} ({data['digest']}) does not match its "
                      "digest; dropped, rebuilding it")
            blob.unlink(missing_ok=True)
            record.unlink(missing_ok=True)
            return None
        if time.time() - seen.st_mtime > self._TOUCH_EVERY:
            self.store.touch(blob)
        stamp = _stamp(blob.stat())
        if data.get("checked") != stamp:
            self._record(key, {**data, "checked": stamp})
        else:
            self.store.touch(record)
        unpacked = data.get("unpacked")
        return Layer(digest=data["digest"], diff_id=data["diff_id"], size=data["size"],
                     name=name, reused=True,
                     unpacked=unpacked if type(unpacked) is int and unpacked >= 0 else None)

    def build(self, key: str, name: str, fill: Callable[[Path], Splices | None], *,
              epoch: int, times: PackTimes | None = None) -> Layer:
        """Stage with `fill(root)` (which may name files to splice), pack, and record the
        blob under `key`; `times`, when given, is filled in with where the time went."""
        with self.store.temp_dir() as staging, self.store.temp_file() as tmp:
            root = staging / "root"
            root.mkdir()
            start = time.perf_counter()
            splices = fill(root)
            if times is not None:
                times.unpack = time.perf_counter() - start
            diff_id, blob_digest, size, unpacked = pack_tree(root, tmp, epoch=epoch,
                                                             times=times, splices=splices)
            self.store.commit(tmp, self.store.blob_path(blob_digest))
        layer = Layer(digest=blob_digest, diff_id=diff_id, size=size, name=name,
                      unpacked=unpacked)
        stamp = _stamp(self.store.blob_path(blob_digest).stat())  # hashed as it was written
        self._record(key, {"digest": blob_digest, "diff_id": diff_id, "size": size,
                           "checked": stamp, "unpacked": unpacked})
        return layer

    def build_packed(self, key: str, name: str,
                     pack: Callable[[Path], tuple[str, str, int]]) -> Layer:
        """Record the blob `pack(tmp)` writes (returning diff_id, digest, size) under `key`:
        for layers not packed from a staging tree (the system layer, `image/system`)."""
        with self.store.temp_file() as tmp:
            diff_id, blob_digest, size = pack(tmp)
            self.store.commit(tmp, self.store.blob_path(blob_digest))
        stamp = _stamp(self.store.blob_path(blob_digest).stat())
        self._record(key, {"digest": blob_digest, "diff_id": diff_id, "size": size,
                           "checked": stamp})
        return Layer(digest=blob_digest, diff_id=diff_id, size=size, name=name)

    def _record(self, key: str, record: dict[str, Any]) -> None:
        with self.store.temp_file() as tmp_record:
            tmp_record.write_text(json.dumps(record, sort_keys=True))
            self.store.commit(tmp_record, self.store.layer_record(key))


def _stamp(st: os.stat_result) -> list[int]:
    return [st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def _file_sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            sha.update(chunk)
    return "sha256:" + sha.hexdigest()
