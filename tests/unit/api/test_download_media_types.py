"""Downloads answer bytes with their format's media type (chalicelib/api/files.py). On AWS the Lambda proxy
response is JSON: Chalice base64-encodes a bytes body only when its Content-Type is one of the app's binary
types (which `chalice package` also declares as the REST API's binary media types). A type missing there
leaves raw bytes in the response, which the Lambda runtime cannot serialise: the download answers 502."""
from __future__ import annotations

import base64
import json

import pytest
from chalice import Response

from chalicelib.api.files import _DOWNLOAD_CONTENT
from chalicelib.streams import files

ROWS = "name,amount\nÜberweisung,1.50\n".encode()


def _served_as(row: dict, data: bytes) -> str:
    return files.media_type(row, data, whole=True)


@pytest.mark.parametrize("row, data", [
    ({"format": "CSV", "status": "READY"}, ROWS),
    ({"format": "CSV", "status": "READY"}, b"\xff\xfe" + "a\tb\n".encode("utf-16-le")),
    ({"format": "CSV", "status": "INVALID"}, "a,b\n\xe9,1\n".encode("latin-1")),
    ({"format": "CSV", "status": "READY"}, "a;b\nMüller;12,50 €\n".encode("cp1252")),
    ({"format": "PARQUET", "status": "READY"}, b"PAR1\x00\x01PAR1"),
    ({"format": "JSONL", "status": "READY"}, b'{"a": 1}\n'),
])
def test_every_download_is_a_lambda_response_with_its_bytes(row, data):
    import app

    media = _served_as(row, data)
    answer = Response(body=data, status_code=200, headers={"Content-Type": media}).to_dict(app.app.api.binary_types)
    sent = json.loads(json.dumps(answer))   # what the Lambda runtime does with it
    assert sent["isBase64Encoded"] is True, media
    assert base64.b64decode(sent["body"]) == data


def test_the_documented_download_types_are_the_apps_binary_types():
    import app

    assert set(_DOWNLOAD_CONTENT) <= set(app.app.api.binary_types)
    assert "application/json" not in app.app.api.binary_types   # JSON answers stay text


@pytest.mark.parametrize("status, data, whole, media", [
    ("READY", ROWS, True, "text/csv; charset=utf-8"),
    # Windows-1252 text is read (matching/inputs.py): its download says so, not UTF-8
    ("READY", "a;b\nMüller;12,50 €\n".encode("cp1252"), True, "text/csv; charset=windows-1252"),
    ("READY", "a;b\nMüller;12,50 €\n".encode("cp1252"), False, "text/csv; charset=windows-1252"),
    # the first bytes of a large file cut a UTF-8 character at their end: still UTF-8
    ("READY", "a,b\nÜ".encode()[:-1], False, "text/csv; charset=utf-8"),
    ("INVALID", "a,b\n\xe9,1\n".encode("latin-1"), True, "text/csv"),
    ("INVALID", ROWS, True, "text/csv; charset=utf-8"),
    ("INVALID", ROWS, False, "text/csv"),
])
def test_a_csv_download_names_the_charset_its_bytes_are_in(status, data, whole, media):
    assert files.media_type({"format": "CSV", "status": status}, data, whole=whole) == media
