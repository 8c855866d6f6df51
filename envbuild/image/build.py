"""`envbuild image` as one core call: options in, a BuildResult out (or an error)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from envbuild.errors import InputError
from envbuild.image.builders import DEFAULT, get_builder
from envbuild.image.builders.interface import LARGE_WHEEL_BYTES, BuildRequest, BuildResult
from envbuild.image.settings import load_image_settings, load_run_settings
from envbuild.image.store import Store

if TYPE_CHECKING:
    from envbuild.errors import EnvbuildError
    from envbuild.image.push import Pushed
    from envbuild.image.registry.interface import Reference
    from envbuild.lockfile.model import Lock
    from envbuild.manifest.model import Manifest


@dataclass(frozen=True, kw_only=True, slots=True)
class ImageOptions:
    manifest_path: Path
    lock_path: Path
    targets: tuple[str, ...]  # empty: every target
    output: str | None  # "oci:DIR"; None: no layout (only with push or load)
    push: str | None = None  # None: no push; "": to [image] repository; else a repository
    load: bool = False
    offline: bool = False
    cache_dir: Path | None = None
    builder: str = DEFAULT
    large_wheel_bytes: int = LARGE_WHEEL_BYTES


def build_epoch() -> int:
    """SOURCE_DATE_EPOCH when set (the reproducible-builds convention), else 0."""
    value = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not value:
        return 0
    if not value.isdigit():
        raise InputError(f'SOURCE_DATE_EPOCH="{value}" is not a whole number of seconds',
                         hint="set it to e.g. $(git log -1 --format=%ct), or unset it")
    return int(value)


def output_folder(output: str) -> Path:
    if not output.startswith("oci:") or output == "oci:":
        raise InputError(f'--output "{output}" is not supported', hint="write --output oci:DIR")
    return Path(output.removeprefix("oci:"))


@dataclass(frozen=True, kw_only=True, slots=True)
class ImageReport:
    build: BuildResult
    pushed: tuple[Pushed, ...]
    loaded: tuple[str, ...]  # engine tags

    def document(self) -> dict[str, Any]:
        document = self.build.document()
        if self.pushed:
            document["pushed"] = [p.document() for p in self.pushed]
        if self.loaded:
            document["loaded"] = list(self.loaded)
        return document


def image_command(options: ImageOptions, progress: Callable[[str], None]) -> ImageReport:
    """Build, then publish (`push`) and/or load; the core of `envbuild image`."""
    from envbuild.image.load import load_images
    from envbuild.image.push import repository_ref, tag_for
    from envbuild.image.settings import load_image_settings
    from envbuild.lockfile import load

    repository = None
    if options.push is not None:
        text = options.push or load_image_settings(options.manifest_path).repository
        if not text:
            raise InputError("--push needs a repository",
                             hint='set [image] repository = "host/team/app" or pass --push REF')
        repository = repository_ref(text)  # checked before anything is built
    result = build_images(options, progress)
    lock = load(options.lock_path)
    store = Store(options.cache_dir)
    pushed: list[Pushed] = []
    if repository is not None:
        pushed = publish(options, result, repository, progress)
    loaded: list[str] = []
    if options.load:
        name = str(repository) if repository else \
            load_image_settings(options.manifest_path).repository or f"envbuild/{lock.name}"
        loaded = load_images([(f"{name}:{tag_for(t.image_hash)}", t)
                              for _, t in sorted(result.targets.items())], store)
    return ImageReport(build=result, pushed=tuple(pushed), loaded=tuple(loaded))


def publish(options: ImageOptions, result: BuildResult, repository: Reference,
            progress: Callable[[str], None]) -> list[Pushed]:
    """Push what was built, attach its attestations (also to an image already there) and
    record each pushed digest beside the lock: what `--push` does after the build."""
    from envbuild.image.push import push_result
    from envbuild.lockfile import load
    from envbuild.supplychain.attest import attacher

    lock = load(options.lock_path)
    # A registry base on the same registry lends its layers by mount.
    base = next((t.base for _, t in sorted(lock.targets.items())
                 if t.base is not None and not t.base.startswith("oci:")), None)
    pushed = push_result(result, lock, repository, Store(options.cache_dir), progress, base=base,
                         attach=attacher(lock, options.manifest_path.parent, build_epoch()))
    _remember_pushed(options.lock_path, lock, result, pushed)
    return pushed


def _remember_pushed(lock_path: Path, lock: Lock, result: BuildResult, pushed: list[Pushed]) -> None:
    """Record each pushed target's digest beside the lock, where `envbuild cluster` reads it."""
    from envbuild.cluster.images import unpacked_size, write_record

    for push in pushed:
        repository = push.reference.rsplit(":", 1)[0] if ":" in push.reference.rsplit("/", 1)[-1] \
            else push.reference
        for name in push.targets:
            image = result.targets[name]
            blobs = dict(image.entry.blobs)  # every layer's bytes, base layers included
            write_record(lock_path, name, ref=repository, digest=push.digest,
                         image_hash=image.image_hash, target_hash=lock.targets[name].hash,
                         unpacked_bytes=unpacked_size((layer.unpacked, blobs[layer.digest])
                                                      for layer in image.layers),
                         epoch=build_epoch())  # what the build ran with: cluster recomputes with it


def build_images(options: ImageOptions, progress: Callable[[str], None]) -> BuildResult:
    request = _request(options.manifest_path, options.lock_path, options.targets,
                       output=output_folder(options.output) if options.output is not None
                       else None, offline=options.offline, store=Store(options.cache_dir),
                       epoch=build_epoch(), progress=progress,
                       large_wheel_bytes=options.large_wheel_bytes)
    return get_builder(options.builder).build(request)


def build_request(manifest_path: Path, lock_path: Path, target: str, *, offline: bool,
                  cache_dir: Path | None, progress: Callable[[str], None]) -> BuildRequest:
    """The request `envbuild image --target T` builds from (an export writes its context)."""
    return _request(manifest_path, lock_path, (target,), output=None, offline=offline,
                    store=Store(cache_dir), epoch=build_epoch(), progress=progress,
                    large_wheel_bytes=LARGE_WHEEL_BYTES)


def planned_image_hashes(manifest_path: Path, lock: Lock,
                         epochs: dict[str, int]) -> dict[str, str | EnvbuildError]:
    """Target -> the image hash `envbuild image` would give it now (built with that build
    epoch), or why it cannot be told offline from the cache (a base not in it, a manifest
    naming another base than the lock): cheap, the copied files are hashed, nothing built."""
    from envbuild.errors import EnvbuildError

    out: dict[str, str | EnvbuildError] = {}
    for name, epoch in sorted(epochs.items()):
        try:
            request = _request(manifest_path, lock, (name,), output=None, offline=True,
                               store=Store(), epoch=epoch, progress=lambda _: None,
                               large_wheel_bytes=LARGE_WHEEL_BYTES)
            out[name] = get_builder(DEFAULT).planned_hash(request, name)
        except EnvbuildError as error:
            out[name] = error
    return out


def _request(manifest_path: Path, lock: Lock | Path, targets: tuple[str, ...], *, output: Path | None,
             offline: bool, store: Store, epoch: int, progress: Callable[[str], None],
             large_wheel_bytes: int) -> BuildRequest:
    from envbuild.export import index_urls
    from envbuild.manifest import load_manifest

    manifest = load_manifest(manifest_path)
    settings = load_image_settings(manifest_path)
    run = load_run_settings(manifest_path)
    if isinstance(lock, Path):  # read after the manifest, whose errors come first
        from envbuild.lockfile import load

        lock = load(lock)
    unknown = sorted(set(targets) - set(lock.targets))
    if unknown:
        raise InputError(f"no target {', '.join(unknown)} in the lock",
                         hint=f"targets: {', '.join(lock.targets)}")
    names = tuple(sorted(set(targets) or set(lock.targets)))
    return BuildRequest(
        lock=lock, targets=names, settings=settings, project_dir=manifest.folder,
        output=output, urls=index_urls(manifest), offline=offline, store=store, epoch=epoch,
        progress=progress, large_wheel_bytes=large_wheel_bytes,
        # The lock pinned each target's base by digest: the build uses exactly that.
        bases={n: manifest.base_for(manifest.targets[n]) if n in manifest.targets else None
               for n in names},
        run_command=run.command if run is not None else (),
        run_env=run.env if run is not None else (),
        archives=_archives(manifest))


def _archives(manifest: Manifest) -> dict[str, str]:
    """The Debian archive the manifest's [system] names, by name -> URL (the lock names
    archives by name only); none without [system]."""
    if manifest.system is None:
        return {}
    from envbuild.system.archive import archive_of

    return {manifest.system.archive: archive_of(manifest.system).url}
