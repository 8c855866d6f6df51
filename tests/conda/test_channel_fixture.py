"""The local conda channel the conda tests use: real, reproducible packages."""

from __future__ import annotations

import bz2
import io
import json
import tarfile
import urllib.request
from pathlib import Path

from tests.support.conda_channel import PLACEHOLDER, CondaChannel, CondaSpec, python_package


def test_packages_are_byte_identical_and_served(tmp_path: Path) -> None:
    spec = CondaSpec(name="demo", version="1.0", build="cuda_0", depends=("__cuda >=12",))
    first = CondaChannel(tmp_path / "a").add(spec).read_bytes()
    second = CondaChannel(tmp_path / "b").add(spec).read_bytes()
    assert first == second
    channel = CondaChannel(tmp_path / "c")
    channel.add(spec)
    channel.index()
    with channel.serve() as url:
        with urllib.request.urlopen(f"{url}/linux-64/repodata.json") as response:
            record = json.load(response)["packages.conda"]["demo-1.0-cuda_0.conda"]
        with urllib.request.urlopen(f"{url}/linux-64/demo-1.0-cuda_0.conda") as response:
            assert response.read() == first
    assert record["depends"] == ["__cuda >=12"]
    assert record["size"] == len(first)


def test_python_package_marks_prefix_files(tmp_path: Path) -> None:
    path = CondaChannel(tmp_path).add(python_package())
    with tarfile.open(fileobj=io.BytesIO(bz2.decompress(path.read_bytes()))) as tar:
        paths = json.loads(tar.extractfile("info/paths.json").read())["paths"]  # type: ignore[union-attr]
        script = tar.extractfile("bin/python3.11").read().decode()  # type: ignore[union-attr]
        assert tar.getmember("bin/python").linkname == "python3.11"
    by_path = {row["_path"]: row for row in paths}
    assert by_path["bin/python3.11"]["prefix_placeholder"] == PLACEHOLDER
    assert by_path["bin/python3.11"]["file_mode"] == "text"
    assert PLACEHOLDER in script and "exec /usr/bin/python3" in script
    assert by_path["bin/python"]["path_type"] == "softlink"
