"""The `docker` builder: the target's build context (`envbuild.image.dockerfile`) built by a
Docker engine through the `docker` SDK, with no network during the build.

The base goes into the engine first (a layout or archive base is loaded from envbuild's
copy, a registry base is pulled by digest), since a build with network none cannot fetch
it. The built image comes back out as a docker-archive (`image.save()`); its layers are
checked against the config's diff_ids and stored gzip-compressed in the cache, and an OCI
manifest is written over them (the base's layers keep the base's own blobs), so `--output`,
`--push`, `--load` and `--json` take it as they take a native image.
"""

from __future__ import annotations

import json
import re
import tarfile
from pathlib import Path
from typing import Any

from envbuild.canonical import digest
from envbuild.errors import CheckFailed, ExternalError, InputError
from envbuild.image.builders.interface import Builder, BuildRequest, BuildResult, TargetImage
from envbuild.image.config import image_manifest
from envbuild.image.dockerfile import DockerContext, write_context
from envbuild.image.layers import LAYER_MEDIA_TYPE, Layer
from envbuild.image.layout import ImageEntry, sha256, write_layout
from envbuild.image.store import Store

_MAX_JSON = 16 << 20
_MACHINES = {"x86_64": "amd64", "aarch64": "arm64"}  # uname names -> OCI architectures
_STEP_ID = re.compile(r"^\s*---> ([0-9a-f]{12,64})\s*$")  # the classic builder's step result


class EngineBuildError(ExternalError):
    """The engine is unreachable or the build failed in it (exit 3)."""


class DockerBuilder(Builder):
    name = "docker"

    def build(self, request: BuildRequest) -> BuildResult:
        client = _client()
        images: list[ImageEntry] = []
        results: dict[str, TargetImage] = {}
        try:
            _check_platforms(client, request)
            with request.store.locked():
                for name in request.targets:
                    with request.store.temp_dir() as folder:
                        context = write_context(request, name, folder / "context")
                        _ensure_base(client, context, request)
                        created: list[str] = []
                        try:
                            image_id = _engine_build(client, name, context.folder, request,
                                                     created)
                            result = _from_engine(client, image_id, context, request.store)
                        finally:
                            _remove(client, created)
                    images.append(result.entry)
                    results[name] = result
                if request.output is not None:
                    request.progress(f"writing {request.output}")
                    write_layout(request.output, images)
        finally:
            client.close()
        return BuildResult(output=request.output, targets=results)

    def planned_hash(self, request: BuildRequest, name: str) -> str:
        """The image hash of the context `build` would write (wheels must be in the cache or
        fetchable: the context is written, in a scratch folder, and dropped)."""
        with request.store.temp_dir() as folder:
            return write_context(request, name, folder / "context").image_hash


def _check_platforms(client: Any, request: BuildRequest) -> None:
    """Refuse, before the base is loaded, a target the engine cannot run: the install
    stage's RUN executes the base's Python, which an engine of another architecture (without
    emulation, which a build with network none cannot set up) fails on with `exec format
    error`."""
    from docker.errors import DockerException  # type: ignore[import-untyped]

    try:
        machine = str(client.version().get("Arch") or client.info().get("Architecture") or "")
    except DockerException as error:
        raise EngineBuildError(f"the Docker engine at {_host()}: {_reason(error)}") from None
    engine = f"linux/{_MACHINES.get(machine, machine)}"
    for name in request.targets:
        platform = request.lock.targets[name].platform
        if platform != engine:
            raise InputError(f'target "{name}" is {platform}, the Docker engine at {_host()} '
                             f"runs {engine}: the build's RUN step cannot run there",
                             hint="build it with --builder oci (it builds any platform "
                                  "without running it), or use an engine on " + platform)


def _remove(client: Any, created: list[str]) -> None:
    """Remove, by ID and newest first, the images this build made: the engine's copy went
    into the cache (and `--load` hands it back from there), and the install stage is never
    part of the image. A cached step's image is not in `created`; one with a tag or a child
    (someone else's) is refused by the engine and kept."""
    from contextlib import suppress

    from docker.errors import DockerException

    for image_id in reversed(created):
        with suppress(DockerException):  # in use, tagged meanwhile or gone: not ours to force
            client.images.remove(image_id, force=False, noprune=True)


def _host() -> str:
    import os

    from envbuild.scrub import scrub

    return scrub(os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock")


def _reason(error: Exception) -> str:
    """The cause in a docker SDK error, without urllib3's object reprs around it."""
    text = str(error)
    found = re.search(r"\[Errno \d+\] ([^\"')]+)", text) or \
        re.search(r"\w+Error\(\d+, '([^']+)'\)", text)
    if found:
        return found.group(1).strip()
    return text.strip().splitlines()[-1] if text.strip() else type(error).__name__


def _client() -> Any:
    try:
        import docker  # type: ignore[import-untyped]
        from docker.errors import DockerException
    except ImportError:
        raise InputError("--builder docker needs the docker SDK", hint="pip install docker") from None
    host = _host()
    if host.startswith("unix://") and not Path(host.removeprefix("unix://")).exists():
        # Checked here: the SDK leaks the socket of a failed connect to a missing path.
        raise EngineBuildError(f"cannot reach the Docker engine at {host}: No such file or "
                               "directory", hint="is it running? DOCKER_HOST names it")
    client = None
    try:
        client = docker.from_env(timeout=600)
        client.ping()
    except DockerException as error:
        if client is not None:
            client.close()
        raise EngineBuildError(f"cannot reach the Docker engine at {_host()}: "
                               f"{_reason(error)}",
                               hint="is it running? DOCKER_HOST names it") from None
    return client


def _ensure_base(client: Any, context: DockerContext, request: BuildRequest) -> None:
    """The base in the engine under the name FROM gives, before a build without network."""
    from docker.errors import DockerException, ImageNotFound

    try:
        client.images.get(context.base_ref)
        return
    except ImageNotFound:
        pass
    except DockerException as error:
        raise EngineBuildError(f"the Docker engine at {_host()}: {_reason(error)}") from None
    base = context.base
    try:
        if context.base_ref.startswith("sha256:"):
            request.progress(f"loading base {base.reference} into the engine")
            with request.store.temp_file() as archive:
                base_archive(archive, base.blob(base.manifest_digest), base.blob)
                with archive.open("rb") as handle:
                    loaded = client.images.load(handle)
            ids = [image.id for image in loaded]
            if context.base_config_digest not in ids:
                raise EngineBuildError(f"the engine loaded base {base.reference} as "
                                       f"{', '.join(ids) or 'nothing'}, not "
                                       f"{context.base_config_digest}")
        elif request.offline:
            raise EngineBuildError(f"--offline: base {context.base_ref} is not in the engine",
                                   hint=f"docker pull {context.base_ref}, or run without --offline")
        else:
            request.progress(f"pulling base {context.base_ref} into the engine")
            client.images.pull(context.base_ref)
    except DockerException as error:
        raise EngineBuildError(f"cannot put base {context.base_ref} into the engine at "
                               f"{_host()}: {_reason(error)}",
                               hint="a registry base must be reachable from the engine") from None


def base_archive(out: Path, manifest_path: Path, blob: Any) -> None:
    """A docker-archive of the base: its config and gzip layers as they are (the engine
    inflates them and gives the image its config digest as ID, as `--load` relies on)."""
    import io

    manifest = json.loads(manifest_path.read_bytes())
    config = str(manifest["config"]["digest"])
    names = []
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        tar.add(blob(config), arcname=f"{config.split(':')[1]}.json", recursive=False)
        for layer in manifest["layers"]:
            name = f"{layer['digest'].split(':')[1]}/layer.tar"
            tar.add(blob(layer["digest"]), arcname=name, recursive=False)
            names.append(name)
        data = json.dumps([{"Config": f"{config.split(':')[1]}.json", "RepoTags": None,
                            "Layers": names}]).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size, info.mode = len(data), 0o644
        tar.addfile(info, io.BytesIO(data))


def _engine_build(client: Any, name: str, folder: Path, request: BuildRequest,
                  created: list[str]) -> str:
    """Build on the engine; the image ID. The whole log is read before anything is raised,
    so the engine's response is done with (the SDK's `images.build` stops at the error).
    `created` gets the ID of each image a step made (not a FROM's, not a cached one's)."""
    from docker.errors import DockerException

    request.progress(f"{name}: building on the Docker engine (network none)")
    log: list[str] = []
    error, image_id = None, None
    try:
        for chunk in client.api.build(path=str(folder), network_mode="none", rm=True,
                                      forcerm=True, pull=False, decode=True):
            log.append(str(chunk.get("stream", "")))
            error = error or chunk.get("error")
            image_id = (chunk.get("aux") or {}).get("ID") or image_id
    except DockerException as failure:
        raise EngineBuildError(f"docker build failed on the engine at {_host()}: "
                               f"{_reason(failure)}") from None
    finally:
        created += _made(log)
    if error is not None or image_id is None:
        text = "".join(log)[-4000:].rstrip()
        raise EngineBuildError(f"docker build failed: {error or 'no image came out'}\n{text}",
                               hint="the build ran with network none; every input is in "
                                    "the context")
    return str(image_id)


def _made(log: list[str]) -> list[str]:
    """The images a classic-builder log says its steps made: ` ---> ID` after a step that
    is not FROM and did not print `Using cache`."""
    made, skip = [], True
    for line in "".join(log).splitlines():
        if line.startswith("Step "):
            skip = " : FROM " in line or " : from " in line
        elif line.strip() == "---> Using cache":
            skip = True
        elif (match := _STEP_ID.match(line)) and not skip:
            made.append(match.group(1))
    return made


def _from_engine(client: Any, image_id: str, context: DockerContext,
                 store: Store) -> TargetImage:
    """The engine's image as an OCI image: its config as the engine wrote it, the base's
    layers as the base's blobs, the layers the build made gzip-compressed into the cache."""
    base = context.base
    found = _remembered(image_id, store)
    if found is None:
        found = _save(client, image_id, context, store)
    config, layers = found
    titles = list(context.layer_names)
    ours = [Layer(digest=d, diff_id=i, size=n, media_type=LAYER_MEDIA_TYPE,
                  name=titles[p] if p < len(titles) else f"layer {len(base.layers) + p}")
            for p, (d, i, n) in enumerate(layers)]
    everything = [*base.layers, *ours]
    manifest = image_manifest(image_id, len(config),
                              [(x.media_type, x.digest, x.size) for x in everything])
    blobs = [(x.digest, base.blob(x.digest)) for x in base.layers]
    blobs += [(x.digest, store.blob_path(x.digest)) for x in ours]
    entry = ImageEntry(ref_name=context.target.name, manifest=manifest, config=config,
                       blobs=tuple(blobs), platform=context.platform)
    return TargetImage(name=context.target.name, digest=sha256(manifest),
                       size=len(manifest) + len(config) + sum(x.size for x in everything),
                       image_hash=context.image_hash, config_digest=image_id,
                       layers=tuple(everything), platform=context.platform, entry=entry)


_Layers = list[tuple[str, str, int]]  # (gzip digest, diff_id, size) of the layers the build made


def _record(image_id: str, store: Store) -> Path:
    return store.layer_record(digest({"docker-image": image_id}))


def _remembered(image_id: str, store: Store) -> tuple[bytes, _Layers] | None:
    """An image ID converted before (a cached engine build gives the same ID): its config
    and layers from the cache, without saving the whole image out of the engine again."""
    try:
        layers = [(str(d), str(i), int(n)) for d, i, n in
                  json.loads(_record(image_id, store).read_text())["layers"]]
        config = store.blob_path(image_id).read_bytes()
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if sha256(config) != image_id or any(
            not store.blob_path(d).is_file() or store.blob_path(d).stat().st_size != n
            for d, _, n in layers):
        return None  # write_layout and push check every blob's digest as they copy it
    return config, layers


def _save(client: Any, image_id: str, context: DockerContext,
          store: Store) -> tuple[bytes, _Layers]:
    """Save the image out of the engine (a docker-archive), check it, and store the layers
    after the base's gzip-compressed, once per diff_id."""
    from docker.errors import DockerException

    from envbuild.image.archive import _layer  # the docker-archive layer reader, cached by diff_id

    base = context.base
    with store.temp_file() as archive:
        try:
            with archive.open("wb") as out:
                for chunk in client.images.get(image_id).save(named=False):
                    out.write(chunk)
        except DockerException as error:
            raise EngineBuildError(f"cannot save {image_id} from the engine at {_host()}: "
                                   f"{_reason(error)}") from None
        with tarfile.open(archive, "r:") as tar:
            entry = _json(tar, "manifest.json")
            if not isinstance(entry, list) or len(entry) != 1:
                raise EngineBuildError(f"the engine saved {image_id} as something other than one image")
            config_name, layer_names = str(entry[0]["Config"]), list(entry[0]["Layers"])
            member = tar.extractfile(config_name)
            config = member.read(_MAX_JSON) if member is not None else b""
            if sha256(config) != image_id:
                raise CheckFailed(f"the engine saved a config for {image_id} with digest "
                                  f"{sha256(config)}")
            diff_ids = [str(x) for x in json.loads(config)["rootfs"]["diff_ids"]]
            kept = len(base.layers)
            if diff_ids[:kept] != [x.diff_id for x in base.layers] or \
                    len(layer_names) != len(diff_ids):
                raise CheckFailed(f"{image_id} does not start with the layers of base "
                                  f"{base.reference}")
            layers = [(*_layer(f"docker image {image_id}", tar, name, diff_id, store), diff_id)
                      for name, diff_id in zip(layer_names[kept:], diff_ids[kept:], strict=True)]
    found = [(d, i, n) for d, n, i in layers]
    for path, data in ((store.blob_path(image_id), config),
                       (_record(image_id, store), json.dumps({"layers": found}).encode())):
        with store.temp_file() as tmp:
            tmp.write_bytes(data)
            store.commit(tmp, path)
    return config, found


def _json(tar: tarfile.TarFile, name: str) -> Any:
    member = tar.extractfile(name)
    return json.loads(member.read(_MAX_JSON) if member is not None else b"null")
