"""Random mutations of a lock's conda parts never get past the one lock reader (as
test_lock_mutations does for the rest): refused, not proved, or unchanged."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from envbuild.errors import EnvbuildError
from envbuild.lockfile import codec
from envbuild.lockfile.model import CondaPackage, LockedTarget
from envbuild.lockfile.reader import examine
from tests.property.test_lock_mutations import _mutate, _paths, _text, values
from tests.support.locks import make_lock

H = "sha256:" + "ab" * 32


def _valid_document() -> dict[str, Any]:
    records = (
        CondaPackage(name="cuda-toolkit", version="12.4.1", build="0", subdir="linux-64", channel="forge",
                     file="cuda-toolkit-12.4.1-0.conda", size=1047, hash="sha256:" + "1" * 64, md5="a" * 32,
                     dependencies=("__cuda >=12.4",)),
        CondaPackage(name="numpy", version="1.26.4", build="py311_0", subdir="linux-64", channel="forge",
                     file="numpy-1.26.4-py311_0.tar.bz2", size=90, hash="sha256:" + "2" * 64, md5="b" * 32,
                     dependencies=("python >=3.11,<3.12",)),
    )
    target = LockedTarget(name="h100", hash="", input_hash=H, platform="linux/amd64", python="3.11",
                          glibc="2.28", cuda=None, gpus=(), driver_floor=None, resolver="uv", requirements=(),
                          hardware=(), packages=(), conda=records, conda_channels=("forge",),
                          conda_requirements=("cuda-toolkit 12.4.*", "numpy"))
    lock = make_lock([target], indexes={"default": {"exclude-newer-exempt": False},
                                        "forge": {"exclude-newer-exempt": False, "kind": "conda"}})
    return {k: v for k, v in codec.to_document(lock).items() if v is not None}


VALID = _valid_document()
PATHS = [p for p in _paths(VALID) if any(str(step).startswith("conda") or step == "forge" for step in p)]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(PATHS), action=st.sampled_from(["replace", "delete", "add"]), value=values)
def test_a_mutated_conda_record_never_gets_past_the_reader(path: tuple[Any, ...], action: str,
                                                           value: Any) -> None:
    mutated = _mutate(VALID, path, action, value)
    try:
        text = _text(mutated)
    except (TypeError, ValueError):
        return
    try:
        examined = examine(text, source="envbuild.lock")
    except EnvbuildError:
        return
    if examined.failures:
        return
    parsed = {k: v for k, v in codec.to_document(examined.lock).items() if v is not None}
    assert parsed == VALID, f"{path} {action} {value!r} got past the reader"


def test_the_unmutated_conda_lock_proves() -> None:
    examined = examine(_text(VALID), source="envbuild.lock")
    assert examined.failures == ()
    assert len(PATHS) > 20
