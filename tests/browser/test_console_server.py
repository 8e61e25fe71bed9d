"""infra/local/console_server.py: static files, the console's routes, the /api proxy (bodies, headers,
statuses, download redirects followed), uploads forwarded to the storage endpoint only. Real sockets:
the server under test in a thread, in front of a small upstream server that records what it receives."""
from __future__ import annotations

import http.client
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from infra.local import console_server


class Upstream(BaseHTTPRequestHandler):
    seen: list = []

    def log_message(self, *a):
        pass

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        Upstream.seen.append({"method": self.command, "path": self.path, "body": body, "headers": dict(self.headers)})
        if self.path.startswith("/api/v1/files/7/download"):
            self.send_response(302)
            self.send_header("Location", f"http://127.0.0.1:{self.server.server_port}/bucket/files/7?sig=abc")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path.startswith("/bucket/"):
            data = b"order_id,amount\nA1,10.00\n"
            self.send_response(200 if self.command != "PUT" else 200)
            self.send_header("Content-Type", "text/csv")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        status = 400 if b"bad" in body else 201 if self.command == "POST" else 200
        out = json.dumps({"method": self.command, "auth": self.headers.get("Authorization"), "len": len(body)}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.send_header("X-Request-Id", "req-1")
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _answer


def _serve(server):
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    return server


@pytest.fixture(scope="module")
def console(tmp_path_factory):
    dist = tmp_path_factory.mktemp("dist")
    (dist / "assets").mkdir()
    (dist / "index.html").write_text("<!doctype html><title>console</title>")
    (dist / "assets" / "app-1.js").write_text("console.log(1)")
    (tmp_path_factory.getbasetemp() / "secret.txt").write_text("not served")
    upstream = _serve(ThreadingHTTPServer(("127.0.0.1", 0), Upstream))
    origin = f"http://127.0.0.1:{upstream.server_port}"
    handler = type("H", (console_server.Handler,), {})
    handler.api = console_server.urllib.parse.urlsplit(origin)
    handler.storage = console_server.urllib.parse.urlsplit(origin)
    handler.dist = str(dist)
    server = _serve(ThreadingHTTPServer(("127.0.0.1", 0), handler))
    yield server.server_port, upstream.server_port
    server.shutdown()
    upstream.shutdown()


def _req(port, method, path, body=None, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r, data


def test_static_files_and_the_consoles_routes(console):
    port, _ = console
    r, body = _req(port, "GET", "/assets/app-1.js")
    assert r.status == 200 and body == b"console.log(1)"
    assert r.getheader("Content-Type").startswith("text/javascript") and "immutable" in r.getheader("Cache-Control")
    for route in ("/", "/cdc/jobs?status=FAILED", "/runs/9201"):
        r, body = _req(port, "GET", route)
        assert r.status == 200 and b"<title>console</title>" in body and r.getheader("Cache-Control") == "no-cache"
    r, _ = _req(port, "GET", "/assets/missing.js")
    assert r.status == 404  # a missing asset is not answered with index.html
    r, body = _req(port, "GET", "/../secret.txt")
    assert b"not served" not in body
    r, body = _req(port, "GET", "/console-config.json")
    assert json.loads(body) == {"uploadProxy": True}


def test_api_requests_are_proxied_with_method_body_headers_and_status(console):
    port, _ = console
    Upstream.seen.clear()
    payload = json.dumps({"tables": ["users"]}).encode()
    r, body = _req(port, "POST", "/api/v1/reconciliation/trigger?x=1", payload, {"Authorization": "Bearer k1", "Content-Type": "application/json"})
    assert r.status == 201 and r.getheader("X-Request-Id") == "req-1"
    assert json.loads(body) == {"method": "POST", "auth": "Bearer k1", "len": len(payload)}
    assert Upstream.seen[-1]["path"] == "/api/v1/reconciliation/trigger?x=1" and Upstream.seen[-1]["body"] == payload
    r, body = _req(port, "PATCH", "/api/v1/exceptions/1", b'{"bad": 1}', {"Authorization": "Bearer k1"})
    assert r.status == 400 and json.loads(body)["method"] == "PATCH"  # errors pass through untouched
    big = b"x" * (3 * 1024 * 1024 + 17)
    r, body = _req(port, "POST", "/api/v1/files?filename=a.csv", big)
    assert json.loads(body)["len"] == len(big)


def test_a_download_redirect_is_followed_on_the_server(console):
    port, _ = console
    r, body = _req(port, "GET", "/api/v1/files/7/download", headers={"Authorization": "Bearer k1"})
    assert r.status == 200 and body == b"order_id,amount\nA1,10.00\n"
    assert Upstream.seen[-1]["path"] == "/bucket/files/7?sig=abc"
    assert "Authorization" not in Upstream.seen[-1]["headers"]  # the key never goes to the storage URL


def test_uploads_go_to_the_storage_endpoint_only(console):
    port, up = console
    target = f"http://127.0.0.1:{up}/bucket/files/9/big.csv?Signature=s"
    r, _ = _req(port, "PUT", "/_upload?" + console_server.urllib.parse.urlencode({"to": target}), b"a,b\n1,2\n")
    assert r.status == 200
    assert Upstream.seen[-1]["method"] == "PUT" and Upstream.seen[-1]["path"] == "/bucket/files/9/big.csv?Signature=s"
    assert Upstream.seen[-1]["body"] == b"a,b\n1,2\n" and Upstream.seen[-1]["headers"]["Host"] == f"127.0.0.1:{up}"
    for elsewhere in ("http://169.254.169.254/latest/meta-data", f"http://localhost:{up}/bucket/x", "file:///etc/passwd"):
        r, _ = _req(port, "PUT", "/_upload?" + console_server.urllib.parse.urlencode({"to": elsewhere}), b"x")
        assert r.status == 403, elsewhere
    r, _ = _req(port, "GET", "/_upload?to=" + target)
    assert r.status == 405


def test_an_unreachable_api_is_a_502_in_the_apis_error_shape(tmp_path):
    handler = type("H2", (console_server.Handler,), {})
    handler.api = console_server.urllib.parse.urlsplit("http://127.0.0.1:9")  # nothing listens on the discard port
    handler.storage = None
    handler.dist = str(tmp_path)
    server = _serve(ThreadingHTTPServer(("127.0.0.1", 0), handler))
    try:
        r, body = _req(server.server_port, "GET", "/api/v1/health")
        assert r.status == 502 and json.loads(body)["error"] == "SERVICE_UNAVAILABLE"
        r, body = _req(server.server_port, "GET", "/")
        assert r.status == 503 and b"not built" in body
    finally:
        server.shutdown()


def test_a_body_sent_to_an_unreachable_api_does_not_spoil_the_next_request(tmp_path):
    """A PUT whose body was never read (the API could not be reached) is answered 502 and its connection
    closed: kept alive, the unread body was read as the start of the browser's next request on it, which
    was answered with a raw 400 'Bad request syntax' page instead of the console."""
    handler = type("H3", (console_server.Handler,), {})
    handler.api = console_server.urllib.parse.urlsplit("http://127.0.0.1:9")
    handler.storage = None
    handler.dist = str(tmp_path)
    (tmp_path / "index.html").write_text("<!doctype html><title>console</title>")
    server = _serve(ThreadingHTTPServer(("127.0.0.1", 0), handler))
    try:
        c = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=10)
        c.request("PUT", "/api/v1/streams/1", body=json.dumps({"name": "x" * 5000}).encode(),
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        assert r.status == 502 and json.loads(r.read())["error"] == "SERVICE_UNAVAILABLE"
        # the browser's next request: on the same connection if the server kept it, on a new one if it closed it
        c.request("GET", "/exceptions?status=OPEN")
        r = c.getresponse()
        body = r.read()
        assert r.status == 200 and b"<title>console</title>" in body, (r.status, body[:200])
    finally:
        server.shutdown()
