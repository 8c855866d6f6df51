"""The `nix` builder: Nix fetches and proves every locked wheel; the native layers follow.

Each target is exported as a Nix expression (`envbuild.nix.export`) and its `wheels`
attribute realised by `nix-build`: every wheel is a fixed-output derivation whose sha256 is
the lock's, so Nix refuses a file with other bytes (exit 1, naming the wheel). The store
paths then seed envbuild's wheel cache, and the native builder makes the image from them.

Why not nixpkgs' `dockerTools` (the export's `image` attribute): it needs nixpkgs, which
not every machine with Nix has, and its image would differ from the native one in every
byte. This way `--builder nix` gives the same image as `oci`: same layers, labels,
`/opt/envbuild` lock and verifier, `--json` document, and the same digest.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from envbuild.errors import ExternalError
from envbuild.image.builders.interface import Builder, BuildRequest, BuildResult
from envbuild.image.builders.oci import NativeOciBuilder
from envbuild.image.store import Store
from envbuild.image.wheels import cached_wheel, file_digest
from envbuild.indexclient import UrlMemo
from envbuild.lockfile.model import LockedPackage
from envbuild.nix.build import realise
from envbuild.nix.export import export_nix
from envbuild.nix.store import fixed_output_path
from envbuild.nix.syntax import store_name
from envbuild.safepath import check_component
from envbuild.scratch import scratch_dir


class NixBuilder(Builder):
    name = "nix"

    def build(self, request: BuildRequest) -> BuildResult:
        for name in request.targets:
            _fetch_with_nix(request, name)
        return NativeOciBuilder().build(request)

    def planned_hash(self, request: BuildRequest, name: str) -> str:
        """The native builder's: the image is the same."""
        return NativeOciBuilder().planned_hash(request, name)


def _fetch_with_nix(request: BuildRequest, name: str) -> None:
    """Realise the target's `wheels` with Nix and copy each into envbuild's wheel cache."""
    target = request.lock.targets[name]
    if request.offline:
        _from_the_store(request, name)
        return
    memo = UrlMemo(request.store.root / "urls.json")  # where image builds keep theirs
    with scratch_dir("nix", root=request.store.tmp) as folder:
        exported = export_nix(request.lock, target, request.urls, folder / "expression",
                              memo=memo)
        request.progress(f"{name}: nix-build wheels ({len(exported.wheels)} wheels)")
        outputs = realise(exported, "wheels")
    by_name = {Path(o).name.split("-", 1)[-1]: Path(o) for o in outputs}
    for package, wheel in zip(target.packages, exported.wheels, strict=True):
        path = by_name.get(wheel.drv_name)
        if path is None:
            raise ExternalError(f"{wheel.package}: nix-build gave no store path for "
                                f"{wheel.file}")
        _seed(request.store, package, path)


def _from_the_store(request: BuildRequest, name: str) -> None:
    """--offline: seed the cache with the wheels the Nix store holds already, found by the
    path a fixed-output file has (its name and sha256: no URL, no evaluation); the native
    builder then names, as --offline does, every wheel neither the store nor the cache has."""
    packages = request.lock.targets[name].packages
    found = 0
    for package in packages:
        artifact = package.artifact
        if artifact.kind != "wheel" or not artifact.hash.startswith("sha256:"):
            continue  # the native builder names it
        check_component(artifact.file, what="wheel file name")
        path = Path(fixed_output_path(store_name(artifact.file), artifact.hash[7:]))
        if path.is_file():
            _seed(request.store, package, path)
            found += 1
    request.progress(f"{name}: {found} of {len(packages)} wheels are in the Nix store "
                     "(--offline: nothing fetched)")


def _seed(store: Store, package: LockedPackage, path: Path) -> None:
    """Put Nix's copy of a wheel into the cache, unless a good copy is there already."""
    if cached_wheel(store, package) is not None:
        return
    artifact = package.artifact
    with store.temp_file() as tmp:
        shutil.copyfile(path, tmp)
        # Nix checked it; checked again because the cache trusts what it holds.
        if file_digest(tmp) != (artifact.hash, artifact.size):
            raise ExternalError(f"{package.name}: {path} is not the locked {artifact.file}",
                                hint="the Nix store was changed by hand; run nix-store --verify")
        store.commit(tmp, store.wheel_path(artifact.hash, artifact.file))
