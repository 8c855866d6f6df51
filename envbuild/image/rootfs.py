"""An operating system tree on disk packed as a one-layer OCI image layout.

This is how a base image is made without a registry or an engine (`scripts/make-base`:
debootstrap into a folder, then this). The layer is written by the same deterministic tar
and gzip code as every other layer, keeping the tree's modes and numeric owners; the same
tree and epoch give the same digest.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from envbuild.canonical import canonical_bytes
from envbuild.image.config import CONFIG, MANIFEST, timestamp
from envbuild.image.layers import LAYER_MEDIA_TYPE, write_tar_gz
from envbuild.image.layout import ImageEntry, sha256, write_layout
from envbuild.scratch import scratch_dir


@dataclass(frozen=True, kw_only=True, slots=True)
class RootfsImage:
    digest: str  # of the manifest
    diff_id: str
    layer_digest: str
    size: int  # compressed layer bytes


def pack_rootfs(root: Path, output: Path, *, epoch: int, architecture: str = "amd64",
                env: tuple[str, ...] = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:"
                                        "/usr/bin:/sbin:/bin", "LANG=C.UTF-8"),
                cmd: tuple[str, ...] = ("python3",), ref_name: str = "latest",
                created_by: str = "rootfs") -> RootfsImage:
    """Write `root` as an OCI image layout at `output` (replaced only on success)."""
    output.parent.mkdir(parents=True, exist_ok=True)
    with scratch_dir("rootfs") as tmp:
        blob = tmp / "layer"
        diff_id, layer_digest, size = write_tar_gz(root, blob, epoch=epoch, rootfs=True)
        created = timestamp(epoch)
        config = canonical_bytes({
            "architecture": architecture, "os": "linux", "created": created,
            "config": {"Env": list(env), "Cmd": list(cmd)},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            "history": [{"created": created, "created_by": created_by}]})
        manifest = canonical_bytes({
            "schemaVersion": 2, "mediaType": MANIFEST,
            "config": {"mediaType": CONFIG, "digest": sha256(config), "size": len(config)},
            "layers": [{"mediaType": LAYER_MEDIA_TYPE, "digest": layer_digest, "size": size}]})
        write_layout(output, [ImageEntry(ref_name=ref_name, manifest=manifest, config=config,
                                         blobs=((layer_digest, blob),),
                                         platform=("linux", architecture))])
    return RootfsImage(digest=sha256(manifest), diff_id=diff_id, layer_digest=layer_digest,
                       size=size)
