"""`[cluster.volumes.<dataset>]`: where a dataset with a `mount` comes from on the nodes.

Kubernetes mounts it read-only from a PersistentVolumeClaim (`claim`), a folder on every
node (`host-path`) or a CSI driver (`csi-driver`, with `csi-attributes`); Slurm binds
`slurm-path` (else `host-path`) into the container.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from envbuild.cluster import k8snames

if TYPE_CHECKING:  # the manifest's reader parses these tables; it imports this module
    from envbuild.cluster.manifest import _Reader as Reader

VOLUME_KINDS = ("claim", "host-path", "csi-driver")
_VOLUME_KEYS = ("claim", "host-path", "csi-driver", "csi-attributes", "slurm-path")


@dataclass(frozen=True, kw_only=True, slots=True)
class VolumeSettings:
    """`[cluster.volumes.<dataset>]`: where a dataset's files come from on the nodes."""

    dataset: str
    kind: str  # one of VOLUME_KINDS
    source: str  # the claim name, the node's path or the CSI driver
    csi_attributes: tuple[tuple[str, str], ...] = ()
    slurm_path: str | None = None  # the path on Slurm nodes; default: host-path


def parse_volume(r: Reader, name: str, raw: Any,
                 mounts: tuple[tuple[str, str], ...]) -> VolumeSettings | None:
    """`[cluster.volumes.<name>]`, or None with its problems recorded in `r`."""
    key = f"cluster.volumes.{name}"
    before = len(r.problems)
    table = r.table(raw, key)
    if table is None:
        return None
    r.unknown(table, key, _VOLUME_KEYS)
    if name not in dict(mounts):
        r.problem(key, f'no dataset "{name}" with a mount; volumes map [datasets.<name>] '
                       'entries that set mount = "/data/..."'
                       + (f"; datasets with a mount: {', '.join(n for n, _ in mounts)}"
                          if mounts else ""))
    kinds = [kind for kind in VOLUME_KINDS if kind in table]
    if len(kinds) != 1:
        r.problem(key, "set exactly one of claim (a PersistentVolumeClaim), host-path (a "
                       'folder on every node) or csi-driver, e.g. claim = "imagenet-val"')
        return None
    source = r.string(table, key, kinds[0])
    slurm_path = r.string(table, key, "slurm-path")
    attributes_table = r.table(table.get("csi-attributes", {}), f"{key}.csi-attributes") or {}
    attributes = []
    for item in sorted(attributes_table):
        value = r.string(attributes_table, f"{key}.csi-attributes", item)
        if value is not None:
            attributes.append((item, value))
    if attributes_table and kinds[0] != "csi-driver":
        r.problem(f"{key}.csi-attributes", "only a csi-driver volume takes csi-attributes")
    if kinds[0] == "claim" and source is not None and not k8snames.is_dns_subdomain(source):
        r.problem(f"{key}.claim", f'"{source}" is not a PersistentVolumeClaim name; use a DNS '
                                  'subdomain, e.g. claim = "imagenet-val"')
        return None
    for path_key, path in (("host-path", source if kinds[0] == "host-path" else None),
                           ("slurm-path", slurm_path)):
        if path is not None and (not path.startswith("/") or "," in path or ":" in path):
            r.problem(f"{key}.{path_key}", f'"{path}" must be an absolute path without "," '
                                           'or ":" (pyxis separates mounts by them)')
            return None
    if source is None or len(r.problems) > before:
        return None
    return VolumeSettings(dataset=name, kind=kinds[0], source=source,
                          csi_attributes=tuple(attributes), slurm_path=slurm_path)
