"""One spelling, one hash: every accepted spelling of a GPU, a CUDA version or a platform
is stored canonically, so it locks to the very same bytes as the canonical spelling."""

from __future__ import annotations

from pathlib import Path

from envbuild.canonical import digest
from envbuild.locking.inputs import target_inputs
from envbuild.manifest import parse_manifest
from tests.helpers import run_cli

CANONICAL = ('platform = "linux/amd64"\ncuda = "12.4"\ngpus = ["H100", "A100"]\n')
OTHER = ('platform = "linux/x86_64"\ncuda = "12.4.0"\ngpus = ["h100", "nvidia a100"]\n')


def manifest_text(target: str) -> str:
    return ('[project]\nname = "spelling"\npython = "3.11"\n\n'
            '[dependencies]\npython = ["nvidia-cuda-runtime-cu12==12.4.127"]\n\n'
            f"[targets.gpu]\n{target}")


def test_other_spellings_are_stored_canonically() -> None:
    manifest = parse_manifest(manifest_text(OTHER), path=Path("envbuild.toml"))
    target = manifest.targets["gpu"]
    assert (target.platform, target.cuda, target.gpus) == ("linux/amd64", "12.4", ("H100", "A100"))
    canonical = parse_manifest(manifest_text(CANONICAL), path=Path("envbuild.toml"))
    assert target_inputs(manifest, target) == target_inputs(canonical, canonical.targets["gpu"])
    assert digest(target_inputs(manifest, target)) == digest(target_inputs(canonical, canonical.targets["gpu"]))


def test_other_spellings_lock_to_the_same_bytes(eb_env: dict[str, str], tmp_path: Path) -> None:
    locks = []
    for name, target in (("canonical", CANONICAL), ("other", OTHER)):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "envbuild.toml").write_text(manifest_text(target))
        result = run_cli(["lock", "-f", str(folder / "envbuild.toml")])
        assert result.code == 0, result.err
        locks.append((folder / "envbuild.lock").read_bytes())
    assert locks[0] == locks[1]
    for line in (b'cuda = "12.4"', b'gpus = ["A100", "H100"]', b'platform = "linux/amd64"'):
        assert line in locks[0].splitlines()


def test_a_platform_alias_is_read_with_a_hint(eb_env: dict[str, str], tmp_path: Path) -> None:
    manifest = tmp_path / "envbuild.toml"
    manifest.write_text(manifest_text(OTHER))
    result = run_cli(["lock", "-f", str(manifest)])
    assert result.code == 0, result.err
    assert [line for line in result.err.splitlines() if line.startswith("warning:")] == [
        'warning: envbuild.toml:9: targets.gpu.platform: "linux/x86_64" is read as "linux/amd64"; '
        'write platform = "linux/amd64" to silence this warning',
    ]
