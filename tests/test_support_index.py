"""The local package index is real: real pip installs from it, real uv resolves against it.

The uv tests also pin down the uv behaviour envbuild's design relies on (hashes computed for
indexes that publish none, exclude-newer and files without an upload time, routing through
`tool.uv.sources`, local versions across indexes, netrc credentials), so an upgrade of uv
that changes any of it fails here first.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import re
import subprocess
import textwrap
import tomllib
import urllib.error
import urllib.request
import zipfile
from base64 import b64encode, urlsafe_b64encode
from pathlib import Path

import pytest
from packaging.pylock import Pylock
from packaging.utils import parse_wheel_filename

from tests.support.corpus import BETWEEN_BETAS, PRIVATE_AUTH, Corpus, build_corpus
from tests.support.fixtures import LocalIndex
from tests.support.indexserver import negotiate
from tests.support.tools import AARCH64_LINUX, X86_64_LINUX, make_venv, pip_install, run_uv
from tests.support.wheelfactory import DistSpec, build_sdist, build_wheel

JSON = "application/vnd.pypi.simple.v1+json"


def _get(
    url: str, accept: str | None = None, auth: tuple[str, str] | None = None
) -> http.client.HTTPResponse:
    request = urllib.request.Request(url)
    if accept:
        request.add_header("Accept", accept)
    if auth:
        request.add_header("Authorization", "Basic " + b64encode(":".join(auth).encode()).decode())
    response: http.client.HTTPResponse = urllib.request.urlopen(request, timeout=10)
    return response


def _pylock(text: str) -> Pylock:
    return Pylock.from_dict(tomllib.loads(text))


def _wheel_of(pylock: Pylock, name: str) -> dict[str, object]:
    (package,) = [p for p in pylock.packages if p.name == name]
    assert package.wheels is not None
    (wheel,) = package.wheels
    return {
        "version": str(package.version),
        "url": wheel.url,
        "size": wheel.size,
        "upload_time": wheel.upload_time,
        "hashes": dict(wheel.hashes),
    }


# -- the wheel factory ---------------------------------------------------------------------


def test_wheels_are_deterministic_valid_and_spec_named(tmp_path: Path) -> None:
    spec = DistSpec(
        name="Foo.Bar",
        version="2.5.1+cu121",
        tag="cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64",
        requires_dist=('baz>=1; sys_platform == "linux"',),
        console_scripts={"foo": "foo_bar:main"},
        files={"foo_bar/__init__.py": "def main():\n    pass\n", "foo_bar/_c.so": b"\x7fELF"},
    )
    first = build_wheel(spec, tmp_path / "a")
    second = build_wheel(spec, tmp_path / "b")

    assert (
        first.name
        == "foo_bar-2.5.1+cu121-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
    )
    assert first.read_bytes() == second.read_bytes()
    name, version, _, tags = parse_wheel_filename(first.name)
    assert (name, str(version), len(tags)) == ("foo-bar", "2.5.1+cu121", 2)
    with zipfile.ZipFile(first) as zf:
        record = zf.read("foo_bar-2.5.1+cu121.dist-info/RECORD").decode().splitlines()
        for line in record:
            path, digest, size = line.rsplit(",", 2)
            if path.endswith("RECORD"):
                continue
            data = zf.read(path)
            expected = urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            assert (digest, int(size)) == (f"sha256={expected}", len(data))
        assert zf.namelist()[-1].endswith(".dist-info/RECORD")
        assert {i.date_time for i in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        wheel = zf.read("foo_bar-2.5.1+cu121.dist-info/WHEEL").decode()
    assert "Tag: cp311-cp311-manylinux2014_x86_64" in wheel
    assert "Root-Is-Purelib: false" in wheel
    assert (
        build_sdist(spec, tmp_path / "a").read_bytes()
        == build_sdist(spec, tmp_path / "b").read_bytes()
    )


def test_corpus_is_deterministic_and_small(tmp_path: Path) -> None:
    def digests(root: Path) -> dict[str, str]:
        return {
            str(f.relative_to(root)): hashlib.sha256(f.read_bytes()).hexdigest()
            for f in sorted(root.rglob("*"))
            if f.is_file()
        }

    first = build_corpus(tmp_path / "a")
    build_corpus(tmp_path / "b")
    assert digests(tmp_path / "a") == digests(tmp_path / "b")
    assert max(f.path.stat().st_size for fs in first.files.values() for f in fs) < 4096


def test_torch_standins_tell_cuda_and_cpu_builds_apart(index_corpus: Corpus) -> None:
    def members(index: str, filename: str) -> tuple[list[str], str]:
        with zipfile.ZipFile(index_corpus.file(index, filename).path) as zf:
            names = zf.namelist()
            meta = zf.read(next(n for n in names if n.endswith(".dist-info/METADATA")))
        return names, meta.decode()

    names, meta = members("pypi", "torch-2.5.1-cp311-cp311-manylinux1_x86_64.whl")
    assert "torch/lib/libtorch_cuda.so" in names
    assert (
        "Requires-Dist: nvidia-cuda-runtime-cu12==12.4.127; "
        'platform_system == "Linux" and platform_machine == "x86_64"'
    ) in meta
    arm = "torch-2.5.1-cp311-cp311-manylinux_2_17_aarch64.manylinux2014_aarch64.whl"
    names, meta = members("pypi", arm)
    assert "torch/lib/libtorch_cuda.so" not in names
    assert "nvidia" not in meta and "Version: 2.5.1\n" in meta


# -- real pip ------------------------------------------------------------------------------


def test_pip_installs_from_the_index_into_a_fresh_venv(
    local_index: LocalIndex, hermetic_env: dict[str, str], tmp_path: Path
) -> None:
    python = make_venv(tmp_path / "venv")
    done = pip_install(
        python, ["--index-url", local_index.url("pypi"), "alpha", "greeter"], env=hermetic_env
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Successfully installed alpha-1.0 beta-2.0 greeter-1.0" in done.stdout

    probe = "import alpha, beta; print(alpha.__version__, beta.__version__)"
    out = subprocess.run([python, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["1.0", "2.0"]
    script = subprocess.run([tmp_path / "venv/bin/greet"], capture_output=True, text=True)
    assert script.stdout.strip() == "greeter 1.0"


def test_pip_installs_torch_standin_with_its_runtime_wheels(
    local_index: LocalIndex, hermetic_env: dict[str, str], tmp_path: Path
) -> None:
    target = tmp_path / "site"
    done = pip_install(
        make_venv(tmp_path / "venv"),
        ["--index-url", local_index.url("pytorch"), "--target", str(target), "torch==2.5.1+cu121"],
        env=hermetic_env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "nvidia-cuda-runtime-cu12-12.1.105" in done.stdout
    assert (target / "torch/lib/libtorch_cuda.so").exists()
    assert "cuda = '12.1'" in (target / "torch/version.py").read_text()
    assert (target / "nvidia/cuda_runtime/lib/libcudart.so.12").exists()


def test_pip_builds_the_sdist_only_package_offline(
    index_corpus: Corpus, hermetic_env: dict[str, str], tmp_path: Path
) -> None:
    target = tmp_path / "site"
    links = str(index_corpus.root / "pypi")
    done = pip_install(
        make_venv(tmp_path / "venv"),
        ["--no-index", "--find-links", links, "--target", str(target), "delta"],
        env=hermetic_env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (target / "delta/__init__.py").read_text().startswith('__version__ = "1.0"')
    assert (target / "beta").is_dir()


# -- the simple API ------------------------------------------------------------------------


def test_json_api_is_pep_691_and_700(local_index: LocalIndex) -> None:
    with _get(local_index.url("pypi") + "beta/", accept=JSON) as response:
        assert response.headers["Content-Type"] == JSON
        doc = json.load(response)
    assert doc["meta"] == {"api-version": "1.1"}
    assert (doc["name"], doc["versions"]) == ("beta", ["1.0", "2.0"])
    first = doc["files"][0]
    assert first["filename"] == "beta-1.0-py3-none-any.whl"
    assert first["upload-time"] == "2024-01-10T12:00:00.000000Z"
    assert first["core-metadata"] == first["dist-info-metadata"]
    with _get(first["url"]) as response:
        body = response.read()
        assert int(response.headers["Content-Length"]) == first["size"] == len(body)
    assert hashlib.sha256(body).hexdigest() == first["hashes"]["sha256"]
    with _get(first["url"] + ".metadata") as response:
        metadata = response.read()
    assert hashlib.sha256(metadata).hexdigest() == first["core-metadata"]["sha256"]
    assert b"Name: beta\nVersion: 1.0\n" in metadata

    with _get(local_index.url("pypi"), accept=JSON) as response:
        names = [p["name"] for p in json.load(response)["projects"]]
    assert {"alpha", "torch", "nvidia-cuda-runtime-cu12"} <= set(names)


def test_pytorch_like_index_is_html_without_hashes_or_upload_times(
    local_index: LocalIndex,
) -> None:
    with _get(local_index.url("pytorch") + "torch/", accept=JSON) as response:
        assert response.headers["Content-Type"].startswith("text/html")
        page = response.read().decode()
    assert "torch-2.5.1%2Bcu121-cp311-cp311-linux_x86_64.whl" in page
    assert "#sha256=" not in page
    assert 'data-core-metadata="true"' in page
    assert 'data-requires-python="&gt;=3.9.0"' in page


def test_non_normalised_project_names_redirect(local_index: LocalIndex) -> None:
    with _get(local_index.url("pypi") + "Nvidia_Cuda.Runtime-CU12") as response:
        assert response.url.endswith("/pypi/simple/nvidia-cuda-runtime-cu12/")


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, "html"),
        (JSON, "json"),
        (f"{JSON}, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01", "json"),
        (f"text/html, {JSON};q=0.5", "html"),
        ("application/json", None),
        ("*/*", "html"),
    ],
)
def test_content_negotiation(accept: str | None, expected: str | None) -> None:
    assert negotiate(accept) == expected


def test_basic_auth_index_refuses_without_credentials(local_index: LocalIndex) -> None:
    url = local_index.url("private") + "private-pkg/"
    with pytest.raises(urllib.error.HTTPError) as refused:
        _get(url)
    refused.value.close()
    assert refused.value.code == 401
    with _get(url, auth=PRIVATE_AUTH) as response:
        assert b"private_pkg-1.0-py3-none-any.whl" in response.read()


def test_request_log_and_broken_index(fresh_index: LocalIndex) -> None:
    url = fresh_index.file_url("pypi", "gamma-1.0-py3-none-any.whl")
    _get(url).close()
    _get(url).close()
    assert fresh_index.downloads("gamma-1.0-py3-none-any.whl") == 2

    fresh_index.server.configure("pypi", broken=503)
    with pytest.raises(urllib.error.HTTPError) as failed:
        _get(fresh_index.url("pypi") + "gamma/")
    failed.value.close()
    assert failed.value.code == 503


def test_publish_adds_a_file_while_running(fresh_index: LocalIndex) -> None:
    fresh_index.publish(DistSpec(name="late-comer", version="0.1"), index="pytorch")
    with _get(fresh_index.url("pytorch") + "late-comer/") as response:
        assert b"late_comer-0.1-py3-none-any.whl" in response.read()


# -- real uv -------------------------------------------------------------------------------


def test_uv_pylock_against_the_pypi_like_index(
    local_index: LocalIndex, index_corpus: Corpus, hermetic_env: dict[str, str]
) -> None:
    done = run_uv(
        [
            "pip",
            "compile",
            "-",
            *X86_64_LINUX,
            "--index-url",
            local_index.url("pypi"),
            "--format",
            "pylock.toml",
            "--no-header",
        ],
        env=hermetic_env,
        input="alpha\ntorch==2.5.1\n",
    )
    assert done.returncode == 0, done.stderr
    lock = _pylock(done.stdout)
    assert sorted(p.name for p in lock.packages) == [
        "alpha", "beta", "filelock", "nvidia-cublas-cu12", "nvidia-cuda-cupti-cu12",
        "nvidia-cuda-nvrtc-cu12", "nvidia-cuda-runtime-cu12", "nvidia-cudnn-cu12",
        "nvidia-nccl-cu12", "nvidia-nvjitlink-cu12", "torch",
    ]  # fmt: skip
    torch = _wheel_of(lock, "torch")
    served = index_corpus.file("pypi", "torch-2.5.1-cp311-cp311-manylinux1_x86_64.whl")
    assert torch["url"] == local_index.file_url("pypi", served.filename)
    assert torch["hashes"] == {"sha256": hashlib.sha256(served.path.read_bytes()).hexdigest()}
    assert torch["size"] == served.path.stat().st_size
    assert torch["upload_time"] == served.upload_time
    assert _wheel_of(lock, "nvidia-cuda-runtime-cu12")["version"] == "12.4.127"


def test_uv_requirements_output_names_who_pulls_what(
    local_index: LocalIndex, hermetic_env: dict[str, str]
) -> None:
    done = run_uv(
        ["pip", "compile", "-", *X86_64_LINUX, "--index-url", local_index.url("pypi"),
         "--format", "requirements.txt", "--no-header"],
        env=hermetic_env,
        input="alpha\ntorch==2.5.1\n",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "beta==2.0\n    # via alpha\n" in done.stdout
    assert (
        "nvidia-cublas-cu12==12.4.5.8\n    # via\n    #   nvidia-cudnn-cu12\n    #   torch\n"
        in (done.stdout)
    )
    assert "gamma" not in done.stdout  # its marker is darwin-only


def test_uv_aarch64_gets_the_cpu_torch_and_no_wheel_errors(
    local_index: LocalIndex, hermetic_env: dict[str, str]
) -> None:
    pypi = ["--index-url", local_index.url("pypi"), "--no-header"]
    done = run_uv(
        ["pip", "compile", "-", *AARCH64_LINUX, *pypi], env=hermetic_env, input="torch==2.5.1\n"
    )
    assert done.returncode == 0, done.stderr
    assert re.findall(r"^\S+==\S+", done.stdout, re.M) == ["filelock==3.16.1", "torch==2.5.1"]

    armless = run_uv(
        ["pip", "compile", "-", *AARCH64_LINUX, *pypi], env=hermetic_env, input="armless\n"
    )
    assert armless.returncode == 1
    assert "armless==1.0 has no wheels with a matching platform tag" in armless.stderr

    delta = run_uv(
        ["pip", "compile", "-", *X86_64_LINUX, *pypi, "--no-build"],
        env=hermetic_env,
        input="delta\n",
    )
    assert delta.returncode == 1
    assert "delta==1.0 has no usable wheels" in delta.stderr


def test_uv_exclude_newer_uses_upload_times(
    local_index: LocalIndex, hermetic_env: dict[str, str]
) -> None:
    instant = BETWEEN_BETAS.strftime("%Y-%m-%dT%H:%M:%SZ")
    done = run_uv(
        ["pip", "compile", "-", *X86_64_LINUX, "--index-url", local_index.url("pypi"),
         "--exclude-newer", instant, "--no-header"],
        env=hermetic_env,
        input="alpha\n",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "beta==1.0" in done.stdout


def test_uv_hashes_files_of_an_index_that_publishes_none(
    fresh_index: LocalIndex, hermetic_env: dict[str, str]
) -> None:
    """Finding (a): pylock gets a sha256 uv computed; no size (HTML), no upload-time."""
    done = run_uv(
        ["pip", "compile", "-", *X86_64_LINUX, "--index-url", fresh_index.url("pytorch"),
         "--format", "pylock.toml", "--no-header"],
        env=hermetic_env,
        input="torch==2.5.1+cu124\n",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    torch = _wheel_of(_pylock(done.stdout), "torch")
    served = fresh_index.corpus.file("pytorch", "torch-2.5.1+cu124-cp311-cp311-linux_x86_64.whl")
    assert torch["hashes"] == {"sha256": hashlib.sha256(served.path.read_bytes()).hexdigest()}
    assert (torch["size"], torch["upload_time"]) == (None, None)
    assert torch["url"] == fresh_index.file_url("pytorch", served.filename)
    # No hash to trust, so uv reads no PEP 658 metadata and downloads the wheel (twice, cold).
    assert fresh_index.downloads(served.filename) == 2
    assert not fresh_index.server.requests(kind="metadata")


def test_uv_exclude_newer_drops_files_without_upload_time_unless_exempt(
    local_index: LocalIndex, hermetic_env: dict[str, str], tmp_path: Path
) -> None:
    """Finding (b): excluded with a warning; `--exclude-newer-package NAME=false` exempts."""
    base = ["pip", "compile", "-", *X86_64_LINUX, "--index-url", local_index.url("pytorch"),
            "--exclude-newer", "2030-01-01T00:00:00Z", "--no-header"]  # fmt: skip
    refused = run_uv(base, env=hermetic_env, input="filelock\n")
    assert refused.returncode == 1
    assert (
        "warning: `filelock-3.16.1-py3-none-any.whl` is missing an upload date, "
        "but user provided: 2030-01-01T00:00:00Z"
    ) in refused.stderr
    exempt = run_uv(
        [*base, "--exclude-newer-package", "filelock=false"], env=hermetic_env, input="filelock\n"
    )
    assert exempt.returncode == 0, exempt.stderr
    assert "filelock==3.16.1" in exempt.stdout
    # A far-future date for the package does not help: no upload time is never "before".
    dated = run_uv(
        [*base, "--exclude-newer-package", "filelock=2100-01-01T00:00:00Z"],
        env=hermetic_env,
        input="filelock\n",
    )
    assert dated.returncode == 1


def _routing_project(folder: Path, pytorch_url: str, torch: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""\
            [project]
            name = "target-a10g"
            version = "0"
            requires-python = ">=3.11"
            dependencies = ["{torch}", "alpha"]

            [tool.uv.sources]
            torch = {{ index = "pytorch" }}

            [[tool.uv.index]]
            name = "pytorch"
            url = "{pytorch_url}"
            explicit = true
            """
        )
    )
    return folder / "pyproject.toml"


def test_uv_routes_one_package_to_a_named_index_through_pyproject(
    local_index: LocalIndex, hermetic_env: dict[str, str], tmp_path: Path
) -> None:
    """Finding (c): `tool.uv.sources` works from a pyproject input, even with --no-config."""
    project = _routing_project(tmp_path / "p", local_index.url("pytorch"), "torch==2.5.1+cu121")
    done = run_uv(
        ["pip", "compile", str(project), *X86_64_LINUX, "--index-url", local_index.url("pypi"),
         "--exclude-newer", "2025-01-01T00:00:00Z", "--exclude-newer-package", "torch=false",
         "--format", "pylock.toml", "--no-header"],
        env=hermetic_env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lock = _pylock(done.stdout)
    urls = {p.name: str(_wheel_of(lock, p.name)["url"]) for p in lock.packages}
    assert urls["torch"].startswith(local_index.server.base_url + "/files/pytorch/")
    assert all("/files/pypi/" in url for name, url in urls.items() if name != "torch")
    assert _wheel_of(lock, "nvidia-cuda-runtime-cu12")["version"] == "12.1.105"


def test_uv_toml_cannot_hold_sources(
    local_index: LocalIndex, hermetic_env: dict[str, str], tmp_path: Path
) -> None:
    config = tmp_path / "uv.toml"
    config.write_text('[sources]\ntorch = { index = "pytorch" }\n')
    done = run_uv(
        ["pip", "compile", "-", *X86_64_LINUX, "--config-file", str(config)],
        env=hermetic_env,
        input="torch\n",
    )
    assert done.returncode == 2
    assert "The `sources` field is not allowed in a `uv.toml` file" in done.stderr


@pytest.mark.parametrize(
    ("first", "strategy", "expected"),
    [
        ("pypi", "first-index", "torch==2.5.1"),
        ("pypi", "unsafe-best-match", "torch==2.5.1+cu124"),
        ("pytorch", "first-index", "torch==2.5.1+cu124"),
        ("pytorch", "unsafe-first-match", "torch==2.5.1+cu124"),
    ],
)
def test_uv_local_versions_across_two_indexes(
    local_index: LocalIndex, hermetic_env: dict[str, str], first: str, strategy: str, expected: str
) -> None:
    """Finding (d): `==2.5.1` matches every `+local`; the highest local label wins a tie.

    `first` is the index uv searches first: with uv the `--extra-index-url` outranks
    `--index-url`.
    """
    other = "pytorch" if first == "pypi" else "pypi"
    done = run_uv(
        ["pip", "compile", "-", *X86_64_LINUX, "--index-url", local_index.url(other),
         "--extra-index-url", local_index.url(first), "--index-strategy", strategy,
         "--no-header"],
        env=hermetic_env,
        input="torch==2.5.1\n",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert re.findall(r"^torch==\S+", done.stdout, re.M) == [expected]


def test_uv_reads_netrc_and_never_prints_the_credentials(
    fresh_index: LocalIndex, hermetic_env: dict[str, str], tmp_path: Path
) -> None:
    """Finding (e)."""
    user, password = PRIVATE_AUTH
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine 127.0.0.1\n  login {user}\n  password {password}\n")
    netrc.chmod(0o600)
    args = ["pip", "compile", "-", *X86_64_LINUX, "--index-url", fresh_index.url("pypi"),
            "--extra-index-url", fresh_index.url("private"), "--format", "pylock.toml"]  # fmt: skip

    without = run_uv(args, env=hermetic_env, input="private-pkg\n")
    assert without.returncode == 1
    assert "lack of valid authentication credentials (401 Unauthorized)" in without.stderr

    fresh_index.clear_log()
    done = run_uv(args, env={**hermetic_env, "NETRC": str(netrc)}, input="private-pkg\n")
    assert done.returncode == 0, done.stderr
    assert "private_pkg-1.0-py3-none-any.whl" in done.stdout
    for secret in (user, password):
        assert secret not in done.stdout + done.stderr
    served = [r for r in fresh_index.server.requests(index="private") if r.status == 200]
    assert served and all(r.credentials_sent for r in served)


def test_uv_echoes_credentials_embedded_in_an_index_url(
    local_index: LocalIndex, hermetic_env: dict[str, str]
) -> None:
    """Why envbuild must never put credentials in URLs it passes to uv."""
    user, password = PRIVATE_AUTH
    url = local_index.url("private").replace("http://", f"http://{user}:{password}@")
    done = run_uv(
        ["pip", "compile", "-", *X86_64_LINUX, "--index-url", local_index.url("pypi"),
         "--extra-index-url", url, "--emit-index-url"],
        env=hermetic_env,
        input="private-pkg\n",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"--extra-index-url {url}" in done.stdout
