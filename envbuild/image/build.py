"""`envbuild image` as one core call: options in, a BuildResult out (or an error)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from envbuild.errors import InputError
from envbuild.image.builders import DEFAULT, get_builder
from envbuild.image.builders.interface import LARGE_WHEEL_BYTES, BuildRequest, BuildResult
from envbuild.image.settings import load_image_settings
from envbuild.image.store import Store


@dataclass(frozen=True, kw_only=True, slots=True)
class ImageOptions:
    manifest_path: Path
    lock_path: Path
    targets: tuple[str, ...]  # empty: every target
    output: str  # "oci:DIR"
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


def build_images(options: ImageOptions, progress: Callable[[str], None]) -> BuildResult:
    from envbuild.export import index_urls
    from envbuild.lockfile import load
    from envbuild.manifest import load_manifest

    manifest = load_manifest(options.manifest_path)
    settings = load_image_settings(options.manifest_path)
    lock = load(options.lock_path)
    unknown = sorted(set(options.targets) - set(lock.targets))
    if unknown:
        raise InputError(f"no target {', '.join(unknown)} in the lock",
                         hint=f"targets: {', '.join(lock.targets)}")
    names = tuple(sorted(set(options.targets) or set(lock.targets)))
    request = BuildRequest(
        lock=lock, targets=names, settings=settings, project_dir=manifest.folder,
        output=output_folder(options.output), urls=index_urls(manifest),
        offline=options.offline, store=Store(options.cache_dir), epoch=build_epoch(),
        progress=progress, large_wheel_bytes=options.large_wheel_bytes)
    return get_builder(options.builder).build(request)
