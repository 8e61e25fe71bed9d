"""S3 storage of the streams product's files (uploads, artifacts, snapshots).

One bucket (settings.artifacts_bucket; LocalStack locally through AWS_ENDPOINT_URL). Keys:
`files/{file_id}/{filename}` for uploads, `streams/runs/{run}/step-{order}/attempt-{n}/{name}` for
run outputs. Bytes move with boto3's managed transfers (bounded memory): one request per object up to
STREAM_TRANSFER_MULTIPART_MB (default 256), parallel parts / ranged GETs of a quarter of that above it.
Measured against LocalStack on 28–64 MB artifacts and inputs: boto3's default (8 MB parts, ranged GETs)
costs the S3 server 40–70 % more CPU and is slower than one request; on AWS, parallel parts pay off
for objects of hundreds of MB.
"""
from __future__ import annotations

import hashlib
import os
import re
import urllib.parse
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO

from chalicelib import aws
from chalicelib.config import get_settings

PRESIGN_SECONDS = 3600
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def bucket() -> str:
    return get_settings().artifacts_bucket


def safe_name(filename: str) -> str:
    """A key-safe version of a file name (the original is kept in the control plane)."""
    name = _UNSAFE.sub("_", filename).strip("._") or "file"
    return name[:120]


def upload_key(file_id: int, filename: str) -> str:
    return f"files/{file_id}/{safe_name(filename)}"


def staging_key(file_id: int, filename: str) -> str:
    """Where an upload session's presigned PUT writes. The worker stores the bytes it inspected under
    upload_key, so a PUT to a still valid URL after the session completed changes nothing a file serves
    (uploaded files are immutable); the bucket's lifecycle rule expires what is left under uploads/."""
    return f"uploads/{file_id}/{safe_name(filename)}"


def artifact_key(run_id: int, step_order: int, attempt_no: int, name: str) -> str:
    return f"streams/runs/{run_id}/step-{step_order}/attempt-{attempt_no}/{safe_name(name)}"


def _s3():
    return aws.client("s3")


@lru_cache(maxsize=1)
def transfer_config():
    from boto3.s3.transfer import TransferConfig

    threshold = max(8, int(os.environ.get("STREAM_TRANSFER_MULTIPART_MB", "256"))) << 20
    return TransferConfig(multipart_threshold=threshold, multipart_chunksize=max(8 << 20, threshold // 4),
                          max_concurrency=8)


def put_bytes(key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
    _s3().put_object(Bucket=bucket(), Key=key, Body=data, ContentType=content_type)


def put_path(key: str, path: str | Path, content_type: str = "application/octet-stream") -> None:
    _s3().upload_file(str(path), bucket(), key, ExtraArgs={"ContentType": content_type}, Config=transfer_config())


def put_stream(key: str, fileobj: BinaryIO, content_type: str = "application/octet-stream") -> None:
    _s3().upload_fileobj(fileobj, bucket(), key, ExtraArgs={"ContentType": content_type}, Config=transfer_config())


def download_to(key: str, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _s3().download_file(bucket(), key, str(path), Config=transfer_config())
    return path


def get_bytes(key: str, first: int | None = None) -> bytes:
    """The object's bytes (only its `first` bytes when given: a ranged GET)."""
    extra = {"Range": f"bytes=0-{first - 1}"} if first else {}
    return _s3().get_object(Bucket=bucket(), Key=key, **extra)["Body"].read()


def head(key: str) -> dict | None:
    """The object's metadata (ContentLength, ...), or None when there is no object."""
    from botocore.exceptions import ClientError

    try:
        return _s3().head_object(Bucket=bucket(), Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise


def list_keys(prefix: str = "") -> list[str]:
    """Every object key in the bucket (under `prefix`)."""
    keys: list[str] = []
    for page in _s3().get_paginator("list_objects_v2").paginate(Bucket=bucket(), Prefix=prefix):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return keys


def is_missing(exc: BaseException) -> bool:
    """An S3 error meaning the object (or the bucket) is not there."""
    from botocore.exceptions import ClientError

    return isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") in (
        "404", "NoSuchKey", "NotFound", "NoSuchBucket")


def delete(key: str) -> None:
    _s3().delete_object(Bucket=bucket(), Key=key)


def content_disposition(filename: str) -> str:
    """attachment with the file's own name: plain when it is printable ASCII, otherwise an ASCII fallback
    and the UTF-8 name (RFC 6266 / RFC 8187 filename*), so 'données €.csv' downloads as itself."""
    if filename.isascii() and filename.isprintable() and '"' not in filename and "\\" not in filename:
        return f'attachment; filename="{filename}"'
    return f"attachment; filename=\"{safe_name(filename)}\"; filename*=UTF-8''{urllib.parse.quote(filename, safe='')}"


def presign_get(key: str, filename: str | None = None, expires: int = PRESIGN_SECONDS,
                content_type: str | None = None) -> str:
    params = {"Bucket": bucket(), "Key": key}
    if filename:
        params["ResponseContentDisposition"] = content_disposition(filename)
    if content_type:   # what S3 answers the presigned GET with, whatever the object was stored as
        params["ResponseContentType"] = content_type
    return _s3().generate_presigned_url("get_object", Params=params, ExpiresIn=expires)


def presign_put(key: str, expires: int = PRESIGN_SECONDS) -> str:
    return _s3().generate_presigned_url("put_object", Params={"Bucket": bucket(), "Key": key}, ExpiresIn=expires)


def sha256_of(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()
