"""Registry credentials the way the docker CLI finds them, and the token dance.

Credentials come from the user's Docker config (`$DOCKER_CONFIG/config.json`, else
`~/.docker/config.json`): `credHelpers[host]`, else `credsStore`, run as
`docker-credential-<helper> get` with the host on stdin; else `auths[host]` (`auth`, or
`username`/`password`). A 401 answer names the scheme: `Basic` gets those credentials,
`Bearer realm=...,service=...,scope=...` gets a token from the realm (anonymously when
there are no credentials), cached per scope for the life of the client.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envbuild.image.registry.interface import RegistryError
from envbuild.inputfiles import read_input_text

_PARAM = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True, kw_only=True, slots=True)
class Credentials:
    username: str
    secret: str

    @property
    def basic(self) -> str:
        raw = f"{self.username}:{self.secret}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")


@dataclass(frozen=True, kw_only=True, slots=True)
class Challenge:
    scheme: str  # "basic" | "bearer"
    params: dict[str, str]


def docker_config_path() -> Path:
    folder = os.environ.get("DOCKER_CONFIG")
    return (Path(folder) if folder else Path.home() / ".docker") / "config.json"


def find_credentials(registry: str, config_path: Path | None = None) -> Credentials | None:
    """The user's credentials for `registry` (host[:port]), or None."""
    path = config_path or docker_config_path()
    if not os.path.lexists(path):
        return None
    try:
        # Bounded: a FIFO or device in DOCKER_CONFIG is refused, not read forever.
        config: Any = json.loads(read_input_text(path, what="Docker config"))
    except (ValueError, RecursionError) as error:
        raise RegistryError(f"cannot read the Docker config {path}: {error}",
                            hint="fix or move the file; envbuild reads auths and "
                                 "credential helpers from it") from None
    if not isinstance(config, dict):
        return None
    keys = (registry, f"https://{registry}", f"https://{registry}/", f"http://{registry}")
    helpers = config.get("credHelpers") or {}
    for key in keys:
        if isinstance(helpers, dict) and isinstance(helpers.get(key), str):
            return _from_helper(helpers[key], key)
    auths = config.get("auths") or {}
    for key in keys:
        entry = auths.get(key) if isinstance(auths, dict) else None
        if isinstance(entry, dict) and (found := _from_entry(entry)) is not None:
            return found
    store = config.get("credsStore")
    if isinstance(store, str) and store:
        return _from_helper(store, keys[0])
    return None


def _from_entry(entry: dict[str, Any]) -> Credentials | None:
    if isinstance(entry.get("auth"), str) and entry["auth"]:
        try:
            user, _, secret = base64.b64decode(entry["auth"]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return Credentials(username=user, secret=secret)
    if isinstance(entry.get("username"), str) and isinstance(entry.get("password"), str):
        return Credentials(username=entry["username"], secret=entry["password"])
    return None


def _from_helper(helper: str, server: str) -> Credentials | None:
    program = f"docker-credential-{helper}"
    try:
        done = subprocess.run([program, "get"], input=server.encode(), capture_output=True,
                              timeout=30, check=False)
    except FileNotFoundError:
        raise RegistryError(f"the Docker config names credential helper {helper!r}, but "
                            f"{program} is not on PATH",
                            hint=f"install {program}, or remove it from the Docker config"
                            ) from None
    except subprocess.TimeoutExpired:
        raise RegistryError(f"{program} get did not answer in 30 s") from None
    if done.returncode != 0:
        if b"credentials not found" in done.stdout + done.stderr:
            return None
        raise RegistryError(f"{program} get failed for {server}: "
                            f"{(done.stderr or done.stdout).decode(errors='replace').strip()}")
    try:
        data = json.loads(done.stdout)
        return Credentials(username=str(data["Username"]), secret=str(data["Secret"]))
    except (ValueError, KeyError, TypeError):
        raise RegistryError(f"{program} get answered something that is not its JSON") from None


def parse_challenge(header: str) -> Challenge | None:
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() not in ("basic", "bearer"):
        return None
    return Challenge(scheme=scheme.lower(), params=dict(_PARAM.findall(rest)))
