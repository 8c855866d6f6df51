"""The S3 source against moto's S3 server on 127.0.0.1, found through AWS_ENDPOINT_URL."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest

from envbuild.data.cache import BlobCache
from envbuild.data.filters import make_filter
from envbuild.data.hashing import hash_local
from envbuild.data.listing import parse_listing
from envbuild.errors import CheckFailed, ExternalError
from tests.data.conftest import S3
from tests.data.helpers import hashed_count, lock, make_tree, spec
from tests.helpers import run_cli

pytestmark = pytest.mark.s3

FILES = {"val/a.JPEG": b"a" * 10, "val/n1/b.JPEG": os.urandom(200_000), "val/n1/c.txt": b"c"}


@pytest.fixture
def bucket(s3: S3) -> str:
    name = f"research-{uuid.uuid4().hex[:12]}"
    client: Any = s3.client
    client.create_bucket(Bucket=name)
    for key, body in FILES.items():
        client.put_object(Bucket=name, Key=f"imagenet/{key}", Body=body)
    client.put_object(Bucket=name, Key="imagenet/val/emptyfolder/", Body=b"")  # a folder marker
    return name


def data(tmp: Path, *args: str) -> list[str]:
    return ["data", *args, "-f", str(tmp / "envbuild.toml")]


def test_lock_pull_verify_s3_prefix(tmp_path: Path, bucket: str, s3: S3) -> None:
    source = f"s3://{bucket}/imagenet/val/"
    tables = lock(tmp_path, {"imagenet-val": spec("imagenet-val", source, include=("**/*.JPEG",))})
    local = make_tree(tmp_path / "local", {k[4:]: v for k, v in FILES.items()})
    expected = hash_local(local, algorithm="blake3", include=make_filter(["**/*.JPEG"])).digest()
    assert tables["imagenet-val"]["digest"] == expected
    pulled = run_cli(data(tmp_path, "pull", "--to", str(tmp_path / "out"), "--json"))
    assert pulled.code == 0, pulled.err
    assert json.loads(pulled.out)["datasets"]["imagenet-val"]["files"] == 2
    assert (tmp_path / "out/imagenet-val/n1/b.JPEG").read_bytes() == FILES["val/n1/b.JPEG"]
    verified = run_cli(data(tmp_path, "verify"))
    assert verified.code == 0, verified.err
    assert verified.out == f"imagenet-val: ok, 2 files match ({source})\n"


def test_prefix_without_trailing_slash_and_single_object(tmp_path: Path, bucket: str) -> None:
    tables = lock(
        tmp_path,
        {
            "tree": spec("tree", f"s3://{bucket}/imagenet/val"),
            "one": spec("one", f"s3://{bucket}/imagenet/val/n1/b.JPEG"),
        },
    )
    assert tables["tree"]["files"] == 3
    assert tables["one"]["files"] == 1 and tables["one"]["size"] == 200_000
    assert run_cli(data(tmp_path, "pull", "--to", str(tmp_path / "o"))).code == 0
    assert (tmp_path / "o/one/b.JPEG").read_bytes() == FILES["val/n1/b.JPEG"]
    assert (tmp_path / "o/tree/n1/c.txt").read_bytes() == b"c"


def test_relock_trusts_etags_from_the_listing(tmp_path: Path, bucket: str, s3: S3, _isolated_cache: Path) -> None:
    specs = {"ds": spec("ds", f"s3://{bucket}/imagenet/val/")}
    first = lock(tmp_path, specs)
    listing = parse_listing((tmp_path / first["ds"]["listing"]).read_bytes(), where="x")
    assert all(e.hint and '"' in e.hint for e in listing.entries)  # ETags kept in the listing
    shutil.rmtree(_isolated_cache.parent, ignore_errors=True)
    messages: list[str] = []
    assert lock(tmp_path, specs, previous=first, messages=messages) == first
    assert hashed_count(messages) == 0
    client: Any = s3.client
    client.put_object(Bucket=bucket, Key="imagenet/val/a.JPEG", Body=b"b" * 10)
    messages.clear()
    assert lock(tmp_path, specs, previous=first, messages=messages) != first
    assert hashed_count(messages) == 1


def test_object_changed_after_locking(tmp_path: Path, bucket: str, s3: S3) -> None:
    lock(tmp_path, {"ds": spec("ds", f"s3://{bucket}/imagenet/val/")})
    client: Any = s3.client
    client.put_object(Bucket=bucket, Key="imagenet/val/n1/c.txt", Body=b"C")
    result = run_cli(data(tmp_path, "pull", "--to", str(tmp_path / "out")))
    assert result.code == 1
    assert f"error: dataset ds: 1 file(s) at s3://{bucket}/imagenet/val/ changed since locking" in (result.err)
    assert "  n1/c.txt: expected 1 bytes with blake3:" in result.err
    assert not (tmp_path / "out").exists()


def test_resume_uses_a_ranged_get(tmp_path: Path, bucket: str, _isolated_cache: Path) -> None:
    tables = lock(tmp_path, {"ds": spec("ds", f"s3://{bucket}/imagenet/val/")})
    listing = parse_listing((tmp_path / tables["ds"]["listing"]).read_bytes(), where="x")
    big = next(e for e in listing.entries if e.path == "n1/b.JPEG")
    partial = BlobCache(_isolated_cache).partial("blake3", big.hash)
    partial.parent.mkdir(parents=True)
    partial.write_bytes(FILES["val/n1/b.JPEG"][:50_000])
    assert run_cli(data(tmp_path, "pull", "--to", str(tmp_path / "out"))).code == 0
    assert (tmp_path / "out/ds/n1/b.JPEG").read_bytes() == FILES["val/n1/b.JPEG"]


def test_wrong_digest_in_manifest(tmp_path: Path, bucket: str) -> None:
    wrong = "blake3:" + "1" * 64
    with pytest.raises(CheckFailed, match=f"dataset ds: the manifest pins digest {wrong}, but"):
        lock(tmp_path, {"ds": spec("ds", f"s3://{bucket}/imagenet/val/", digest=wrong)})


def test_missing_bucket(tmp_path: Path, s3: S3) -> None:
    with pytest.raises(ExternalError) as caught:
        lock(tmp_path, {"ds": spec("ds", "s3://no-such-bucket-here/x/")})
    assert caught.value.message == "s3://no-such-bucket-here/x/ not found (NoSuchBucket)"


def test_no_credentials(tmp_path: Path, bucket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(ExternalError) as caught:
        lock(tmp_path, {"ds": spec("ds", f"s3://{bucket}/imagenet/val/")})
    assert caught.value.message == f"no AWS credentials to read s3://{bucket}/imagenet/val/"
    assert "aws configure" in (caught.value.hint or "")
