"""`envbuild lock` with conda packages, against a local channel and the local PyPI index."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from tests.conda.conftest import conda_manifest
from tests.helpers import run_cli
from tests.support.conda_channel import CondaChannel, CondaSpec, python_package, standard_channel


def _conda(lock: Path, target: str) -> dict[str, dict[str, object]]:
    return {r["name"]: r for r in tomllib.loads(lock.read_text())["targets"][target]["conda"]}


def test_each_target_gets_its_own_build(eb_env: dict[str, str], tmp_path: Path,
                                        conda_channel: tuple[CondaChannel, str]) -> None:
    channel, url = conda_channel
    result = run_cli(["lock", "-f", str(conda_manifest(tmp_path, url))])
    assert result.code == 0, result.err
    lock = tmp_path / "envbuild.lock"
    gpu, arm = _conda(lock, "gpu"), _conda(lock, "arm")
    assert (gpu["accel"]["build"], gpu["accel"]["subdir"]) == ("cuda_0", "linux-64")
    assert (arm["accel"]["build"], arm["accel"]["subdir"]) == ("cpu_0", "linux-aarch64")
    assert gpu["cuda-toolkit"]["version"] == "12.4.1"  # 12.8.0 needs __cuda >=12.8
    assert "cuda-toolkit" not in arm
    assert gpu["tinyutil"]["subdir"] == "noarch"
    record = channel.repodata("linux-64")["packages.conda"]["accel-1.0-cuda_0.conda"]  # type: ignore[index]
    assert gpu["accel"] == {
        "name": "accel", "version": "1.0", "build": "cuda_0", "subdir": "linux-64", "channel": "forge",
        "file": "accel-1.0-cuda_0.conda", "size": record["size"], "hash": f"sha256:{record['sha256']}",
        "md5": record["md5"], "dependencies": ["__cuda >=12", "__glibc >=2.17"]}
    assert gpu["prefixed"]["file"] == "prefixed-1.0-0.tar.bz2"
    text = lock.read_text()
    assert "127.0.0.1" not in text  # channels by name only
    data = tomllib.loads(text)
    assert data["indexes"]["forge"] == {"exclude-newer-exempt": False, "kind": "conda"}
    assert data["targets"]["gpu"]["conda-channels"] == ["forge"]
    assert data["targets"]["gpu"]["conda-requirements"] == [
        "accel", "beta", "cuda-toolkit", "prefixed", "python 3.11.*", "tinyutil"]
    # beta comes from conda: the PyPI set keeps alpha and its edge, never a second beta.
    pypi = {p["name"]: p for p in data["targets"]["arm"]["packages"]}
    assert sorted(pypi) == ["alpha"]
    assert pypi["alpha"]["dependencies"] == ["beta"]
    assert arm["beta"]["version"] == "1.0" and arm["python"]["version"] == "3.11.9"
    check = run_cli(["lock", "-f", str(tmp_path / "envbuild.toml"), "--check"])
    assert check.code == 0, check.err


def _error(err: str) -> str:
    """Standard error from the error line on (progress lines come first)."""
    lines = err.splitlines()
    return "\n".join(lines[next(i for i, line in enumerate(lines) if line.startswith("error: ")):])


def _lock_with(tmp_path: Path, url: str, conda: str, *, targets: str | None = None) -> tuple[int, str]:
    result = run_cli(["lock", "-f", str(conda_manifest(tmp_path, url, conda=conda, python="", targets=targets))])
    assert not (tmp_path / "envbuild.lock").exists()
    return result.code, _error(result.err)


GPU_ONLY = '[targets.gpu]\nplatform = "linux/amd64"\ncuda = "12.4"\ngpus = ["H100"]\n'


def test_a_package_needing_a_newer_glibc_is_refused(eb_env: dict[str, str], tmp_path: Path,
                                                    conda_channel: tuple[CondaChannel, str]) -> None:
    code, err = _lock_with(tmp_path, conda_channel[1], '"needsnewglibc"')
    assert code == 2
    assert err.splitlines()[:5] == [
        'error: target "arm": the conda packages cannot be solved:',
        "  Cannot solve the request because of: needsnewglibc * cannot be installed because there are no "
        "viable options:",
        "  └─ needsnewglibc 1.0 would require",
        "     └─ __glibc >=2.34, for which no candidates were found.",
        "hint: __glibc is the target's glibc floor (2.28): pin a build made for glibc 2.28, or raise the "
        "target's glibc",
    ]


def test_a_toolkit_needing_a_newer_cuda_is_refused(eb_env: dict[str, str], tmp_path: Path,
                                                   conda_channel: tuple[CondaChannel, str]) -> None:
    code, err = _lock_with(tmp_path, conda_channel[1], '"cuda-toolkit=12.8"', targets=GPU_ONLY)
    assert code == 2
    assert err.splitlines()[0] == 'error: target "gpu": the conda packages cannot be solved:'
    assert "__cuda >=12.8, for which no candidates were found." in err
    assert err.splitlines()[-1] == ("hint: __cuda is the target's CUDA (12.4): pin a build made for CUDA 12.4, "
                                    "or raise the target's cuda")


def test_a_cuda_version_newer_than_the_target_is_refused(eb_env: dict[str, str], tmp_path: Path,
                                                         conda_channel: tuple[CondaChannel, str]) -> None:
    # conda-forge's cuda-version only constrains __cuda >=12: the solver alone would take 12.8.
    code, err = _lock_with(tmp_path, conda_channel[1], '"cuda-version"', targets=GPU_ONLY)
    assert code == 2
    # cuda-version has no CPU build: no "select the CPU build" advice.
    assert err.splitlines()[:2] == ['error: target "gpu": cuda-version 12.8 is newer than the target\'s CUDA 12.4',
                                    "hint: pin cuda-version=12.4, or raise the target's cuda"]


def test_a_cuda_target_never_gets_a_cpu_build_silently(eb_env: dict[str, str], tmp_path: Path,
                                                       conda_channel: tuple[CondaChannel, str]) -> None:
    code, err = _lock_with(tmp_path, conda_channel[1], '"dual"', targets=GPU_ONLY)
    assert code == 2
    assert err.splitlines()[:2] == [
        'error: target "gpu": dual 1.0 cpu_0 is a CPU build; its CUDA build cuda_0 needs __cuda >=12.6, newer '
        "than the target's CUDA 12.4",
        "hint: raise the target's cuda, or pin a dual version built for CUDA 12.4; to take the CPU build on "
        'purpose, select it: "dual * cpu*"']


def test_a_conda_python_other_than_the_targets_is_refused(eb_env: dict[str, str], tmp_path: Path,
                                                          conda_channel: tuple[CondaChannel, str]) -> None:
    code, err = _lock_with(tmp_path, conda_channel[1], '"python=3.12"', targets=GPU_ONLY)
    assert code == 2
    assert err.splitlines()[0] == 'error: target "gpu": the conda packages cannot be solved:'
    assert "python 3.12.*" in err
    assert err.splitlines()[-1] == ("hint: conda's python is constrained to the target's python (3.11.*): "
                                    "change the python spec, or the target's python")


def test_a_conda_python_the_channel_has_but_the_target_does_not_names_the_targets_python(
        eb_env: dict[str, str], tmp_path: Path) -> None:
    channel = standard_channel(tmp_path / "channel")
    channel.add(python_package("3.12.4"))
    channel.index()
    project = tmp_path / "project"
    project.mkdir()
    with channel.serve() as url:
        code, err = _lock_with(project, url, '"python=3.12"', targets=GPU_ONLY)
    assert code == 2
    assert "python 3.11.*" in err  # the constraint envbuild adds, shown by the solver
    assert err.splitlines()[-1] == ("hint: conda's python is constrained to the target's python (3.11.*): "
                                    "change the python spec, or the target's python")


def test_a_file_replaced_in_the_channel_is_refused_on_relock(eb_env: dict[str, str], tmp_path: Path) -> None:
    channel = standard_channel(tmp_path / "channel")
    project = tmp_path / "project"
    project.mkdir()
    with channel.serve() as url:
        manifest = conda_manifest(project, url, conda='"accel"', python="", targets=GPU_ONLY)
        assert run_cli(["lock", "-f", str(manifest)]).code == 0
        lock = project / "envbuild.lock"
        before = lock.read_bytes()
        record = _conda(lock, "gpu")["accel"]
        channel.tamper("linux-64", "accel-1.0-cuda_0.conda", size=4242, sha256="ab" * 32)
        result = run_cli(["lock", "-f", str(manifest), "--upgrade"])
    assert result.code == 1
    assert _error(result.err).splitlines()[:3] == [
        'error: target "gpu": a locked conda package changed under the same file name:',
        f"  forge/linux-64/accel-1.0-cuda_0.conda: the lock pins size {record['size']}, {record['hash']}, "
        f"md5 {record['md5']}; the channel now serves size 4242, sha256:{'ab' * 32}, md5 {record['md5']}",
        "hint: a channel must never replace a published file; check the channel (or its mirror) before "
        "trusting it",
    ]
    assert lock.read_bytes() == before


def test_a_changed_conda_hash_makes_the_lock_fail_to_prove(eb_env: dict[str, str], tmp_path: Path,
                                                           conda_channel: tuple[CondaChannel, str]) -> None:
    manifest = conda_manifest(tmp_path, conda_channel[1], conda='"accel"', python="", targets=GPU_ONLY)
    assert run_cli(["lock", "-f", str(manifest)]).code == 0
    lock = tmp_path / "envbuild.lock"
    record = _conda(lock, "gpu")["accel"]
    lock.write_text(lock.read_text().replace(str(record["hash"]), "sha256:" + "cd" * 32))
    result = run_cli(["show", "-f", str(manifest)])
    assert result.code == 1
    assert 'target "gpu": its content does not match its recorded hash' in result.err


def test_check_names_a_changed_conda_spec_offline(eb_env: dict[str, str], tmp_path: Path,
                                                  conda_channel: tuple[CondaChannel, str]) -> None:
    manifest = conda_manifest(tmp_path, conda_channel[1], conda='"accel"', python="", targets=GPU_ONLY)
    assert run_cli(["lock", "-f", str(manifest)]).code == 0
    conda_manifest(tmp_path, "http://127.0.0.1:9/unreachable", conda='"accel", "tinyutil"', python="",
                   targets=GPU_ONLY)
    result = run_cli(["lock", "-f", str(manifest), "--check"])
    assert result.code == 1
    assert result.err.splitlines()[1:] == ['  - target "gpu": +conda:tinyutil', "run `envbuild lock` to update it"]
    # The channel's URL is not an input: a mirror does not make the lock stale.
    conda_manifest(tmp_path, "http://127.0.0.1:9/mirror", conda='"accel"', python="", targets=GPU_ONLY)
    assert run_cli(["lock", "-f", str(manifest), "--check"]).code == 0


def test_diff_names_conda_records_by_name(eb_env: dict[str, str], tmp_path: Path,
                                          conda_channel: tuple[CondaChannel, str]) -> None:
    url = conda_channel[1]
    manifest = conda_manifest(tmp_path, url, conda='"accel"', python="", targets=GPU_ONLY)
    assert run_cli(["lock", "-f", str(manifest), "--lock", str(tmp_path / "old.lock")]).code == 0
    conda_manifest(tmp_path, url, conda='"accel", "tinyutil"', python="", targets=GPU_ONLY)
    assert run_cli(["lock", "-f", str(manifest), "--lock", str(tmp_path / "new.lock")]).code == 0
    result = run_cli(["diff", str(tmp_path / "old.lock"), str(tmp_path / "new.lock"), "--json"])
    assert result.code == 0, result.err
    fields = {f["path"]: f for f in json.loads(result.out)["targets"]["gpu"]["fields"]}
    assert fields["conda.tinyutil"]["old"] is None
    assert fields["conda.tinyutil"]["new"]["file"] == "tinyutil-0.1-0.conda"
    assert fields["conda-requirements"] == {"path": "conda-requirements", "old": ["accel"],
                                            "new": ["accel", "tinyutil"]}
    assert "conda.accel" not in " ".join(fields)


def test_a_relock_keeps_conda_pins_until_upgrade(eb_env: dict[str, str], tmp_path: Path) -> None:
    channel = standard_channel(tmp_path / "channel")
    project = tmp_path / "project"
    project.mkdir()
    lock = project / "envbuild.lock"
    with channel.serve() as url:
        manifest = conda_manifest(project, url, conda='"accel"', python="", targets=GPU_ONLY)
        assert run_cli(["lock", "-f", str(manifest)]).code == 0
        channel.add(CondaSpec(name="accel", version="1.1", build="cuda_0", depends=("__cuda >=12",)))
        channel.index()
        conda_manifest(project, url, conda='"accel", "tinyutil"', python="", targets=GPU_ONLY)
        assert run_cli(["lock", "-f", str(manifest)]).code == 0
        assert _conda(lock, "gpu")["accel"]["version"] == "1.0"
        assert run_cli(["lock", "-f", str(manifest), "--upgrade"]).code == 0
        assert (_conda(lock, "gpu")["accel"]["version"], _conda(lock, "gpu")["accel"]["build"]) == ("1.1", "cuda_0")


# What rattler itself lets through (a bad file-name key, a negative size or a non-hex hash
# it refuses while parsing): each value is checked again before it enters the lock.
MALFORMED = {
    "size-zero": ({"size": 0}, "size: '0' is not a positive size"),
    "version-not-the-files": ({"version": "0.2"},
                              'file: "tinyutil-0.1-0.conda" is not tinyutil-0.2-0.conda or .tar.bz2'),
    "build-with-a-path": ({"build": "0/../x"}, "build: '0/../x' is not a build string"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_malformed_repodata_record_never_enters_the_lock(case: str, eb_env: dict[str, str],
                                                           tmp_path: Path) -> None:
    changes, why = MALFORMED[case]
    channel = standard_channel(tmp_path / "channel")
    project = tmp_path / "project"
    project.mkdir()
    channel.tamper("noarch", "tinyutil-0.1-0.conda", **changes)
    with channel.serve() as url:
        result = run_cli(["lock", "-f", str(conda_manifest(project, url, conda='"tinyutil"', python="",
                                                             targets=GPU_ONLY))])
    assert result.code == 3
    assert _error(result.err).splitlines()[:2] == [
        f"error: target \"gpu\": channel record 'tinyutil-0.1-0.conda' {why}",
        "hint: the channel serves a malformed repodata.json; fix or replace it"]
    assert not (project / "envbuild.lock").exists()


def test_a_macos_target_solves_from_its_subdir_and_noarch(eb_env: dict[str, str], tmp_path: Path,
                                                          conda_channel: tuple[CondaChannel, str]) -> None:
    manifest = conda_manifest(tmp_path, conda_channel[1], conda='"tinyutil"', python="",
                              targets='[targets.mac]\nplatform = "darwin/arm64"\n')
    result = run_cli(["lock", "-f", str(manifest)])
    assert result.code == 0, result.err
    assert [(r["name"], r["subdir"]) for r in _conda(tmp_path / "envbuild.lock", "mac").values()] == [
        ("tinyutil", "noarch")]


def test_a_pypi_requirement_conda_provides_is_satisfied_by_conda(eb_env: dict[str, str], tmp_path: Path,
                                                                 conda_channel: tuple[CondaChannel, str]) -> None:
    manifest = conda_manifest(tmp_path, conda_channel[1], conda='"beta"', python='"beta>=1", "alpha"',
                              targets=GPU_ONLY)
    assert run_cli(["lock", "-f", str(manifest)]).code == 0
    data = tomllib.loads((tmp_path / "envbuild.lock").read_text())
    assert [p["name"] for p in data["targets"]["gpu"]["packages"]] == ["alpha"]
    assert [r["name"] for r in data["targets"]["gpu"]["conda"]] == ["beta", "python"]
    check = run_cli(["lock", "-f", str(manifest), "--check"])
    assert check.code == 0, check.err


def test_the_same_inputs_give_the_same_bytes(eb_env: dict[str, str], tmp_path: Path,
                                             conda_channel: tuple[CondaChannel, str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    manifest = conda_manifest(tmp_path, conda_channel[1])
    assert run_cli(["lock", "-f", str(manifest)]).code == 0
    first = (tmp_path / "envbuild.lock").read_bytes()
    (tmp_path / "envbuild.lock").unlink()
    monkeypatch.setenv("ENVBUILD_CACHE_DIR", str(tmp_path / "another-cache"))  # repodata fetched again
    assert run_cli(["lock", "-f", str(manifest)]).code == 0
    assert (tmp_path / "envbuild.lock").read_bytes() == first


def test_a_cpu_build_selected_on_purpose_is_kept(eb_env: dict[str, str], tmp_path: Path,
                                                 conda_channel: tuple[CondaChannel, str]) -> None:
    manifest = conda_manifest(tmp_path, conda_channel[1], conda='"dual * cpu*"', python="", targets=GPU_ONLY)
    result = run_cli(["lock", "-f", str(manifest)])
    assert result.code == 0, result.err
    assert _conda(tmp_path / "envbuild.lock", "gpu")["dual"]["build"] == "cpu_0"


def test_markdown_diff_names_conda_and_target_changes(eb_env: dict[str, str], tmp_path: Path,
                                                      conda_channel: tuple[CondaChannel, str]) -> None:
    url = conda_channel[1]
    manifest = conda_manifest(tmp_path, url, conda='"accel", "cuda-toolkit"', python="", targets=GPU_ONLY)
    assert run_cli(["lock", "-f", str(manifest), "--lock", str(tmp_path / "old.lock")]).code == 0
    conda_manifest(tmp_path, url, conda='"accel", "cuda-toolkit", "tinyutil"', python="",
                   targets=GPU_ONLY.replace('"12.4"', '"12.8"').replace('"H100"', '"A100"'))
    assert run_cli(["lock", "-f", str(manifest), "--lock", str(tmp_path / "new.lock")]).code == 0
    result = run_cli(["diff", str(tmp_path / "old.lock"), str(tmp_path / "new.lock"), "--format", "markdown"])
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    start = lines.index("**Target settings** (2)")
    assert lines[start:start + 5] == ["**Target settings** (2)", "",
                                      '- `cuda`: `12.4` -> `12.8`', '- `gpus`: `["H100"]` -> `["A100"]`', ""]
    start = lines.index("**Conda packages** (2)")
    assert lines[start:start + 5] == ["**Conda packages** (2)", "", "- `+ conda tinyutil 0.1 0`",
                                      "- `~ conda cuda-toolkit 12.4.1 -> 12.8.0`", ""]
    assert ('- `conda-requirements`: `["accel", "cuda-toolkit"]` -> `["accel", "cuda-toolkit", "tinyutil"]`'
            in lines)
