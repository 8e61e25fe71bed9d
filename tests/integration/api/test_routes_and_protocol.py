"""Every answer is contract-shaped, including for paths no route matches, methods a route does not
have, methods HTTP servers refuse (TRACE), request lines over 8 KB, oversized bodies and a bad
Content-Length. Spoken over real HTTP to the local API server (infra/local/api_server.py) serving the
app against a real PostgreSQL."""
from __future__ import annotations

import json
import re
import socket
import threading

import pytest
import requests

from tests.integration.api.contract_schemas import check_documented

STREAMS_ERROR_KEYS = {"success", "message", "data", "errorCode", "errors"}


@pytest.fixture
def server(api, tmp_path):
    import app as application
    from chalice import local
    from chalice.config import Config

    from infra.local.api_server import ContractRequestHandler

    config = Config.create(chalice_stage="dev", app_name="recon", project_dir=str(tmp_path))
    app_obj = application.app
    if not isinstance(app_obj, local.LocalChalice):
        local.CustomLocalChalice.__bases__ = (local.LocalChalice, app_obj.__class__)
        app_obj.__class__ = local.CustomLocalChalice
    srv = local.LocalDevServer(app_obj, config, "127.0.0.1", 0, handler_cls=ContractRequestHandler)
    thread = threading.Thread(target=srv.server.serve_forever, daemon=True)
    thread.start()
    host, port = srv.server.server_address[:2]
    yield f"http://{host}:{port}", api
    srv.server.shutdown()
    srv.server.server_close()
    thread.join(timeout=10)


def raw_request(base: str, data: bytes, whole: bool = False):
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(data)
        chunks = []
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    if whole:   # every byte the server sent back (several answers on one connection)
        return b"".join(chunks)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return status, headers, body


def cdc_error(r_status, body: bytes, status: int, code: str) -> dict:
    assert r_status == status, body[:300]
    data = json.loads(body)
    check_documented(data, "Error")
    assert data["error"] == code and data["message"]
    return data


def streams_error(r_status, body: bytes, status: int, code: str) -> dict:
    assert r_status == status, body[:300]
    data = json.loads(body)
    check_documented(data, "StreamsErrorBody")
    assert set(data) >= STREAMS_ERROR_KEYS and data["success"] is False and data["data"] is None
    assert data["errorCode"] == code
    return data


@pytest.mark.parametrize("path", ["/nope", "/api/v1/nothing/here/at/all", "/api/v1/reconciliation/jobs/x/y", "/"])
def test_unknown_paths_are_404_in_the_contract_shape(server, path):
    base, api = server
    r = requests.get(base + path, headers=api.headers, timeout=30)
    data = cdc_error(r.status_code, r.content, 404, "NOT_FOUND")
    assert path.rstrip("/") in data["message"] or path == "/"
    # no key needed to learn that nothing is there, and the answer is the same
    r = requests.post(base + path, data=b"{}", timeout=30)
    cdc_error(r.status_code, r.content, 404, "NOT_FOUND")


def test_unknown_paths_under_the_streams_product_answer_in_its_envelope(server):
    base, api = server
    r = requests.get(base + "/api/v1/streams/1/nothing", headers=api.headers, timeout=30)
    streams_error(r.status_code, r.content, 404, "NOT_FOUND")


@pytest.mark.parametrize("method, path, allowed", [
    ("DELETE", "/api/v1/reconciliation/jobs", "GET, HEAD, OPTIONS"),
    ("GET", "/api/v1/reconciliation/trigger", "POST, OPTIONS"),
    ("PUT", "/api/v1/reconciliation/mismatches/550e8400-e29b-41d4-a716-446655440000/resolve", "POST, OPTIONS"),
    ("PATCH", "/api/v1/health", "GET, HEAD, OPTIONS"),
])
def test_wrong_method_is_405_naming_the_allowed_ones(server, method, path, allowed):
    base, api = server
    r = requests.request(method, base + path, headers=api.headers, timeout=30)
    data = cdc_error(r.status_code, r.content, 405, "METHOD_NOT_ALLOWED")
    assert r.headers["Allow"] == allowed and allowed in data["message"]


def test_wrong_method_without_a_key_is_401_first(server):
    base, _ = server
    r = requests.delete(base + "/api/v1/reconciliation/jobs", timeout=30)
    cdc_error(r.status_code, r.content, 401, "UNAUTHORIZED")


def test_wrong_method_on_a_streams_route_answers_in_its_envelope(server):
    base, api = server
    r = requests.put(base + "/api/v1/streams", headers=api.headers, timeout=30)
    data = streams_error(r.status_code, r.content, 405, "METHOD_NOT_ALLOWED")
    assert "GET" in r.headers["Allow"] and "POST" in r.headers["Allow"]
    assert data["errors"] == []


@pytest.mark.parametrize("method", ["TRACE", "CONNECT", "PROPFIND", "BREW"])
def test_methods_no_route_knows_are_405_json(server, method):
    base, api = server
    status, headers, body = raw_request(
        base, f"{method} /api/v1/reconciliation/jobs HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    cdc_error(status, body, 405, "METHOD_NOT_ALLOWED")
    assert headers["content-type"] == "application/json"
    assert headers["allow"] == "GET, HEAD, OPTIONS"


@pytest.mark.parametrize("path, allow", [
    ("/api/v1/streams", "GET, POST, HEAD, OPTIONS"),               # not PUT, PATCH, DELETE: those are 405 too
    ("/api/v1/streams/42/", "GET, PUT, DELETE, HEAD, OPTIONS"),   # a trailing slash, as served
    ("/api/v1/files/uploads", "POST, OPTIONS"),                    # the literal route, not /files/{id}
])
def test_a_method_no_route_knows_names_what_the_paths_route_answers(server, path, allow):
    base, api = server
    status, headers, body = raw_request(
        base, f"TRACE {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    streams_error(status, body, 405, "METHOD_NOT_ALLOWED")
    assert headers["allow"] == allow and allow in json.loads(body)["message"]
    options = requests.options(base + path, timeout=30)
    assert options.status_code == 204 and options.headers["Allow"] == allow


def test_a_method_no_route_knows_on_a_path_no_route_serves_is_404(server):
    base, api = server
    status, headers, body = raw_request(
        base, b"TRACE /api/v1/nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    cdc_error(status, body, 404, "NOT_FOUND")
    assert "allow" not in headers


def test_100_kb_query_string_is_414_json(server):
    base, api = server
    r = requests.get(base + "/api/v1/reconciliation/jobs?table=" + "a" * 100_000, headers=api.headers, timeout=30)
    cdc_error(r.status_code, r.content, 414, "URI_TOO_LONG")
    assert r.headers["Content-Type"] == "application/json"
    r = requests.get(base + "/api/v1/streams?name=" + "a" * 100_000, headers=api.headers, timeout=30)
    streams_error(r.status_code, r.content, 414, "URI_TOO_LONG")


def test_query_string_under_8_kb_is_served(server):
    base, api = server
    r = requests.get(base + "/api/v1/reconciliation/jobs?table=" + "a" * 7000, headers=api.headers, timeout=30)
    # served: the name is looked up (no table has it), not refused as a URI too long
    assert r.status_code == 400 and r.json()["error"] == "INVALID_TABLE", r.text[:300]


def test_huge_headers_are_431_json(server):
    base, api = server
    r = requests.get(base + "/api/v1/reconciliation/jobs", headers={**api.headers, **{f"x-h{i}": "v" for i in range(120)}},
                     timeout=30)
    cdc_error(r.status_code, r.content, 431, "HEADERS_TOO_LARGE")


def test_body_over_10_mb_is_413_json_without_reading_it(server):
    base, api = server
    status, _, body = raw_request(base, (
        "POST /api/v1/reconciliation/trigger HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {api.key}\r\nContent-Length: {11 * 1024 * 1024}\r\nConnection: close\r\n\r\n{{").encode())
    cdc_error(status, body, 413, "PAYLOAD_TOO_LARGE")


@pytest.mark.parametrize("length", ["abc", "-5", "+5", "5, 6", "\u0665"])
def test_bad_content_length_is_400_json(server, length):
    base, api = server
    status, _, body = raw_request(base, (
        "POST /api/v1/reconciliation/trigger HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {api.key}\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n").encode())
    cdc_error(status, body, 400, "BAD_REQUEST")


def test_two_content_lengths_that_differ_are_400_and_the_rest_is_never_served_as_a_request(server):
    """RFC 9112 6.3: the body's end is unknown. Taking the first length would serve the bytes after it as a
    request of its own (a request smuggled past a proxy that took the other length)."""
    base, api = server
    body = json.dumps({"tables": ["users"]}).encode()
    smuggled = b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    data = raw_request(base, (
        "POST /api/v1/reconciliation/trigger HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {api.key}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nContent-Length: {len(body) + len(smuggled)}\r\n\r\n").encode()
        + body + smuggled, whole=True)
    assert re.findall(rb"HTTP/1\.1 (\d{3}) ", data) == [b"400"], data[:1000]
    cdc_error(400, data.partition(b"\r\n\r\n")[2], 400, "BAD_REQUEST")


def test_the_same_content_length_twice_is_one_length(server):
    base, api = server
    sent = json.dumps({"resolution_status": "IGNORED"})
    status, _, body = raw_request(base, (
        f"POST {RESOLVE_UNKNOWN} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {api.key}\r\n"
        f"Content-Length: {len(sent)}\r\nContent-Length: {len(sent)}\r\nConnection: close\r\n\r\n{sent}").encode())
    cdc_error(status, body, 404, "MISMATCH_NOT_FOUND")


def test_a_body_shorter_than_its_content_length_is_408_json_once_the_client_stops(server, monkeypatch):
    """A client that announces 20 bytes, sends 5 and waits: answered 408 after the read timeout (1 s here,
    30 s as served) instead of holding the connection and a server thread forever; the next request is served."""
    from infra.local.api_server import ContractRequestHandler

    monkeypatch.setattr(ContractRequestHandler, "timeout", 1.0)
    base, api = server
    status, _, body = raw_request(base, (
        "POST /api/v1/reconciliation/trigger HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {api.key}\r\nContent-Length: 20\r\n\r\n{{\"ta").encode())
    cdc_error(status, body, 408, "REQUEST_TIMEOUT")
    status, _, body = raw_request(base, (
        "POST /api/v1/streams HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {api.key}\r\nContent-Length: 20\r\n\r\n{{\"na").encode())
    streams_error(status, body, 408, "REQUEST_TIMEOUT")
    r = requests.get(base + "/api/v1/reconciliation/jobs", headers={"Authorization": f"Bearer {api.key}"}, timeout=30)
    assert r.status_code == 200, r.text[:300]


def test_a_body_cut_short_by_the_client_closing_is_400_json(server):
    base, api = server
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall((
            "POST /api/v1/reconciliation/trigger HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {api.key}\r\nContent-Length: 20\r\n\r\n{{\"ta").encode())
        s.shutdown(socket.SHUT_WR)   # no more bytes will come
        answer = b"".join(iter(lambda: s.recv(65536), b""))
    head, _, body = answer.partition(b"\r\n\r\n")
    cdc_error(int(head.split(b" ")[1]), body, 400, "BAD_REQUEST")


def test_malformed_request_line_is_400_json(server):
    base, _ = server
    status, _, body = raw_request(base, b"GET /api/v1/health HTTP/1.1 extra\r\nHost: x\r\n\r\n")
    cdc_error(status, body, 400, "BAD_REQUEST")


@pytest.mark.parametrize("version", ["HTTP/2.0", "HTTP/3.1"])
def test_a_request_line_with_http_2_or_later_is_400_json(server, version):
    base, _ = server
    status, _, body = raw_request(base, f"GET /api/v1/reconciliation/jobs {version}\r\nHost: x\r\n\r\n".encode())
    cdc_error(status, body, 400, "BAD_REQUEST")
    assert "HTTP/1.1" in json.loads(body)["message"]


def test_the_routes_still_answer(server):
    base, api = server
    r = requests.get(base + "/api/v1/reconciliation/jobs?page_size=5", headers=api.headers, timeout=30)
    assert r.status_code == 200 and r.json()["pagination"]["page_size"] == 5
    r = requests.options(base + "/api/v1/reconciliation/jobs", timeout=30)
    assert r.status_code == 204 and r.headers["Allow"] == "GET, HEAD, OPTIONS"


@pytest.mark.parametrize("method, path", [("GET", "/api/v1/reconciliation/jobs"), ("POST", "/api/v1/streams/1/pause"),
                                          ("GET", "/api/v1/health")])
def test_any_content_type_is_accepted_never_chalices_415(server, method, path):
    base, api = server
    r = requests.request(method, base + path, headers={**api.headers, "Content-Type": "text/plain"}, data=b"x",
                         timeout=30)
    assert r.status_code != 415 and "Code" not in r.json(), r.text[:300]


RESOLVE_UNKNOWN = "/api/v1/reconciliation/mismatches/660e8400-e29b-41d4-a716-446655440001/resolve"


def _chunked(data: bytes, size: int = 7) -> bytes:
    parts = [b"%x\r\n%s\r\n" % (len(data[i:i + size]), data[i:i + size]) for i in range(0, len(data), size)]
    return b"".join(parts) + b"0\r\n\r\n"


def test_a_chunked_body_is_read_as_api_gateway_reads_it(server):
    """HTTP/1.1 clients stream a body of unknown length with Transfer-Encoding: chunked (requests with a
    generator, fetch with a stream); API Gateway reads it. The body reaches the route (here: a resolve of
    an unknown mismatch, 404, where a body-less request is 400 'body is required')."""
    base, api = server
    body = json.dumps({"resolution_status": "IGNORED", "resolution_notes": "soft delete"}).encode()
    r = requests.post(base + RESOLVE_UNKNOWN, headers=api.headers, data=iter([body[:10], body[10:]]), timeout=30)
    assert r.request.headers.get("Transfer-Encoding") == "chunked"
    assert r.status_code == 404 and r.json()["error"] == "MISMATCH_NOT_FOUND", r.text[:300]


def test_a_chunked_request_leaves_the_kept_alive_connection_usable(server):
    """The chunks are read to their end: the next request on the same connection is answered as itself
    (before, the unread chunks were taken for the next request line: 400)."""
    base, api = server
    host = base.removeprefix("http://")
    body = json.dumps({"resolution_status": "IGNORED"}).encode()
    first = (f"POST {RESOLVE_UNKNOWN} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {api.key}\r\n"
             "Transfer-Encoding: chunked\r\n\r\n").encode() + _chunked(body)
    second = (f"GET /api/v1/reconciliation/jobs?page_size=1 HTTP/1.1\r\nHost: {host}\r\n"
              f"Authorization: Bearer {api.key}\r\nConnection: close\r\n\r\n").encode()
    hostname, port = host.split(":")
    with socket.create_connection((hostname, int(port)), timeout=30) as s:
        s.sendall(first + second)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    statuses = [int(code) for code in re.findall(rb"HTTP/1\.1 (\d{3}) ", data)]
    assert statuses == [404, 200], data[:1000]


@pytest.mark.parametrize("headers", [
    "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",   # two framings
    "Transfer-Encoding: gzip\r\n",                             # chunked is not the last coding
    "Transfer-Encoding: chunked\r\n",                          # 'zz' is no chunk size
])
def test_a_body_whose_end_cannot_be_found_is_400_json(server, headers):
    base, api = server
    status, _, body = raw_request(base, (
        f"POST {RESOLVE_UNKNOWN} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {api.key}\r\n{headers}"
        "Connection: close\r\n\r\nzz\r\n{}\r\n0\r\n\r\n").encode())
    cdc_error(status, body, 400, "BAD_REQUEST")


def test_a_chunked_body_over_10_mb_is_413_json(server):
    base, api = server
    status, _, body = raw_request(base, (
        f"POST {RESOLVE_UNKNOWN} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {api.key}\r\n"
        f"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n{11 * 1024 * 1024:x}\r\n{{").encode())
    cdc_error(status, body, 413, "PAYLOAD_TOO_LARGE")


def test_a_query_string_sent_as_raw_utf8_is_read_as_utf8(server):
    # curl '...?table=ü' sends the UTF-8 bytes as they are; the answer names the table as it was written
    base, api = server
    status, _, body = raw_request(base, b"GET /api/v1/reconciliation/jobs?table=\xc3\xbc HTTP/1.1\r\nHost: x\r\n"
                                        + f"Authorization: Bearer {api.key}\r\nConnection: close\r\n\r\n".encode())
    data = cdc_error(status, body, 400, "INVALID_TABLE")
    assert "'ü'" in data["message"], data
