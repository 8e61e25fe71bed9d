"""S3 storage helpers of the streams files (moto): keys, round trips, head of a missing object,
presigned URLs, streaming hash."""
from __future__ import annotations

import hashlib

import boto3
import pytest
from moto import mock_aws

from chalicelib import aws
from chalicelib.config import reset_settings
from chalicelib.streams import storage


@pytest.fixture
def s3(monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("ARTIFACTS_BUCKET", "recon-unit-files")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    reset_settings()
    aws.reset_clients()
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="recon-unit-files")
        yield
    reset_settings()
    aws.reset_clients()


def test_keys_are_safe_and_stable():
    assert storage.upload_key(1001, "Orders Feb/2026 (final).csv") == "files/1001/Orders_Feb_2026_final_.csv"
    assert storage.artifact_key(9201, 2, 1, "unmatched source.csv") == \
        "streams/runs/9201/step-2/attempt-1/unmatched_source.csv"
    assert storage.safe_name("../..") == "file" and len(storage.safe_name("x" * 500)) == 120


def test_round_trips(s3, tmp_path):
    storage.put_bytes("files/1/a.csv", b"a,b\n1,2\n")
    assert storage.get_bytes("files/1/a.csv") == b"a,b\n1,2\n"
    assert storage.head("files/1/a.csv")["ContentLength"] == 8
    assert storage.head("files/1/missing.csv") is None
    src = tmp_path / "big.csv"
    src.write_bytes(b"x" * (6 * 1024 * 1024 + 3))
    storage.put_path("files/2/big.csv", src)
    out = storage.download_to("files/2/big.csv", tmp_path / "sub" / "copy.csv")
    assert out.read_bytes() == src.read_bytes()
    assert storage.sha256_of(out) == hashlib.sha256(src.read_bytes()).hexdigest()
    storage.delete("files/2/big.csv")
    assert storage.head("files/2/big.csv") is None


def test_presigned_urls_name_the_object(s3):
    url = storage.presign_get("files/3/x.csv", filename="report Feb.csv")
    assert "files/3/x.csv" in url and "response-content-disposition" in url and "Expires=" in url
    # a redirected download is named as the file too: 'données €.csv' in filename* (RFC 6266), as inline
    from urllib.parse import parse_qs, quote, urlparse
    url = storage.presign_get("files/3/z.csv", filename="données €.csv")
    (disposition,) = parse_qs(urlparse(url).query)["response-content-disposition"]
    fallback, utf8 = disposition.split("; filename*=")
    assert fallback.startswith('attachment; filename="') and fallback.isascii()
    assert utf8 == f"UTF-8''{quote('données €.csv', safe='')}"
    assert storage.content_disposition("orders (1).csv") == 'attachment; filename="orders (1).csv"'
    put = storage.presign_put("files/3/y.csv", expires=60)
    assert "files/3/y.csv" in put and "Signature" in put


@pytest.mark.parametrize("region, host", [("us-east-1", "recon-unit-files.s3.amazonaws.com"),
                                          ("eu-west-1", "recon-unit-files.s3.eu-west-1.amazonaws.com")])
def test_presigned_urls_are_signature_version_4_on_the_buckets_own_host(s3, monkeypatch, region, host):
    """S3 refuses Signature Version 2 for buckets created since June 2020 (the stack's bucket is created by
    its template), yet botocore presigns with it in us-east-1 and eu-west-1: an upload session's uploadUrl and a
    large download's redirect answered 403 on AWS. They are SigV4, on the bucket's own (regional) host, which
    signs only the host (a client's Content-Type on the PUT does not break the signature)."""
    from urllib.parse import parse_qs, urlparse

    monkeypatch.setenv("AWS_REGION", region)
    reset_settings()
    aws.reset_clients()
    for url in (storage.presign_get("files/3/x.csv", "x.csv"), storage.presign_put("uploads/3/x.csv")):
        parts = urlparse(url)
        query = parse_qs(parts.query)
        assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"] and "AWSAccessKeyId" not in query, url
        assert query["X-Amz-Credential"][0].endswith(f"/{region}/s3/aws4_request")
        assert query["X-Amz-SignedHeaders"] == ["host"]
        assert parts.scheme == "https" and parts.netloc == host, url


def test_presigned_urls_of_a_local_endpoint_keep_the_bucket_in_the_path(s3, monkeypatch):
    """LocalStack (an IP and port) has no per-bucket host names: the bucket stays in the path."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    reset_settings()
    aws.reset_clients()
    url = storage.presign_put("uploads/3/x.csv")
    assert url.startswith("http://127.0.0.1:4566/recon-unit-files/uploads/3/x.csv?X-Amz-Algorithm=AWS4-HMAC-SHA256")
