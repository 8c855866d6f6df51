"""A small, real, signed Debian archive for tests, served on 127.0.0.1.

The archive holds real `.deb` files built with `dpkg-deb --build`, `Packages` and
`Packages.xz` indexes per architecture, a `Release` listing their sizes and sha256, and an
`InRelease` clear-signed with a key the tests make (`gpg`, in a throw-away home). envbuild
verifies it with `gpgv` against the exported public keyring, exactly as it verifies
Debian's archive against `debian-archive-keyring`.

    key = ArchiveKey.generate(tmp_path / "key")          # once per session: see debian_key
    archive = build_archive(tmp_path / "www" / "debian", key, [
        DebSpec(name="hello", version="1.0-1", depends="libfoo (>= 2)",
                files={"usr/bin/hello": b"#!/bin/sh\\necho hi\\n"}),
        DebSpec(name="libfoo", version="2.1-1", architecture="all"),
    ])
    with ArchiveServer(tmp_path / "www") as server:
        url = server.url("debian")                       # http://127.0.0.1:PORT/debian
        ...                                              # [system] archive = url
    archive.deb("hello", "amd64")                        # Path of the built .deb

Failure modes for the lock's checks: `archive.tamper_packages(arch, old, new)` edits a
`Packages` index after `Release` listed it (`archive.resign()` then signs the edit);
`archive.unsign()` leaves `InRelease` without a
signature; `archive.break_signature()` edits signed text after signing; `archive.rebuild()`
rewrites indexes, `Release` and `InRelease` after `archive.specs` changed (a new version, a
removed package).
"""

from __future__ import annotations

import dataclasses
import hashlib
import lzma
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["ArchiveKey", "ArchiveServer", "DebSpec", "FixtureArchive", "build_archive", "build_deb"]

EPOCH = 1767225600  # 2026-01-01T00:00:00Z: every file the builder writes carries this time
RELEASE_DATE = "Thu, 01 Jan 2026 00:00:00 UTC"


@dataclass(frozen=True, kw_only=True, slots=True)
class DebSpec:
    """One binary package. Relation fields use Debian's syntax as `Packages` spells them
    ("libc6 (>= 2.36), python3 | python3-minimal"); empty fields are left out."""

    name: str
    version: str
    architecture: str = "amd64"  # a Debian architecture or "all"
    depends: str = ""
    pre_depends: str = ""
    provides: str = ""
    conflicts: str = ""
    breaks: str = ""
    essential: bool = False
    priority: str = "optional"
    section: str = "misc"
    multi_arch: str = ""
    source: str = ""  # the source package, for the pool folder; default: the name
    files: dict[str, bytes] = field(default_factory=dict)  # path inside the package -> bytes
    links: dict[str, str] = field(default_factory=dict)  # path inside the package -> link target
    scripts: dict[str, str] = field(default_factory=dict)  # "postinst" etc. -> script text
    description: str = "envbuild test package"

    def control(self) -> str:
        """The DEBIAN/control text (also the start of this package's `Packages` stanza)."""
        rows = [("Package", self.name), ("Version", self.version),
                ("Architecture", self.architecture), ("Maintainer", "envbuild tests <tests@invalid>"),
                ("Installed-Size", str(max(1, sum(len(b) for b in self.files.values()) // 1024))),
                ("Essential", "yes" if self.essential else ""), ("Multi-Arch", self.multi_arch),
                ("Pre-Depends", self.pre_depends), ("Depends", self.depends),
                ("Provides", self.provides), ("Conflicts", self.conflicts), ("Breaks", self.breaks),
                ("Section", self.section), ("Priority", self.priority),
                ("Source", self.source if self.source and self.source != self.name else ""),
                ("Description", self.description)]
        return "".join(f"{key}: {value}\n" for key, value in rows if value)

    def pool_path(self) -> str:
        """`pool/main/<prefix>/<source>/<name>_<version without epoch>_<arch>.deb`, as Debian lays it out."""
        source = self.source or self.name
        prefix = source[:4] if source.startswith("lib") and len(source) > 3 else source[:1]
        version = self.version.split(":", 1)[-1]
        return f"pool/main/{prefix}/{source}/{self.name}_{version}_{self.architecture}.deb"


def build_deb(spec: DebSpec, out: Path) -> Path:
    """Build `spec` with `dpkg-deb --build` into the file `out`; byte-identical every time."""
    with tempfile.TemporaryDirectory(prefix="eb-deb-") as scratch:
        root = Path(scratch) / "root"
        (root / "DEBIAN").mkdir(parents=True)
        (root / "DEBIAN" / "control").write_text(spec.control())
        for name, text in spec.scripts.items():
            script = root / "DEBIAN" / name
            script.write_text(text)
            script.chmod(0o755)
        for relpath, data in spec.files.items():
            target = root / relpath.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            target.chmod(0o755 if data.startswith(b"#!") else 0o644)
        for relpath, pointed in spec.links.items():
            link = root / relpath.lstrip("/")
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(pointed)
        for path in [root, *root.rglob("*")]:
            os.utime(path, (EPOCH, EPOCH), follow_symlinks=False)
        out.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "SOURCE_DATE_EPOCH": str(EPOCH)}
        subprocess.run(["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(root), str(out)],
                       check=True, capture_output=True, env=env, timeout=60)
    return out


class ArchiveKey:
    """An ed25519 signing key in a throw-away gpg home, and its public keyring for gpgv."""

    def __init__(self, home: Path, keyring: Path) -> None:
        self.home = home
        self.keyring = keyring  # binary public keyring: what `gpgv --keyring` reads

    @classmethod
    def generate(cls, folder: Path, *, uid: str = "envbuild test archive <archive@invalid>") -> ArchiveKey:
        folder.mkdir(parents=True, exist_ok=True)
        # gpg-agent's socket path must stay short: keep the home under /tmp, not under tmp_path.
        home = Path(tempfile.mkdtemp(prefix="eb-gpg-", dir="/tmp"))
        home.chmod(0o700)
        key = cls(home, folder / "archive-keyring.gpg")
        key._gpg("--passphrase", "", "--quick-generate-key", uid, "ed25519", "sign", "never")
        key.keyring.write_bytes(key._gpg("--export"))
        return key

    def sign(self, text: bytes) -> bytes:
        """A clear-signed copy of `text` (the form of an `InRelease` file)."""
        return self._gpg("--clearsign", "--digest-algo", "SHA256", stdin=text)

    def close(self) -> None:
        """Stop the gpg-agent this home started and remove the home."""
        subprocess.run(["gpgconf", "--homedir", str(self.home), "--kill", "all"],
                       capture_output=True, check=False, timeout=30)
        shutil.rmtree(self.home, ignore_errors=True)

    def _gpg(self, *args: str, stdin: bytes | None = None) -> bytes:
        run = subprocess.run(["gpg", "--homedir", str(self.home), "--batch", "--quiet",
                              "--pinentry-mode", "loopback", *args],
                             input=stdin, capture_output=True, check=False, timeout=60)
        if run.returncode != 0:
            raise RuntimeError(f"gpg {args[0]} failed: {run.stderr.decode(errors='replace')}")
        return run.stdout


@dataclass(kw_only=True)
class FixtureArchive:
    """A built archive: `root` holds `dists/` and `pool/`; `specs` what it was built from."""

    root: Path
    key: ArchiveKey
    specs: list[DebSpec]
    distribution: str = "bookworm"
    architectures: tuple[str, ...] = ("amd64", "arm64")

    @property
    def dist(self) -> Path:
        return self.root / "dists" / self.distribution

    def packages_index(self, arch: str) -> Path:
        return self.dist / "main" / f"binary-{arch}" / "Packages"

    def deb(self, name: str, arch: str) -> Path:
        """The built file of package `name` as the `arch` index lists it."""
        for spec in self.specs:
            if spec.name == name and spec.architecture in (arch, "all"):
                return self.root / spec.pool_path()
        raise KeyError(f"{name} for {arch}")

    def rebuild(self) -> None:
        """Build missing .debs, then write every index, `Release` and a signed `InRelease`."""
        for spec in self.specs:
            deb = self.root / spec.pool_path()
            if not deb.exists():
                build_deb(spec, deb)
        listed: list[tuple[str, bytes]] = []
        for arch in self.architectures:
            stanzas = [_stanza(spec, self.root) for spec in sorted(self.specs, key=_order)
                       if spec.architecture in (arch, "all")]
            text = "\n".join(stanzas).encode()
            relpath = f"main/binary-{arch}/Packages"
            xz = lzma.compress(text, preset=6)
            for suffix, data in (("", text), (".xz", xz)):
                target = self.dist / f"{relpath}{suffix}"
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
                listed.append((f"{relpath}{suffix}", data))
        self.write_release(listed)

    def write_release(self, listed: Sequence[tuple[str, bytes]]) -> None:
        lines = [f"Origin: envbuild-test\nLabel: envbuild-test\nSuite: {self.distribution}\n"
                 f"Codename: {self.distribution}\nDate: {RELEASE_DATE}\n"
                 f"Architectures: {' '.join(self.architectures)}\nComponents: main\n"
                 "Description: envbuild test archive\nSHA256:\n"]
        lines += [f" {hashlib.sha256(data).hexdigest()} {len(data):>8} {name}\n" for name, data in listed]
        release = "".join(lines).encode()
        (self.dist / "Release").write_bytes(release)
        (self.dist / "InRelease").write_bytes(self.key.sign(release))

    def tamper_packages(self, arch: str, old: str, new: str) -> None:
        """Replace `old` by `new` in the arch's `Packages` and `Packages.xz`, leaving `Release`
        (and its signature) as they were: the index no longer matches what was signed."""
        index = self.packages_index(arch)
        text = index.read_text()
        if old not in text:
            raise ValueError(f"{old!r} is not in {index}")
        data = text.replace(old, new).encode()
        index.write_bytes(data)
        index.with_name("Packages.xz").write_bytes(lzma.compress(data, preset=6))

    def resign(self) -> None:
        """Write `Release` and `InRelease` again over the index files as they are now (after
        `tamper_packages`): a hostile index the archive's key signed."""
        listed = [(str(path.relative_to(self.dist)), path.read_bytes())
                  for arch in self.architectures
                  for path in (self.packages_index(arch), self.packages_index(arch).with_name("Packages.xz"))]
        self.write_release(listed)

    def unsign(self) -> None:
        """`InRelease` becomes the bare `Release` text: no signature at all."""
        (self.dist / "InRelease").write_bytes((self.dist / "Release").read_bytes())

    def break_signature(self) -> None:
        """Edit the signed text after signing: a BAD signature."""
        inrelease = self.dist / "InRelease"
        inrelease.write_bytes(inrelease.read_bytes().replace(b"Label: envbuild-test", b"Label: envbuild-evil"))


def build_archive(root: Path, key: ArchiveKey, specs: Sequence[DebSpec], *,
                  distribution: str = "bookworm",
                  architectures: tuple[str, ...] = ("amd64", "arm64")) -> FixtureArchive:
    """Build a signed archive under `root` (`root/dists/<distribution>`, `root/pool`)."""
    archive = FixtureArchive(root=root, key=key, specs=list(specs), distribution=distribution,
                             architectures=architectures)
    archive.rebuild()
    return archive


def _order(spec: DebSpec) -> tuple[str, str, str]:
    return (spec.name, spec.version, spec.architecture)


def _stanza(spec: DebSpec, root: Path) -> str:
    data = (root / spec.pool_path()).read_bytes()
    return (spec.control() + f"Filename: {spec.pool_path()}\nSize: {len(data)}\n"
            f"MD5sum: {hashlib.md5(data).hexdigest()}\nSHA256: {hashlib.sha256(data).hexdigest()}\n")


class _Handler(SimpleHTTPRequestHandler):
    def __init__(self, *args: Any, log: list[str], **kwargs: Any) -> None:
        self._requests = log
        super().__init__(*args, **kwargs)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the test's log below says what was fetched; stderr stays quiet

    def send_response(self, code: int, message: str | None = None) -> None:
        self._requests.append(f"{self.command} {self.path} {code}")
        super().send_response(code, message)


class ArchiveServer:
    """Serves the folder `root` on 127.0.0.1 (a context manager); `requests` logs
    "GET /path status" for each request."""

    def __init__(self, root: Path) -> None:
        self.requests: list[str] = []
        handler = partial(_Handler, log=self.requests, directory=str(root))
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, prefix: str = "") -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/{prefix}".rstrip("/")

    def __enter__(self) -> ArchiveServer:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


def spec_with(spec: DebSpec, **changes: Any) -> DebSpec:
    """A copy of `spec` with `changes` (a new version, other relations)."""
    return dataclasses.replace(spec, **changes)


def iter_stanzas(text: str) -> Iterator[str]:
    """The paragraphs of a `Packages` text (for tests that look at what was indexed)."""
    yield from (block for block in text.split("\n\n") if block.strip())


def _key_fixture(tmp_path_factory: Any) -> Iterator[ArchiveKey]:
    import pytest

    missing = [tool for tool in ("gpg", "gpg-agent", "gpgv", "dpkg-deb") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (scripts/system-deps installs them)")
    key = ArchiveKey.generate(tmp_path_factory.mktemp("debian-key"))
    try:
        yield key
    finally:
        key.close()


try:
    import pytest

    debian_archive_key = pytest.fixture(scope="session")(_key_fixture)
    debian_archive_key.__doc__ = """One signing key per test session (import it into a conftest)."""
except ImportError:  # pragma: no cover - the module is test support; pytest is always there
    pass
