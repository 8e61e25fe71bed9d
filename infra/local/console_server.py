"""The web console, served locally the way it is on AWS: static files and the API on one origin.

    python -m infra.local.console_server --port 3080 --api http://127.0.0.1:8080 --dist frontend/dist

- `/api/...` is proxied to the API (method, headers, body streamed both ways). A redirect answered by
  a file download (`/api/v1/files/{id}/download` → presigned storage URL) is followed here, so the
  browser receives the bytes from its own origin.
- `/_upload?to=<presigned URL>` forwards a PUT of a large file to the storage endpoint of the local
  stack (only to `--storage`, never anywhere else): the browser cannot PUT across origins to
  LocalStack without CORS rules, and on AWS the bucket's CORS rule does this job.
- `/console-config.json` tells the console it runs behind this server (`uploadProxy`).
- Anything else is a file of `--dist`, or `index.html` for the console's own routes.
"""
from __future__ import annotations

import argparse
import http.client
import json
import mimetypes
import os
import posixpath
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CHUNK = 256 * 1024
HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
       "transfer-encoding", "upgrade", "host", "content-length"}


def _conn(url: urllib.parse.SplitResult, timeout: float = 300) -> http.client.HTTPConnection:
    cls = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
    return cls(url.hostname, url.port, timeout=timeout)


class Handler(BaseHTTPRequestHandler):
    server_version = "recon-console"
    protocol_version = "HTTP/1.1"
    api: urllib.parse.SplitResult
    storage: urllib.parse.SplitResult | None
    dist: str

    def log_message(self, fmt, *args):  # one line per request on stderr, as usual, without the host
        sys.stderr.write("%s %s\n" % (self.log_date_time_string(), fmt % args))

    # ------------------------------------------------------------------ routing
    def do_GET(self):
        self._route()

    def do_HEAD(self):
        self._route()

    def do_POST(self):
        self._route()

    def do_PUT(self):
        self._route()

    def do_PATCH(self):
        self._route()

    def do_DELETE(self):
        self._route()

    def _route(self):
        path = urllib.parse.urlsplit(self.path).path
        try:
            if path.startswith("/api/"):
                self._proxy_api()
            elif path == "/_upload":
                self._proxy_upload()
            elif path == "/console-config.json":
                self._send(200, json.dumps({"uploadProxy": True}).encode(), "application/json")
            elif self.command in ("GET", "HEAD"):
                self._static(path)
            else:
                self._send(405, b"method not allowed\n", "text/plain")
        except (BrokenPipeError, ConnectionResetError):
            pass
        except OSError as exc:  # the API or storage is down: say so in the API's error shape
            body = json.dumps({"error": "SERVICE_UNAVAILABLE", "message": f"The API cannot be reached ({exc})"}).encode()
            # the request's body may be unread, or read in part: the connection ends with this answer, or
            # what is left of the body would be read as the start of the next request on it
            self.close_connection = True
            self._send(502, body, "application/json", {"Connection": "close"})

    # ------------------------------------------------------------------ helpers
    def _send(self, status: int, body: bytes, ctype: str, extra: dict | None = None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _body_length(self) -> int:
        return int(self.headers.get("Content-Length") or 0)

    def _forward(self, conn: http.client.HTTPConnection, method: str, target: str, headers: dict):
        length = self._body_length()
        conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        for k, v in headers.items():
            conn.putheader(k, v)
        conn.putheader("Content-Length", str(length))
        conn.endheaders()
        left = length
        while left > 0:
            chunk = self.rfile.read(min(CHUNK, left))
            if not chunk:
                break
            conn.send(chunk)
            left -= len(chunk)
        return conn.getresponse()

    def _relay(self, resp: http.client.HTTPResponse):
        self.send_response(resp.status, resp.reason)
        length = resp.getheader("Content-Length")
        for k, v in resp.getheaders():
            if k.lower() not in HOP:
                self.send_header(k, v)
        if length is not None:
            self.send_header("Content-Length", length)
            self.end_headers()
            if self.command != "HEAD":
                while chunk := resp.read(CHUNK):
                    self.wfile.write(chunk)
        else:  # unknown length: chunked transfer to the browser
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            while chunk := resp.read(CHUNK):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")

    # ------------------------------------------------------------------ /api
    def _proxy_api(self):
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        headers["Host"] = self.api.netloc
        headers["X-Forwarded-Host"] = self.headers.get("Host", "")
        conn = _conn(self.api)
        try:
            resp = self._forward(conn, self.command, self.path, headers)
            location = resp.getheader("Location")
            if resp.status in (301, 302, 303, 307) and location and self.command == "GET":
                resp.read()
                return self._follow(location)
            self._relay(resp)
        finally:
            conn.close()

    def _follow(self, location: str):
        url = urllib.parse.urlsplit(urllib.parse.urljoin(f"{self.api.scheme}://{self.api.netloc}{self.path}", location))
        conn = _conn(url)
        try:
            conn.request("GET", urllib.parse.urlunsplit(("", "", url.path, url.query, "")), headers={"Host": url.netloc})
            self._relay(conn.getresponse())
        finally:
            conn.close()

    # ------------------------------------------------------------------ /_upload
    def _proxy_upload(self):
        if self.command != "PUT":
            return self._send(405, b"PUT only\n", "text/plain")
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        to = urllib.parse.urlsplit((query.get("to") or [""])[0])
        if self.storage is None or (to.scheme, to.netloc) != (self.storage.scheme, self.storage.netloc):
            return self._send(403, b"uploads go to the stack's storage endpoint only\n", "text/plain")
        headers = {"Host": to.netloc}
        if self.headers.get("Content-Type"):
            headers["Content-Type"] = self.headers["Content-Type"]
        conn = _conn(to)
        try:
            target = urllib.parse.urlunsplit(("", "", to.path, to.query, ""))
            self._relay(self._forward(conn, "PUT", target, headers))
        finally:
            conn.close()

    # ------------------------------------------------------------------ static files
    def _static(self, path: str):
        rel = posixpath.normpath(urllib.parse.unquote(path)).lstrip("/")
        if rel.startswith(".."):
            return self._send(404, b"not found\n", "text/plain")
        full = os.path.join(self.dist, rel) if rel else ""
        if not rel or not os.path.isfile(full):
            if rel.startswith("assets/"):
                return self._send(404, b"not found\n", "text/plain")
            full = os.path.join(self.dist, "index.html")  # the console's own routes
            if not os.path.isfile(full):
                return self._send(503, b"the console is not built: run scripts/console.sh build\n", "text/plain")
        with open(full, "rb") as fh:
            body = fh.read()
        ctype = mimetypes.guess_type(full)[0] or "application/octet-stream"
        cache = "public, max-age=31536000, immutable" if rel.startswith("assets/") else "no-cache"
        self._send(200, body, ctype, {"Cache-Control": cache, "X-Content-Type-Options": "nosniff"})


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=3080)
    p.add_argument("--api", default=os.environ.get("API_URL", "http://127.0.0.1:8080"), help="the API's origin (a /api/v1 suffix is ignored)")
    p.add_argument("--storage", default=os.environ.get("AWS_ENDPOINT_URL"), help="the storage endpoint uploads may be forwarded to")
    p.add_argument("--dist", default=os.path.join(os.path.dirname(__file__), "..", "..", "frontend", "dist"))
    a = p.parse_args(argv)
    api = urllib.parse.urlsplit(a.api)
    Handler.api = api._replace(path="", query="", fragment="")
    Handler.storage = urllib.parse.urlsplit(a.storage) if a.storage else None
    Handler.dist = os.path.abspath(a.dist)
    mimetypes.add_type("text/javascript", ".js")
    server = ThreadingHTTPServer((a.host, a.port), Handler)
    server.daemon_threads = True
    print(f"console on http://{a.host}:{a.port}/ (API {Handler.api.geturl()}, files {Handler.dist})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
