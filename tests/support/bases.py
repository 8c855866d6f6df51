"""Small OCI image layouts to use as bases: one image per architecture, made with envbuild's
own rootfs packer in milliseconds (no debootstrap, no registry)."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from envbuild.image.rootfs import pack_rootfs


def tiny_base(folder: Path, *, architectures: tuple[str, ...] = ("amd64",), marker: str = "1",
              ref_name: str = "latest") -> dict[str, str]:
    """Write an OCI layout at `folder` holding one image per architecture, all under
    `ref_name` and each with its platform in the index (a multi-platform layout when more
    than one); return architecture -> manifest digest. `marker` changes every digest."""
    digests: dict[str, str] = {}
    descriptors: list[dict[str, object]] = []
    blobs = folder / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tiny-base-") as tmp:
        for arch in architectures:
            root = Path(tmp) / f"root-{arch}"
            (root / "usr" / "bin").mkdir(parents=True)
            (root / "usr" / "bin" / "python3.11").write_text("#!/bin/sh\n")
            (root / "usr" / "bin" / "python3.11").chmod(0o755)
            # The config's Cmd (python3), which every build checks the image has.
            (root / "usr" / "bin" / "python3").symlink_to("python3.11")
            (root / "etc").mkdir()
            (root / "etc" / "base-marker").write_text(f"{marker} {arch}\n")
            layout = Path(tmp) / f"layout-{arch}"
            image = pack_rootfs(root, layout, epoch=0, architecture=arch, ref_name=ref_name)
            digests[arch] = image.digest
            descriptors += json.loads((layout / "index.json").read_text())["manifests"]
            for blob in (layout / "blobs" / "sha256").iterdir():
                shutil.copyfile(blob, blobs / blob.name)
    (folder / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (folder / "index.json").write_text(json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": descriptors}))
    return digests


def tiny_archive(path: Path, *, architecture: str = "amd64", marker: str = "1") -> str:
    """Write a docker-archive tarball (as `docker save` of Docker 20.10 writes one: plain
    layer tars, `manifest.json`) of a tiny image; return its image ID (config digest)."""
    import gzip
    import hashlib
    import io
    import tarfile

    with tempfile.TemporaryDirectory(prefix="tiny-archive-") as tmp:
        layout = Path(tmp) / "layout"
        digest = tiny_base(layout, architectures=(architecture,), marker=marker)[architecture]
        blobs = layout / "blobs" / "sha256"
        manifest = json.loads((blobs / digest.split(":")[1]).read_bytes())
        config = (blobs / manifest["config"]["digest"].split(":")[1]).read_bytes()
        image_id = hashlib.sha256(config).hexdigest()
        layers = []
        with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
            def add(name: str, data: bytes) -> None:
                info = tarfile.TarInfo(name)
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))

            for layer in manifest["layers"]:
                plain = gzip.decompress((blobs / layer["digest"].split(":")[1]).read_bytes())
                name = f"{hashlib.sha256(plain).hexdigest()}/layer.tar"
                add(name, plain)
                layers.append(name)
            add(f"{image_id}.json", config)
            add("manifest.json", json.dumps([{"Config": f"{image_id}.json", "RepoTags": ["tiny:latest"],
                                              "Layers": layers}]).encode())
    return f"sha256:{image_id}"
