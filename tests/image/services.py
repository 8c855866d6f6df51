"""The real registry, engine and base image the service tests use, or a clear skip.

scripts/test starts them (scripts/services/registry, scripts/services/docker) and exports
ENVBUILD_TEST_REGISTRY=127.0.0.1:PORT and DOCKER_HOST; scripts/make-base makes the base
layout (ENVBUILD_TEST_BASE names it, else the default cache folder is looked in).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from envbuild.image.push import push_layout
from envbuild.image.registry.distribution import open_registry
from envbuild.image.registry.interface import RegistryError, parse_reference

DEFAULT_BASE = Path("/var/cache/envbuild-test/base/bookworm-minbase-python3-v1/oci")
_pushed: dict[str, str] = {}


def registry_address() -> str:
    address = os.environ.get("ENVBUILD_TEST_REGISTRY", "")
    if not address:
        pytest.skip("no test registry: run `eval \"$(scripts/services/registry start)\"` "
                    "(sets ENVBUILD_TEST_REGISTRY)")
    try:
        registry = open_registry(parse_reference(f"{address}/probe/probe"))
        registry.manifest_digest(parse_reference(f"{address}/probe/probe:none"))
        registry.close()
    except RegistryError as error:
        pytest.skip(f"test registry {address} is not answering: {error.message}")
    return address


def docker_client() -> object:
    if not os.environ.get("DOCKER_HOST"):
        pytest.skip("no test engine: run `eval \"$(scripts/services/docker start)\"` "
                    "(sets DOCKER_HOST)")
    import docker  # type: ignore[import-untyped]

    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except docker.errors.DockerException as error:
        pytest.skip(f"test engine at {os.environ['DOCKER_HOST']} is not answering: {error}")
    return client


def base_layout() -> Path:
    folder = Path(os.environ.get("ENVBUILD_TEST_BASE") or DEFAULT_BASE)
    if not (folder / "index.json").is_file():
        pytest.skip(f"no base image layout at {folder}: run scripts/make-base")
    return folder


def pushed_base(address: str) -> str:
    """The debootstrap base pushed to the test registry: `ADDR/base/python:3.11@sha256:...`."""
    if address not in _pushed:
        folder = base_layout()
        digest = json.loads((folder / "index.json").read_bytes())["manifests"][0]["digest"]
        ref = parse_reference(f"{address}/base/python:3.11")
        assert push_layout(folder, ref) == digest
        _pushed[address] = f"{ref}@{digest}"
    return _pushed[address]
