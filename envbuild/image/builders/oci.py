"""The native builder: wheels are unpacked into layers here, no daemon, no emulation."""

from __future__ import annotations

import os
import posixpath
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from envbuild.canonical import digest
from envbuild.errors import CheckFailed, InputError
from envbuild.image.base import BaseImage
from envbuild.image.builders.interface import Builder, BuildRequest, BuildResult, TargetImage
from envbuild.image.checks import check_glibc
from envbuild.image.conda import install as conda
from envbuild.image.config import (
    ConfigInputs,
    architecture,
    image_command,
    image_config,
    image_env,
    image_manifest,
    timestamp,
)
from envbuild.image.entrypoint import ImageCommand, check_command, ours, wheel_files
from envbuild.image.imagefiles import base_index
from envbuild.image.install import InstallLayout, install_wheels, site_layout
from envbuild.image.layers import Layer, LayerCache, PackTimes, layer_key
from envbuild.image.layout import ImageEntry, sha256, write_layout
from envbuild.image.payload import LOCK_PATH, payload_files, payload_inputs, write_payload
from envbuild.image.pin import open_base
from envbuild.image.plan import (
    PlannedLayer,
    ProjectFile,
    files_document,
    image_hash,
    plan_wheel_layers,
    project_files,
)
from envbuild.image.wheels import ensure_wheels
from envbuild.lockfile.model import LockedTarget

_WORKERS = min(8, os.cpu_count() or 1)
_PAYLOAD = "envbuild runtime and lock"
WHEEL_EPOCH = 0  # every file of a wheel layer has this mtime, whatever SOURCE_DATE_EPOCH says


@dataclass(frozen=True, kw_only=True, slots=True)
class _Prepared:
    target: LockedTarget
    platform: tuple[str, str]
    layout: InstallLayout
    base: BaseImage | None
    layers: tuple[PlannedLayer, ...]  # wheel layers, then the app layer (no packages)
    files: tuple[ProjectFile, ...]
    payload: dict[str, bytes]  # the lock and runtime files, by path in the image
    image_hash: str
    # The image command's check, when it needs wheels not yet in the cache (entrypoint.py).
    check_again: Callable[[], bool] | None = None


class NativeOciBuilder(Builder):
    name = "oci"

    def build(self, request: BuildRequest) -> BuildResult:
        with request.store.locked():
            prepared = [self._prepare(request, name) for name in request.targets]
            cache = LayerCache(request.store, warn=request.progress)
            built: dict[str, Layer] = {}
            todo: dict[str, tuple[_Prepared, PlannedLayer]] = {}
            for item in prepared:
                for planned in item.layers:
                    hit = cache.get(planned.key, planned.name)
                    if hit is not None:
                        built[planned.key] = hit
                    else:
                        todo.setdefault(planned.key, (item, planned))
            packages = {p.artifact.hash: p for _, pl in todo.values() for p in pl.packages}
            wheels = ensure_wheels(request.store, sorted(packages.values(),
                                          key=lambda p: (p.name, p.artifact.file)),
                                   urls=request.urls, offline=request.offline,
                                   progress=request.progress)
            conda_files = conda.ensure_layers(request, [i.target for i, pl in todo.values()
                                                        if pl.name == conda.LAYER_NAME])
            for item in prepared:
                if item.check_again is not None and not item.check_again():
                    request.progress(f"{item.target.name}: the image's command was not "
                                     "checked: a locked wheel is not in the cache")

            def one(job: tuple[_Prepared, PlannedLayer]) -> Layer:
                item, planned = job
                request.progress(f"{item.target.name}: building layer {planned.name}")
                times = PackTimes()
                layer = _build_layer(request, cache, item, planned, wheels, conda_files, times)
                request.progress(f"{item.target.name}: built layer {planned.name} "
                                 f"({layer.size} bytes): {times.render()}")
                return layer

            with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
                # Largest layers first (by the bytes of their wheels or conda packages):
                # the last layer to start bounds the build, so a big one must not start
                # late. Only the order of work changes; each layer's bytes do not.
                order = sorted(todo, key=lambda key: -_weight(*todo[key]))
                for key, layer in zip(order, pool.map(one, [todo[k] for k in order]), strict=True):
                    built[key] = layer
            images, results = [], {}
            for item in prepared:
                entry, result = self._image(request, item, built)
                images.append(entry)
                results[item.target.name] = result
            if request.output is not None:
                request.progress(f"writing {request.output}")
                write_layout(request.output, images)
        return BuildResult(output=request.output, targets=results)

    def planned_hash(self, request: BuildRequest, name: str) -> str:
        """The image hash `build` would give the target now: its base opened by the lock's
        digest (its facts come from the cache), copied files hashed; nothing is built."""
        target = request.lock.targets[name]
        _platform(target)
        return _plan(request, target, _pinned_base(request, target, planned=True)).image_hash

    def _prepare(self, request: BuildRequest, name: str) -> _Prepared:
        target = request.lock.targets[name]
        _platform(target)  # before the base: a platform no image is built for
        base = _pinned_base(request, target)
        if base is not None and base.glibc is not None:
            check_glibc(target, base.reference, base.glibc)
        elif base is not None:
            request.progress(f"base {base.reference}: no GNU C library version found; "
                             "manylinux floors not checked")
        plan = _plan(request, target, base)
        if not plan.layout.on_site_path:
            request.progress(f"{name}: {plan.layout.interpreter}'s site directories are not "
                             f"known; packages go to {plan.layout.site_packages}, named by "
                             "PYTHONPATH")
        if base is None:  # without a base the image has no OS to run a command in
            return plan
        return replace(plan, check_again=_check_command(request, target, base, plan.layout,
                                                        plan.payload, list(plan.files)))

    def _image(self, request: BuildRequest, item: _Prepared,
               built: dict[str, Layer]) -> tuple[ImageEntry, TargetImage]:
        ours = [built[p.key] for p in item.layers]
        layout, settings, target = item.layout, request.settings, item.target
        env = _our_env(layout, target, request, item.base.config if item.base else None)
        labels: tuple[tuple[str, str], ...] = (
                  ("org.envbuild.target", target.name),
                  ("org.envbuild.target-hash", target.hash),
                  ("org.envbuild.image-hash", item.image_hash),
                  ("org.envbuild.python", layout.interpreter),
                  ("org.opencontainers.image.created", timestamp(request.epoch)),
                  ("org.opencontainers.image.title", request.lock.name))
        if item.base is not None:
            labels += (("org.opencontainers.image.base.digest", item.base.manifest_digest),)
        config = image_config(ConfigInputs(
            platform=target.platform, epoch=request.epoch, env=tuple(env),
            workdir=settings.working_dir, entrypoint=settings.entrypoint, labels=labels,
            diff_ids=tuple(x.diff_id for x in ours),
            history=tuple(f"envbuild: {x.name}" for x in ours)),
            item.base.config if item.base else None)
        base_layers = list(item.base.layers) if item.base else []
        everything = [*base_layers, *ours]
        manifest = image_manifest(sha256(config), len(config),
                                  [(x.media_type, x.digest, x.size) for x in everything])
        blobs = [(x.digest, item.base.blob(x.digest)) for x in base_layers if item.base]
        blobs += [(x.digest, request.store.blob_path(x.digest)) for x in ours]
        entry = ImageEntry(ref_name=target.name, manifest=manifest, config=config,
                           blobs=tuple(blobs), platform=item.platform)
        size = len(manifest) + len(config) + sum(x.size for x in everything)
        return entry, TargetImage(name=target.name, digest=sha256(manifest), size=size,
                                  image_hash=item.image_hash, config_digest=sha256(config),
                                  layers=tuple(everything), platform=item.platform,
                                  entry=entry)


def _weight(item: _Prepared, planned: PlannedLayer) -> int:
    """About how much work a layer is: the compressed bytes it unpacks."""
    if planned.name == conda.LAYER_NAME:
        return sum(p.size for p in item.target.conda)
    return sum(p.artifact.size for p in planned.packages)


def _build_layer(request: BuildRequest, cache: LayerCache, item: _Prepared,
                 planned: PlannedLayer, wheels: dict[str, Path], conda_files: dict[str, Path],
                 times: PackTimes) -> Layer:
    if planned.packages:
        pairs = [(p.name, wheels[p.artifact.hash]) for p in planned.packages]
        return cache.build(planned.key, planned.name,
                           lambda root: install_wheels(root, pairs, item.layout),
                           epoch=WHEEL_EPOCH, times=times)
    if planned.name == conda.LAYER_NAME:
        return cache.build(planned.key, planned.name, lambda root: conda.install_conda(
            root, [(p, conda_files[p.hash]) for p in item.target.conda],
            python=item.target.python), epoch=WHEEL_EPOCH, times=times)
    if item.target.base == "system" and planned.name == "working directory":
        from envbuild.image.system.base import workdir_layer

        return workdir_layer(cache, planned.key, request.settings.working_dir, request.epoch)
    if planned.name == _PAYLOAD:
        return cache.build(planned.key, planned.name,
                           lambda root: write_payload(root, item.payload),
                           epoch=request.epoch, times=times)
    return cache.build(planned.key, planned.name,
                       lambda root: _copy_files(root, request, item.files),
                       epoch=request.epoch, times=times)


def _platform(target: LockedTarget) -> tuple[str, str]:
    try:
        return architecture(target.platform)
    except KeyError:
        raise InputError(f'target "{target.name}" is {target.platform}; images are built for '
                         "linux/amd64 and linux/arm64 targets only") from None


def _plan(request: BuildRequest, target: LockedTarget, base: BaseImage | None) -> _Prepared:
    """The target's layers and image hash: what `build` builds and `planned_hash` reports."""
    name = target.name
    platform = _platform(target)
    settings = request.settings
    interpreter = settings.python or (base.python if base else None)
    if interpreter is None and base is not None:
        raise InputError(f"base {base.reference}: no python3.N found in /usr/local/bin or "
                         "/usr/bin", hint='declare it: [image] python = "/path/python3.N"')
    interpreter = interpreter or f"/usr/local/bin/python{target.python}"
    layout = (None if settings.python else conda.conda_layout(target)) \
        or site_layout(interpreter, base.site_dirs if base is not None else None)
    if layout.python_version != target.python:
        raise InputError(f'target "{name}" is locked for Python {target.python} but the '
                         f"image's interpreter is {interpreter}",
                         hint="use a base with the locked Python, or lock for the base's")
    files = project_files(request.project_dir, settings.copy)
    # Wheel layers use a fixed epoch, not SOURCE_DATE_EPOCH: a torch layer must stay the
    # same blob across commits and projects; only the payload and app layers carry it.
    layers = [*filter(None, [conda.conda_layer(target, WHEEL_EPOCH)]),
              *plan_wheel_layers(target, layout, threshold=request.large_wheel_bytes,
                                 epoch=WHEEL_EPOCH)]
    payload = payload_files(request.lock, target)
    layers.append(PlannedLayer(name=_PAYLOAD, packages=(), key=layer_key(
        "payload", {"files": payload_inputs(payload)}, request.epoch)))
    if files:
        key = layer_key("app", {"workdir": settings.workdir,
                                "files": files_document(files)}, request.epoch)
        layers.append(PlannedLayer(name="project files", key=key, packages=()))
    if target.base == "system":  # runs as a non-root user: its working directory is its own
        from envbuild.image.system.base import WORKDIR_LAYER, workdir_key

        layers.append(PlannedLayer(name=WORKDIR_LAYER, packages=(),
                                   key=workdir_key(settings.working_dir, request.epoch)))
    return _Prepared(target=target, platform=platform, layout=layout, base=base,
                     layers=tuple(layers), files=tuple(files), payload=payload,
                     image_hash=image_hash(target, settings, _base_identity(target, base), files,
                                           epoch=request.epoch,
                                           payload=digest(payload_inputs(payload)),
                                           layer_keys=[layer.key for layer in layers]))


def _base_identity(target: LockedTarget, base: BaseImage | None) -> str | None:
    """The base in the image hash: its manifest digest; a system base's identity from the
    lock (system_identity), the same whether it is built or only planned."""
    if target.base == "system":
        from envbuild.image.system.base import system_identity

        return system_identity(target)
    return base.manifest_digest if base else None


def _our_env(layout: InstallLayout, target: LockedTarget, request: BuildRequest,
             base_config: dict[str, Any] | None) -> list[tuple[str, str]]:
    """The variables envbuild sets, over the base's, in order."""
    # Packages sit in a site directory of the interpreter (site.py adds it, after the
    # standard library, and runs its .pth files): no PYTHONPATH, unless that is unknown.
    env = [] if layout.on_site_path else [("PYTHONPATH", layout.site_packages)]
    env += conda.conda_env(target, base_config)
    env += [("ENVBUILD_TARGET", target.name), ("ENVBUILD_LOCK", LOCK_PATH),
            *request.settings.env]
    if target.cuda is not None:
        env += [("NVIDIA_VISIBLE_DEVICES", "all"),
                ("NVIDIA_DRIVER_CAPABILITIES", "compute,utility")]
    return env


def _check_command(request: BuildRequest, target: LockedTarget, base: BaseImage,
                   layout: InstallLayout, payload: dict[str, bytes],
                   files: list[ProjectFile]) -> Callable[[], bool] | None:
    """`docker run IMAGE` must find its program (and `-m` module) in the image (exit 2).

    Returns the check to run again once the wheels are fetched, when it needs them.
    """
    settings = request.settings
    index = base_index(base.manifest_digest, [base.blob(x.digest) for x in base.layers],
                       request.store)
    ours(index, payload=payload,
         copied=[(posixpath.join(settings.workdir, f.dest), f.executable) for f in files])
    command, source = image_command(settings.entrypoint, base.config)
    env = image_env(base.config, _our_env(layout, target, request, base.config))
    commands = [ImageCommand(target=target.name, command=command, source=source, env=env,
                             working_dir=settings.working_dir)]
    if request.run_command:  # jobs start it in the image, from the same folder
        commands.append(ImageCommand(target=target.name, command=request.run_command,
                                     source="run.command",
                                     env={**env, **dict(request.run_env)},
                                     working_dir=settings.working_dir))

    def check() -> bool:
        # Each is checked (and may refuse) even when an earlier one was not decided yet.
        decided = [check_command(image, index, lambda: conda.with_conda_files(wheel_files(
            request.store, target.packages, layout), request.store, target)) for image in commands]
        return all(decided)

    return None if check() else check


def _pinned_base(request: BuildRequest, target: LockedTarget, *,
                 planned: bool = False) -> BaseImage | None:
    """The base the lock pinned for the target, read by that digest; the manifest must still
    name the same base for it (else the lock is stale)."""
    wanted = request.bases.get(target.name)
    if wanted != target.base:
        raise CheckFailed(f'target "{target.name}": the lock pins base {target.base or "(none)"}, '
                          f"the manifest names {wanted or '(none)'}",
                          hint="run `envbuild lock`: it resolves the base and records its digest")
    if target.system and target.base != "system":
        # Unpacking .debs over a base that something else made would fight its own dpkg
        # database: the locked Debian packages go into an image only as its whole OS.
        raise InputError(f'target "{target.name}" locks {len(target.system)} Debian packages ([system]), '
                         f"which only base = \"system\" builds into an image; its base is "
                         f"{target.base or '(none)'}",
                         hint='set [image] base = "system" (or the target\'s own base), or drop [system]')
    if target.base == "system":  # built from the lock's Debian packages (issue 11)
        from envbuild.image.system.base import planned_system_base, system_base

        if planned:  # known from the lock alone: no .deb is needed to plan
            return planned_system_base(target)
        return system_base(target, store=request.store, archives=request.archives,
                           offline=request.offline, progress=request.progress)
    if target.base is None or target.base_digest is None:
        return None
    return open_base(target.base, target.base_digest, folder=request.project_dir,
                     platform=target.platform, store=request.store, offline=request.offline,
                     progress=request.progress)


def _copy_files(root: Path, request: BuildRequest, files: tuple[ProjectFile, ...]) -> None:
    workdir = root / request.settings.workdir.lstrip("/")
    workdir.mkdir(parents=True)
    for f in files:
        dest = workdir / f.dest
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f.source, dest)
        dest.chmod(0o755 if f.executable else 0o644)
