"""A small project for image tests: wheels served by a real local index, and a lock of them."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from envbuild.canonical import digest
from envbuild.lockfile import Artifact, LockedPackage, LockedTarget, dump
from tests.support.indexserver import IndexServer
from tests.support.locks import make_lock
from tests.support.wheelfactory import DistSpec, build_wheel

X86 = "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64"
ARM = "cp311-cp311-manylinux_2_17_aarch64.manylinux2014_aarch64"

ALPHA = DistSpec(name="alpha", version="1.0", console_scripts={"alpha": "alpha:main"})
BETA = DistSpec(name="beta", version="1.0")
NVIDIA = DistSpec(name="nvidia-fake-runtime-cu12", version="12.4.127", module=False,
                  files={"nvidia/fake_runtime/lib/libfake.so.12": b"\x7fELF" + b"\0" * 4096},
                  tag="py3-none-manylinux2014_x86_64")


def native(tag: str, version: str = "2.0") -> DistSpec:
    """A package with a (fake) extension module, built per platform tag."""
    machine = "aarch64" if "aarch64" in tag else "x86_64"
    return DistSpec(name="fastmath", version=version, tag=tag,
                    files={"fastmath/__init__.py": f'MACHINE = "{machine}"\n',
                           f"fastmath/_core.cpython-311-{machine}-linux-gnu.so":
                               b"\x7fELF" + machine.encode() * 64})


CPU: dict[str, Any] = {"platform": "linux/amd64", "cuda": None,
       "packages": [ALPHA, BETA, native(X86)]}
ARM64: dict[str, Any] = {"platform": "linux/arm64", "cuda": None,
         "packages": [ALPHA, BETA, native(ARM)]}


@dataclass
class Project:
    folder: Path
    server: IndexServer
    wheel_dir: Path
    targets: dict[str, dict[str, Any]] = field(default_factory=dict)
    image: str = ""
    pin_bases: bool = True  # False: a lock that pins no base (as a stale one would)
    # Target name -> (base, digest) the lock records instead of what envbuild resolves.
    base_pins: dict[str, tuple[str | None, str | None]] | None = None

    @property
    def manifest(self) -> Path:
        return self.folder / "envbuild.toml"

    @property
    def lock(self) -> Path:
        return self.folder / "envbuild.lock"

    def write(self, *, tamper: str | None = None) -> None:
        """Write manifest and lock; `tamper` names a package whose locked hash is wrong."""
        lines = ['[project]', 'name = "imgtest"', 'python = "3.11"', "",
                 "[indexes.local]", f'url = "{self.server.simple_url("local")}"', ""]
        for name, spec in sorted(self.targets.items()):
            lines += [f"[targets.{name}]", f'platform = "{spec["platform"]}"']
            if spec.get("cuda"):
                lines += [f'cuda = "{spec["cuda"]}"', 'gpus = ["A10G"]']
            lines.append("")
        self.manifest.write_text("\n".join(lines) + self.image)
        pins = self._pins()
        targets = {}
        for name, spec in sorted(self.targets.items()):
            dists: Sequence[DistSpec] = spec["packages"]
            packages = tuple(sorted((self._locked(d, tamper) for d in dists),
                                    key=lambda p: p.name))
            targets[name] = LockedTarget(
                name=name, hash="", input_hash=digest(name), platform=str(spec["platform"]),
                python="3.11", glibc="2.28", cuda=spec.get("cuda"),
                gpus=("A10G",) if spec.get("cuda") else (), driver_floor=None, resolver="uv",
                requirements=(), hardware=(), packages=packages,
                base=pins.get(name, (None, None))[0], base_digest=pins.get(name, (None, None))[1])
        lock = make_lock(targets.values(), name="imgtest", python="3.11",
                         indexes={"local": {"exclude-newer-exempt": False}})
        self.lock.write_text(dump(lock))

    def _pins(self) -> dict[str, tuple[str | None, str | None]]:
        """Each target's base pin, resolved by envbuild's own lock code (as `envbuild lock`
        would record it); none for a manifest that does not load (a bad-input test)."""
        from envbuild.errors import EnvbuildError
        from envbuild.locking.core import base_pins
        from envbuild.manifest import load_manifest

        if self.base_pins is not None:
            return self.base_pins
        if not self.pin_bases or not self.image:
            return {}
        try:
            return base_pins(load_manifest(self.manifest), None, False, lambda _: None)
        except EnvbuildError:
            return {}

    def _locked(self, spec: DistSpec, tamper: str | None) -> LockedPackage:
        path = build_wheel(spec, self.wheel_dir)
        if spec.wheel_filename not in self.server.index("local").files:
            self.server.add_file("local", path)
        data = path.read_bytes()
        sha = hashlib.sha256(data + (b"x" if spec.project == tamper else b"")).hexdigest()
        return LockedPackage(name=spec.project, version=spec.normalized_version, index="local",
                             dependencies=(), artifact=Artifact(
                                 kind="wheel", file=spec.wheel_filename, size=len(data),
                                 hash=f"sha256:{sha}"))


def layout_files(folder: Path) -> Mapping[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}
