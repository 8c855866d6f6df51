"""`envbuild image rebuild-check REF`: rebuild a published image from the lock it carries.

The lock comes out of the image (/opt/envbuild/envbuild.lock, in the layer the config's
history names "envbuild runtime and lock") and is proved before anything is built; the
build epoch is the config's `created` time. What the lock does not hold, the `[image]`
settings and the copied files, comes from the project (`-f MANIFEST`), never from the
image itself: rebuilding the app layer from the image's own files would prove nothing.
The rebuild runs the native builder with the lock's base pin, wheels fetched by hash, and
its manifest digest is compared with the published one; on a mismatch every differing
layer (by position, named by what it holds) and config field is listed.
"""

from __future__ import annotations

import json
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from envbuild.errors import InputError
from envbuild.image.builders import DEFAULT, get_builder
from envbuild.image.builders.interface import BuildRequest
from envbuild.image.config import BUILDER_LABEL
from envbuild.image.payload import LOCK_PATH
from envbuild.image.registry.distribution import open_registry
from envbuild.image.registry.interface import INDEX_TYPES, Reference, Registry, parse_reference
from envbuild.image.store import Store
from envbuild.lockfile.model import Lock
from envbuild.lockfile.reader import load_carried
from envbuild.scrub import escape

_PAYLOAD_HISTORY = "envbuild: envbuild runtime and lock"
_LOCK_MEMBER = LOCK_PATH.lstrip("/")
_MAX_LOCK_BYTES = 16 << 20  # a one-target lock; anything larger is not one of ours


@dataclass(frozen=True, kw_only=True, slots=True)
class RebuildOptions:
    reference: str
    manifest_path: Path  # the project: its [image] settings and copied files
    output: Path | None = None  # where to write the rebuilt image as an OCI layout
    cache_dir: Path | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class LayerDifference:
    position: int
    name: str  # what the layer holds, from the rebuilt image (or the published history)
    published: str | None  # the blob digest; None: the image has no layer there
    rebuilt: str | None
    published_diff_id: str | None
    rebuilt_diff_id: str | None

    def document(self) -> dict[str, Any]:
        return {"position": self.position, "name": self.name, "published": self.published,
                "rebuilt": self.rebuilt, "published_diff_id": self.published_diff_id,
                "rebuilt_diff_id": self.rebuilt_diff_id}


@dataclass(frozen=True, kw_only=True, slots=True)
class RebuildCheck:
    reference: str  # repository@digest, as checked
    target: str
    epoch: int
    published: str  # manifest digest
    rebuilt: str
    layers: tuple[LayerDifference, ...]
    config_fields: tuple[str, ...]  # top-level config keys (or config.KEY) that differ

    @property
    def same(self) -> bool:
        return self.published == self.rebuilt

    def document(self) -> dict[str, Any]:
        return {"reference": self.reference, "target": self.target, "epoch": self.epoch,
                "published": self.published, "rebuilt": self.rebuilt, "same": self.same,
                "layers": [x.document() for x in self.layers],
                "config_fields": list(self.config_fields)}


@dataclass(frozen=True, kw_only=True, slots=True)
class _Published:
    ref: Reference  # with the manifest digest
    manifest: dict[str, Any]
    config: dict[str, Any]
    lock_text: str
    layer_names: tuple[str, ...]


def rebuild_check(options: RebuildOptions, progress: Callable[[str], None]) -> RebuildCheck:
    """Pull REF, prove the lock it carries, rebuild it and compare the digests."""
    from envbuild.export import index_urls
    from envbuild.image.settings import load_image_settings, load_run_settings
    from envbuild.manifest import load_manifest

    ref = parse_reference(options.reference)
    manifest = load_manifest(options.manifest_path)  # bad input before any network
    settings = load_image_settings(options.manifest_path)
    run = load_run_settings(options.manifest_path)
    published = _pull(ref, progress)
    lock = load_carried(published.lock_text, source=f"{published.ref}:{LOCK_PATH}")
    target = _one_target(lock, published)
    epoch = _epoch(published)
    progress(f"rebuilding {target} from the lock it carries (epoch {epoch})")
    request = BuildRequest(
        lock=lock, targets=(target,), settings=settings, project_dir=manifest.folder,
        output=options.output, urls=index_urls(manifest), offline=False,
        store=Store(options.cache_dir), epoch=epoch, progress=progress,
        # The base is the one the carried lock pins, whatever the manifest names now.
        bases={target: lock.targets[target].base},
        run_command=run.command if run is not None else (),
        run_env=run.env if run is not None else ())
    image = get_builder(DEFAULT).build(request).targets[target]
    rebuilt_config = json.loads(image.entry.config)
    return RebuildCheck(
        reference=str(published.ref), target=target, epoch=epoch,
        published=published.ref.digest or "", rebuilt=image.digest,
        layers=_layer_differences(published, [(x.digest, x.diff_id, x.name)
                                              for x in image.layers]),
        config_fields=_config_differences(published.config, rebuilt_config))


def _pull(ref: Reference, progress: Callable[[str], None]) -> _Published:
    registry = open_registry(ref)
    try:
        digest = ref.digest or registry.manifest_digest(ref)
        if digest is None:
            raise InputError(f"{ref}: the registry has no such tag",
                             hint="check the name and tag, or give the image's digest")
        ref = ref.with_digest(digest)
        progress(f"checking {ref}")
        manifest = _json(str(ref), registry.get_manifest(ref).data, "manifest")
        if manifest.get("mediaType") in INDEX_TYPES or "manifests" in manifest:
            digests = ", ".join(str(m.get("digest")) for m in manifest.get("manifests") or [])
            raise InputError(f"{ref} is an index of several platforms",
                             hint=f"check one platform's manifest: REPOSITORY@DIGEST, one of "
                                  f"{digests}")
        with tempfile.TemporaryDirectory(prefix="envbuild-rebuild-") as tmp:
            config = _json(str(ref), _blob(registry, ref, _descriptor(manifest.get("config")),
                                           Path(tmp) / "config").read_bytes(), "config")
            _native_only(str(ref), config)
            names = _history_names(config, len(manifest.get("layers") or []))
            if _PAYLOAD_HISTORY not in names:
                raise InputError(f"{ref} is not an envbuild image: its history names no "
                                 "layer with the runtime and lock",
                                 hint="rebuild-check checks images `envbuild image` built")
            layer = (manifest.get("layers") or [])[names.index(_PAYLOAD_HISTORY)]
            path = _blob(registry, ref, _descriptor(layer), Path(tmp) / "payload")
            text = _read_lock(str(ref), path)
    finally:
        registry.close()
    return _Published(ref=ref, manifest=manifest, config=config, lock_text=text,
                      layer_names=tuple(names))


def _native_only(where: str, config: dict[str, Any]) -> None:
    """Refuse an image another builder made (its `org.envbuild.builder` label): only the
    native builder's digest is a function of the lock, so only its images can be rebuilt."""
    inner = config.get("config")
    labels = inner.get("Labels") if isinstance(inner, dict) else None
    builder = labels.get(BUILDER_LABEL) if isinstance(labels, dict) else None
    if builder is not None:
        raise InputError(f"{where} was built by envbuild's {escape(str(builder))} builder; "
                         "rebuild-check reproduces only images of the native builder "
                         "(--builder oci or nix), whose digest the lock and project decide",
                         hint="publish with `envbuild image` (--builder oci) to have an image "
                              "rebuild-check can prove")


def _descriptor(value: Any) -> str:
    digest = value.get("digest") if isinstance(value, dict) else None
    return digest if isinstance(digest, str) else ""


def _blob(registry: Registry, ref: Reference, digest: str, dest: Path) -> Path:
    parse_reference(f"{ref.registry}/{ref.repository}@{digest}")  # a sha256 digest, or exit 2
    registry.get_blob(ref.repository, digest, dest)  # checked against the digest
    return dest


def _json(where: str, data: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise InputError(f"{where}: the {what} is not a JSON object")
    return value


def _history_names(config: dict[str, Any], count: int) -> list[str]:
    """One name per layer: the history entries that made a layer, in order."""
    history = [h for h in config.get("history") or []
               if isinstance(h, dict) and not h.get("empty_layer")]
    names = [str(h.get("created_by", "")) for h in history]
    if len(names) != count:  # a base without full history: only ours can be named
        names = [""] * count
        ours = [str(h.get("created_by", "")) for h in history
                if h.get("comment") == "envbuild"][-count:] if count else []
        names[count - len(ours):] = ours
    return names


def _read_lock(where: str, layer: Path) -> str:
    try:
        with tarfile.open(layer, "r:gz") as tar:
            member = tar.getmember(_LOCK_MEMBER)
            handle = tar.extractfile(member) if member.isreg() else None
            if handle is None or member.size > _MAX_LOCK_BYTES:
                raise KeyError(_LOCK_MEMBER)
            data = handle.read()
    except KeyError:
        raise InputError(f"{where}: the runtime layer holds no {LOCK_PATH}",
                         hint="rebuild-check checks images `envbuild image` built") from None
    except (tarfile.TarError, OSError, EOFError) as error:
        raise InputError(f"{where}: the runtime layer is not a gzip tar ({error})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{where}: {LOCK_PATH} is not UTF-8 text") from None


def _one_target(lock: Lock, published: _Published) -> str:
    names = sorted(lock.targets)
    inner = published.config.get("config")
    labels = inner.get("Labels") if isinstance(inner, dict) else None
    labels = labels if isinstance(labels, dict) else {}
    if len(names) != 1 or labels.get("org.envbuild.target") not in (None, names[0]):
        raise InputError(f"{published.ref}: the carried lock has targets {', '.join(names)}, "
                         f"the image is labelled {labels.get('org.envbuild.target')}",
                         hint="an envbuild image carries exactly its own target's lock")
    return names[0]


def _epoch(published: _Published) -> int:
    created = published.config.get("created")
    try:
        moment = datetime.strptime(str(created), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise InputError(f'{published.ref}: the config\'s created time "{created}" is not '
                         "one envbuild writes (YYYY-MM-DDTHH:MM:SSZ)") from None
    return int(moment.timestamp())


def _layer_differences(published: _Published,
                       rebuilt: list[tuple[str, str, str]]) -> tuple[LayerDifference, ...]:
    layers = [_descriptor(x) for x in published.manifest.get("layers") or []]
    diff_ids = [str(x) for x in (published.config.get("rootfs") or {}).get("diff_ids") or []]
    out = []
    for position in range(max(len(layers), len(rebuilt))):
        ours = rebuilt[position] if position < len(rebuilt) else None
        theirs = layers[position] if position < len(layers) else None
        if ours is not None and ours[0] == theirs:
            continue
        named = ours[2] if ours is not None and ours[2] else \
            (published.layer_names[position] if position < len(published.layer_names) else "")
        out.append(LayerDifference(
            position=position, name=named.removeprefix("envbuild: ") or f"layer {position}",
            published=theirs, rebuilt=ours[0] if ours else None,
            published_diff_id=diff_ids[position] if position < len(diff_ids) else None,
            rebuilt_diff_id=ours[1] if ours else None))
    return tuple(out)


def _config_differences(published: dict[str, Any], rebuilt: dict[str, Any]) -> tuple[str, ...]:
    fields = set()
    for key in set(published) | set(rebuilt):
        if key == "config":
            inner_a, inner_b = published.get(key), rebuilt.get(key)
            if not (isinstance(inner_a, dict) and isinstance(inner_b, dict)):
                fields.add(key)
                continue
            fields |= {f"config.{k}" for k in set(inner_a) | set(inner_b)
                       if inner_a.get(k) != inner_b.get(k)}
        elif published.get(key) != rebuilt.get(key):
            fields.add(key)
    return tuple(sorted(fields))
