"""Only envbuild's own error type escapes the manifest loader and the lock parser."""

from __future__ import annotations

import contextlib
import tomllib
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from envbuild.errors import EnvbuildError
from envbuild.lockfile import dump
from envbuild.lockfile.codec import from_document, loads
from envbuild.manifest import parse_manifest
from tests.lockfile.test_codec import sample_lock

scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=8),
                    st.sampled_from(["3.11", "linux/amd64", "12.4", "H100", "torch==2.5.1", "uv"]))
values: st.SearchStrategy[Any] = st.recursive(
    scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                     st.dictionaries(st.text(max_size=6), inner, max_size=4)),
    max_leaves=12)
keys = st.sampled_from(["project", "dependencies", "targets", "indexes", "resolution",
                        "dependency-groups", "name", "python", "platform", "cuda", "gpus",
                        "sources", "url", "exclude-newer", "allow-sdist", "x"])
documents = st.dictionaries(keys, values, max_size=6)


def _toml(value: Any) -> str:
    import json

    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(str(k))} = {_toml(v)}" for k, v in value.items()
                                if v is not None) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value if v is not None) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(documents)
def test_manifest_loader_raises_only_envbuild_errors(document: dict[str, Any]) -> None:
    text = "\n".join(f"{k} = {_toml(v)}" for k, v in document.items() if v is not None)
    with contextlib.suppress(EnvbuildError):
        parse_manifest(text, path=Path("envbuild.toml"))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_manifest_loader_survives_arbitrary_text(text: str) -> None:
    with contextlib.suppress(EnvbuildError):
        parse_manifest(text, path=Path("envbuild.toml"))


def _mutations() -> st.SearchStrategy[tuple[list[str], Any]]:
    paths = st.lists(st.sampled_from(["targets", "a10g", "packages", 0, "artifact", "size", "hash",
                                      "kind", "version", "project", "name", "indexes", "gpus",
                                      "hardware", "datasets", "lock-hash"]), min_size=1, max_size=5)
    return st.tuples(paths, values)


@settings(max_examples=400, deadline=None)
@given(_mutations())
def test_lock_parser_raises_only_envbuild_errors(mutation: tuple[list[Any], Any]) -> None:
    document = tomllib.loads(dump(sample_lock()))
    path, value = mutation
    node: Any = document
    for step in path[:-1]:
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            break
    with contextlib.suppress(TypeError, IndexError):
        node[path[-1]] = value
    with contextlib.suppress(EnvbuildError):
        from_document(document)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_lock_parser_survives_arbitrary_text(text: str) -> None:
    with contextlib.suppress(EnvbuildError):
        loads(text)
