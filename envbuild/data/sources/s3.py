"""A dataset in S3 or an S3-compatible store: one object, or every object under a prefix.

boto3 takes credentials, region and endpoint from the user's AWS configuration
(`AWS_PROFILE`, `~/.aws/config`, `AWS_ENDPOINT_URL`, ...); envbuild never writes them
anywhere. Reads use ranged GETs, so an interrupted transfer resumes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from envbuild.data.digest import check_relpath
from envbuild.data.filters import PathFilter
from envbuild.data.sources.interface import Source, SourceError, SourceFile, TransferInterrupted

_CHUNK = 1 << 20


class S3Source(Source):
    hints_portable = True  # an object's ETag is the same for every client

    def __init__(self, location: str) -> None:
        super().__init__(location)
        parts = urlsplit(location)
        self.bucket = parts.netloc
        self.key = parts.path.lstrip("/")
        self._single: bool | None = None  # whether the source is one object; None: unknown
        self._lock = threading.Lock()
        self._client: Any = None

    def list_files(self, include: PathFilter) -> list[SourceFile]:
        client = self._s3()
        if self._is_single():
            single = self._head(self.key)
            assert single is not None
            return [single] if include.matches(single.path) else []
        prefix = self._prefix()
        files: list[SourceFile] = []
        try:
            pages = client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
            for page in pages:
                for item in page.get("Contents", []):
                    path = item["Key"][len(prefix) :]
                    if path.endswith("/") or not include.matches(path):
                        continue  # folder markers hold no data
                    why = check_relpath(path)
                    if why:
                        raise SourceError(f"s3://{self.bucket}/{item['Key']}: {why}")
                    hint = f"{item['Size']}:{item.get('ETag', '')}"
                    files.append(SourceFile(path=path, size=int(item["Size"]), hint=hint))
        except SourceError:
            raise
        except Exception as error:
            raise _error(error, f"s3://{self.bucket}/{prefix}") from None
        files.sort(key=lambda f: f.path)
        return files

    def read(self, path: str, *, offset: int = 0) -> Iterator[bytes]:
        key = self.key if self._is_single() else self._prefix() + path
        extra = {"Range": f"bytes={offset}-"} if offset else {}
        try:
            body = self._s3().get_object(Bucket=self.bucket, Key=key, **extra)["Body"]
        except Exception as error:
            if getattr(error, "response", {}).get("Error", {}).get("Code") == "InvalidRange":
                return
            raise _error(error, f"s3://{self.bucket}/{key}") from None
        try:
            while chunk := body.read(_CHUNK):
                yield chunk
        except Exception as error:
            raise TransferInterrupted(f"transfer of s3://{self.bucket}/{key} broke off: {error}") from None
        finally:
            body.close()

    def _prefix(self) -> str:
        return self.key if not self.key or self.key.endswith("/") else self.key + "/"

    def _is_single(self) -> bool:
        # s3://bucket/a/b is one object when such an object exists, else a prefix.
        if self._single is None:
            ambiguous = bool(self.key) and not self.key.endswith("/")
            self._single = ambiguous and self._head(self.key) is not None
        return self._single

    def _head(self, key: str) -> SourceFile | None:
        try:
            head = self._s3().head_object(Bucket=self.bucket, Key=key)
        except Exception as error:
            code = str(getattr(error, "response", {}).get("Error", {}).get("Code", ""))
            if code in ("404", "NoSuchKey", "NotFound"):
                return None
            raise _error(error, f"s3://{self.bucket}/{key}") from None
        name = key.rsplit("/", 1)[-1]
        size = int(head["ContentLength"])
        return SourceFile(path=name, size=size, hint=f"{size}:{head.get('ETag', '')}")

    def _s3(self) -> Any:
        with self._lock:
            if self._client is None:
                try:
                    import boto3
                except ImportError:
                    raise SourceError(
                        f"{self.location} needs boto3, which is not installed",
                        hint="pip install 'envbuild[s3]'",
                    ) from None
                # Endpoint, region and credentials: the standard AWS configuration chain.
                self._client = boto3.session.Session().client("s3")
            return self._client


def _error(error: Exception, where: str) -> SourceError:
    name = type(error).__name__
    if name in ("NoCredentialsError", "PartialCredentialsError"):
        return SourceError(
            f"no AWS credentials to read {where}",
            hint="configure them as for the aws CLI (aws configure, AWS_PROFILE, or "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)",
        )
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        code = str(response.get("Error", {}).get("Code", ""))
        if code in ("AccessDenied", "403", "Forbidden", "InvalidAccessKeyId"):
            return SourceError(
                f"permission denied reading {where} ({code})",
                hint="check the AWS credentials and the bucket policy grant s3:GetObject and s3:ListBucket",
            )
        if code in ("NoSuchBucket", "NoSuchKey", "404", "NotFound"):
            return SourceError(f"{where} not found ({code})", hint="check the source, or re-lock")
        return SourceError(f"{where}: {code or name}: {error}")
    if name in ("EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError"):
        return TransferInterrupted(f"cannot reach the S3 endpoint for {where}: {error}")
    return SourceError(f"{where}: {name}: {error}")
