"""The image config and manifest of one target, as canonical JSON bytes.

Nothing here reads a clock: `created` and every history entry carry the build epoch
(SOURCE_DATE_EPOCH, else 0), so the config's digest is a function of its inputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from envbuild.canonical import canonical_bytes

CONFIG = "application/vnd.oci.image.config.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Names the builder of an image the native builder did not make ("docker", "nix-dockertools"):
# rebuild-check reproduces native images only. The native builder writes none, so its
# digests (and `--builder nix`'s, the same image) are unchanged.
BUILDER_LABEL = "org.envbuild.builder"
_ARCHITECTURES = {"linux/amd64": "amd64", "linux/arm64": "arm64"}


@dataclass(frozen=True, kw_only=True, slots=True)
class ConfigInputs:
    platform: str
    epoch: int
    env: tuple[tuple[str, str], ...]  # ours, applied over the base's in this order
    workdir: str
    entrypoint: tuple[str, ...]
    labels: tuple[tuple[str, str], ...]
    diff_ids: tuple[str, ...]  # ours, after the base's
    history: tuple[str, ...]  # one line per layer of ours


def architecture(platform: str) -> tuple[str, str]:
    """(os, architecture) of an OCI platform for a target platform; None for non-Linux."""
    os_name, _, _ = platform.partition("/")
    if platform not in _ARCHITECTURES:
        raise KeyError(platform)
    return os_name, _ARCHITECTURES[platform]


def timestamp(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def image_env(base: dict[str, Any] | None, ours: Sequence[tuple[str, str]]) -> dict[str, str]:
    """The image's environment: the base config's, PATH with /usr/local/bin, then ours."""
    env: dict[str, str] = {}
    for item in dict((base or {}).get("config") or {}).get("Env") or []:
        name, _, value = str(item).partition("=")
        env[name] = value
    path = env.get("PATH", DEFAULT_PATH)
    if "/usr/local/bin" not in path.split(":"):
        path = f"/usr/local/bin:{path}"
    env["PATH"] = path
    for name, value in ours:
        env[name] = value
    return env


def image_command(entrypoint: Sequence[str],
                  base: dict[str, Any] | None) -> tuple[tuple[str, ...], str]:
    """What `docker run IMAGE` executes, and where it comes from ("entrypoint" or "cmd").

    Our entrypoint replaces the base's entrypoint and command; without one, the base's
    command is kept (its entrypoint never is: see `image_config`).
    """
    if entrypoint:
        return tuple(entrypoint), "entrypoint"
    cmd = dict((base or {}).get("config") or {}).get("Cmd") or []
    return tuple(str(word) for word in cmd), "cmd"


def image_config(inputs: ConfigInputs, base: dict[str, Any] | None) -> bytes:
    env = image_env(base, inputs.env)
    base = base or {}
    base_config = dict(base.get("config") or {})
    config: dict[str, Any] = {k: v for k, v in base_config.items()
                              if k not in ("Env", "WorkingDir", "Entrypoint", "Labels", "Cmd")}
    if not inputs.entrypoint and "Cmd" in base_config:
        config["Cmd"] = base_config["Cmd"]
    config["Env"] = [f"{k}={v}" for k, v in env.items()]
    config["WorkingDir"] = inputs.workdir
    if inputs.entrypoint:
        config["Entrypoint"] = list(inputs.entrypoint)
    config["Labels"] = {**(base_config.get("Labels") or {}), **dict(inputs.labels)}
    os_name, arch = architecture(inputs.platform)
    created = timestamp(inputs.epoch)
    history = [*list(base.get("history") or []),
               *({"created": created, "created_by": line, "comment": "envbuild"}
                 for line in inputs.history)]
    document = {
        "architecture": arch,
        "os": os_name,
        "created": created,
        "config": config,
        "rootfs": {"type": "layers",
                   "diff_ids": [*(base.get("rootfs") or {}).get("diff_ids", []),
                                *inputs.diff_ids]},
        "history": history,
    }
    return canonical_bytes(document)


def image_manifest(config_digest: str, config_size: int,
                   layers: Sequence[tuple[str, str, int]]) -> bytes:
    """The manifest for a config and (media type, digest, size) layers."""
    return canonical_bytes({
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": {"mediaType": CONFIG, "digest": config_digest, "size": config_size},
        "layers": [{"mediaType": m, "digest": d, "size": s} for m, d, s in layers],
    })
