"""`--load`: hand built images to a local Docker engine through the `docker` SDK.

Debian bookworm's engine (20.10) loads docker-archive tarballs only (OCI layouts in a tar
need Docker 25+), so the images go in as a docker-archive: `manifest.json` naming each
image's config and layers, the layer blobs as they are (the engine inflates gzip layers
itself, so the image ID is the config digest and the layers' diff_ids are ours).
"""

from __future__ import annotations

import json
import tarfile
from collections.abc import Sequence
from pathlib import Path

from envbuild.errors import ExternalError, InputError
from envbuild.image.builders.interface import TargetImage
from envbuild.image.store import Store


class EngineError(ExternalError):
    """The Docker engine is unreachable or refused the images (exit 3)."""


def write_docker_archive(out: Path, images: Sequence[tuple[str, TargetImage]]) -> None:
    """Write (tag, image) pairs as one docker-archive tarball."""
    entries, written = [], set()
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        for tag, image in images:
            config_name = f"{image.config_digest.split(':')[1]}.json"
            if config_name not in written:
                _add_bytes(tar, config_name, image.entry.config)
                written.add(config_name)
            layer_names = []
            paths = dict(image.entry.blobs)
            for layer in image.layers:
                name = f"{layer.digest.split(':')[1]}/layer.tar"
                if name not in written:
                    tar.add(paths[layer.digest], arcname=name, recursive=False)
                    written.add(name)
                layer_names.append(name)
            entries.append({"Config": config_name, "RepoTags": [tag], "Layers": layer_names})
        _add_bytes(tar, "manifest.json", json.dumps(entries, sort_keys=True).encode())


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    import io

    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o644
    tar.addfile(info, io.BytesIO(data))


def load_images(images: Sequence[tuple[str, TargetImage]], store: Store) -> list[str]:
    """Load into the engine that DOCKER_HOST (or the default socket) names; return the tags."""
    try:
        import docker  # type: ignore[import-untyped]
        from docker.errors import DockerException  # type: ignore[import-untyped]
    except ImportError:
        raise InputError("--load needs the docker SDK", hint="pip install docker") from None
    with store.temp_file() as archive:
        write_docker_archive(archive, images)
        try:
            client = docker.from_env(timeout=600)
            with archive.open("rb") as handle:
                client.images.load(handle)
            client.close()
        except DockerException as error:
            raise EngineError(f"cannot load into the Docker engine: {error}",
                              hint="is it running? DOCKER_HOST names it") from None
    return [tag for tag, _ in images]
