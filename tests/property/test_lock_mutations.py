"""Random mutations of a valid lock never get past the one lock reader.

A lock made by envbuild's own writer is mutated at one value (replaced by a value of any
kind, deleted, or joined by a new key), written back with the canonical emitter and read by
`envbuild.lockfile.reader.examine`, the function every command's reader calls. The reader
must either refuse it with envbuild's error, or find that it does not prove, or see exactly
the content it started with (a mutation that changed nothing); it never raises anything else.
"""

from __future__ import annotations

import copy
import string
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from envbuild.errors import EnvbuildError
from envbuild.lockfile import codec
from envbuild.lockfile.model import Artifact, LockedPackage, LockedTarget
from envbuild.lockfile.reader import examine
from envbuild.lockfile.tomlemit import dumps
from tests.support.locks import make_lock

H = "sha256:" + "ab" * 32


def _valid_document() -> dict[str, Any]:
    packages = tuple(
        LockedPackage(name=name, version=version, index=index, dependencies=deps,
                      artifact=Artifact(kind="wheel", file=f"{name.replace('-', '_')}-{version}-py3-none-any.whl",
                                        size=size, hash="sha256:" + digit * 64))
        for name, version, index, deps, size, digit in (
            ("alpha", "1.0", "default", ("beta",), 912, "1"),
            ("beta", "2.0", "mirror", (), 311, "2"),
            ("nvidia-cuda-runtime-cu12", "12.4.127", "default", (), 883, "3")))
    target = LockedTarget(name="h100", hash="", input_hash=H, platform="linux/amd64", python="3.11",
                          glibc="2.28", cuda="12.4", gpus=("H100",), driver_floor="550.54.14",
                          resolver="uv", requirements=("alpha", "beta>=2"),
                          hardware=({"row_id": "cuda:12.4", "version": "12.4", "driver_min": "550.54.14"},),
                          packages=packages, base="registry.example.com/base/python:3.11",
                          base_digest="sha256:" + "9" * 64)
    lock = make_lock([target], name="demo", exclude_newer="2025-06-01T00:00:00Z",
                     indexes={"default": {"exclude-newer-exempt": False},
                              "mirror": {"exclude-newer-exempt": True}},
                     datasets={"val": {"digest": "blake3:" + "0" * 64, "files": 3, "size": 10,
                                       "source": "data/val", "listing": "envbuild.lock.d/datasets/val.listing"}})
    return {k: v for k, v in codec.to_document(lock).items() if v is not None}


VALID = _valid_document()


def _text(document: dict[str, Any]) -> str:
    return dumps(document, header=codec.HEADER, inline=frozenset({"artifact"}))


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every location in the document: table keys and list positions, leaves and inner nodes."""
    out = [path] if path else []
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*path, key))
    elif isinstance(value, list):
        for position, item in enumerate(value):
            out += _paths(item, (*path, position))
    return out


PATHS = _paths(VALID)
scalars = st.one_of(
    st.booleans(), st.integers(-3, 2**40), st.text(max_size=12),
    st.sampled_from(["3.11", "3.12", "linux/arm64", "12.1", "H100", "A100", "default", "mirror",
                     "sha256:" + "0" * 64, "sha256:" + "f" * 64, "../../etc/passwd", "/etc/passwd",
                     "alpha-1.0-py3-none-any.whl", "alpha-1.1-py3-none-any.whl", "uv", "pip-tools",
                     "2.0", "1.0", "blake3:" + "1" * 64, "550.54.14"]))
values: st.SearchStrategy[Any] = st.recursive(
    scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                     st.dictionaries(st.text(min_size=1, max_size=6), inner, max_size=3)),
    max_leaves=6)


def _mutate(document: dict[str, Any], path: tuple[Any, ...], action: str, value: Any) -> dict[str, Any]:
    mutated = copy.deepcopy(document)
    parent: Any = mutated
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if action == "replace":
        parent[last] = value
    elif action == "delete":
        del parent[last]
    elif isinstance(parent[last], dict):  # "add": a new key beside the existing ones
        parent[last]["x-extra"] = value
    elif isinstance(parent[last], list):
        parent[last].append(value)
    else:
        parent[last] = value
    return mutated


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(PATHS), action=st.sampled_from(["replace", "delete", "add"]), value=values)
def test_a_mutated_lock_never_gets_past_the_reader(path: tuple[Any, ...], action: str, value: Any) -> None:
    mutated = _mutate(VALID, path, action, value)
    try:
        text = _text(mutated)
    except (TypeError, ValueError):
        return  # a value the lock's TOML emitter cannot write: no lock file can hold it
    try:
        examined = examine(text, source="envbuild.lock")
    except EnvbuildError:
        return  # refused, with envbuild's own error
    if examined.failures:
        return  # read, and found not to prove: every command but `lock` refuses it
    parsed = {k: v for k, v in codec.to_document(examined.lock).items() if v is not None}
    assert parsed == VALID, f"{path} {action} {value!r} got past the reader"


def test_the_unmutated_lock_proves() -> None:
    examined = examine(_text(VALID), source="envbuild.lock")
    assert examined.failures == ()
    assert {k: v for k, v in codec.to_document(examined.lock).items() if v is not None} == VALID


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(PATHS), action=st.sampled_from(["replace", "delete", "add"]), value=values)
def test_the_portable_reader_in_images_refuses_the_same_mutations(path: tuple[Any, ...], action: str,
                                                                   value: Any) -> None:
    """The stdlib reader that images and `--python` interpreters run proves hashes only (the
    values were checked when the lock was written and proved): a mutation that leaves the
    document's hashes matching its content must leave it unchanged."""
    import tomllib

    from envbuild.runtime.target import LockNotProved, RuntimeInputError, spec_from_lock_document

    mutated = _mutate(VALID, path, action, value)
    try:
        document = tomllib.loads(_text(mutated))
    except (TypeError, ValueError):
        return
    try:
        spec_from_lock_document(document, "h100", {}, source="envbuild.lock")
    except (RuntimeInputError, LockNotProved):
        return
    assert document == VALID or _text(document) == _text(VALID), f"{path} {action} {value!r} got past"


requirement_texts = st.builds(
    lambda name, op, version: name + op + version,
    st.text(alphabet=string.ascii_letters + string.digits + "._-", min_size=1, max_size=6),
    st.sampled_from(["==", ">=", "<=", "~=", "!=", "<", ">", "===", ""]),
    st.lists(st.sampled_from(["a", "b", "rc", ".post", ".dev", "+cu", "+", ".", "0", "1", "12", "07"]),
             max_size=6).map("".join))


@settings(max_examples=2000, deadline=None)
@given(text=requirement_texts)
def test_the_readers_fast_path_for_requirements_agrees_with_packaging(text: str) -> None:
    """The lock reader accepts simple requirement strings without loading packaging: each it
    accepts must be one packaging parses and writes back unchanged."""
    from packaging.requirements import InvalidRequirement, Requirement

    from envbuild.lockfile.fields import _SIMPLE_REQUIREMENT

    if _SIMPLE_REQUIREMENT.fullmatch(text):
        try:
            assert str(Requirement(text)) == text
        except InvalidRequirement:
            raise AssertionError(f"{text!r} passed the fast path but is no requirement") from None
