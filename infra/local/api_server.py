"""The local API server: `chalice local`'s gateway, made to answer like API Gateway in front of the app.

    python -m infra.local.api_server --host 127.0.0.1 --port 8090 --stage local

What it changes from `chalice local` (local only; not part of the deployed package):
- greedy `{proxy+}` routes match any number of path segments, as on API Gateway, so an unknown path
  reaches the app's catch-all and is answered 404 in the contract's shape;
- what the HTTP layer refuses before any route runs (TRACE and other unknown methods, request lines
  over 8 KB, headers too large, malformed requests, bodies over 10 MB, a bad Content-Length) is
  answered in the contract's shape (JSON), never with http.server's HTML pages;
- a `Transfer-Encoding: chunked` request body is read, as API Gateway reads it (`chalice local` took
  such a request for one without a body and left its chunks on the connection).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlparse

from chalice import local
from chalice.local import ChaliceRequestHandler, LocalGateway, MatchResult, RouteMatcher

PROXY_PATH = "/{proxy+}"
MAX_REQUEST_LINE = 8192           # API Gateway rejects longer URLs too
MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
#: how long the server waits for more of a request (its line, headers or body) before answering 408 (a request
#: begun) or closing (an idle kept-alive connection); API Gateway's own limit is 29 s for the whole exchange
READ_TIMEOUT_S = 30.0
_DIGITS = re.compile(r"[0-9]+")
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,8})[ \t]*(?:;[^\r\n]*)?\r?\n")  # size, extensions ignored


class GreedyRouteMatcher(RouteMatcher):
    """RouteMatcher that also knows API Gateway's greedy `{proxy+}` (one or more segments), tried last."""

    def __init__(self, route_urls):
        self.has_proxy = PROXY_PATH in route_urls
        super().__init__([u for u in route_urls if u != PROXY_PATH])

    def match_route(self, url: str) -> MatchResult:
        try:
            return super().match_route(url)
        except ValueError:
            parsed = urlparse(url)
            path = parsed.path
            if not self.has_proxy or path in ("", "/"):
                raise
            query = parse_qs(parsed.query, keep_blank_values=True)
            return MatchResult(PROXY_PATH, {"proxy": path.strip("/")}, query)


def gateway_for(app_object, config) -> LocalGateway:
    gateway = LocalGateway(app_object, config)
    gateway.event_converter._route_matcher = GreedyRouteMatcher(list(app_object.routes))
    return gateway


def _error_json(status: int, method: str | None, path: str | None) -> tuple[int, bytes, dict]:
    from chalicelib.api.core import protocol_error

    code, body, headers = protocol_error(status, method, path)
    return code, json.dumps(body, separators=(",", ":")).encode(), headers


class ContractRequestHandler(ChaliceRequestHandler):
    """ChaliceRequestHandler with API Gateway's routing and contract-shaped protocol errors."""

    #: set on the socket by StreamRequestHandler.setup: a client that stops sending (a Content-Length longer
    #: than the body it sent) gets its 408 instead of holding a thread forever
    timeout = READ_TIMEOUT_S

    def __init__(self, request, client_address, server, app_object, config):
        self.local_gateway = gateway_for(app_object, config)
        BaseHTTPRequestHandler.__init__(self, request, client_address, server)  # handles the request

    def handle_one_request(self) -> None:
        # http.server reads up to 64 KB of request line; API Gateway refuses long URLs much earlier
        self.raw_requestline = b""
        try:
            self.raw_requestline = self.rfile.readline(MAX_REQUEST_LINE + 1)
            if len(self.raw_requestline) > MAX_REQUEST_LINE:
                self.requestline = self.request_version = self.command = ""
                self._path_hint = self._hint_from(self.raw_requestline)
                self.rfile.readline(65537)  # drain a little; the connection closes after the answer
                self.send_error(414)
                return
            if not self.raw_requestline:
                self.close_connection = True
                return
            if not self.parse_request():
                return
            # http.server reads the request line as latin-1; the bytes of a URL sent without percent-encoding
            # (curl '...?table=ü') are UTF-8, as API Gateway reads them
            self.path = self.path.encode("latin-1").decode("utf-8", "replace")
            mname = "do_" + self.command
            if not hasattr(self, mname):
                self.send_error(501)
                return
            getattr(self, mname)()
            self.wfile.flush()
        except TimeoutError as exc:
            # a kept-alive connection with no next request, or a client that stopped inside its request
            # line or headers (one that stops inside its body is answered 408, see _read_body)
            if self.raw_requestline:
                self.log_error("Request timed out: %r", exc)
            self.close_connection = True

    @staticmethod
    def _hint_from(raw: bytes) -> tuple[str | None, str | None]:
        parts = raw[:4096].decode("latin-1", "replace").split(" ")
        return (parts[0] if parts else None, parts[1] if len(parts) > 1 else None)

    def send_error(self, code: int, message: Any = None, explain: Any = None) -> None:
        method, path = getattr(self, "_path_hint", (None, None))
        method = getattr(self, "command", None) or method
        path = getattr(self, "path", None) or path
        status, body, headers = _error_json(int(code), method, path)
        self.log_error("code %d, message %s, answered %d%s", int(code), message, status,
                       f" (request id {headers['X-Request-Id']})" if "X-Request-Id" in headers else "")
        if self.request_version == "HTTP/0.9":
            self.request_version = "HTTP/1.1"  # HTTP/0.9 is not served: answer with a status line and headers
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.close_connection = True
        if self.command != "HEAD":
            self.wfile.write(body)

    def _parse_payload(self):
        codings = [c.strip().lower() for c in self.headers.get("transfer-encoding", "").split(",") if c.strip()]
        if codings:
            # a body of unknown length (requests with a generator, fetch with a stream): API Gateway reads it.
            # Chunked must be the only coding and the only framing, else the body's end is unknown (RFC 9112 6.1)
            if codings != ["chunked"] or "content-length" in self.headers:
                raise _Refused(400)
            return dict(self.headers), self._read_chunked()
        # one length, in ASCII digits: several Content-Length fields (or a list) that differ leave the body's end
        # unknown, and a server that took one of them would read the rest as a request of its own (RFC 9112 6.3)
        lengths = {v.strip() for field in self.headers.get_all("content-length") or ["0"] for v in field.split(",")}
        if len(lengths) != 1 or not _DIGITS.fullmatch(next(iter(lengths))):
            raise _Refused(400)
        length = int(lengths.pop())
        if length > MAX_BODY_BYTES:
            raise _Refused(413)
        body = self._read_body(length) if length > 0 else None
        return dict(self.headers), body

    def _read_body(self, n: int) -> bytes:
        """`n` bytes of the body; a client that sends fewer and stops is answered 408 after READ_TIMEOUT_S."""
        try:
            data = self.rfile.read(n)
        except TimeoutError:
            raise _Refused(408) from None
        if len(data) != n:   # the client closed its side before the end of the body it announced
            raise _Refused(400)
        return data

    def _read_chunked(self) -> bytes | None:
        """The chunks to their end (trailer lines included), so a kept-alive connection stays in step."""
        try:
            return self._read_chunks()
        except TimeoutError:
            raise _Refused(408) from None

    def _read_chunks(self) -> bytes | None:
        body = bytearray()
        while True:
            line = self.rfile.readline(1024)
            size = _CHUNK_SIZE.fullmatch(line)
            if size is None:
                raise _Refused(400)
            n = int(size.group(1), 16)
            if n == 0:
                break
            if len(body) + n > MAX_BODY_BYTES:
                raise _Refused(413)
            chunk = self.rfile.read(n)
            if len(chunk) != n or self.rfile.readline(3) not in (b"\r\n", b"\n"):
                raise _Refused(400)
            body += chunk
        for _ in range(100):  # the trailer section ends with an empty line
            line = self.rfile.readline(8193)
            if line in (b"\r\n", b"\n", b""):
                return bytes(body) or None
        raise _Refused(431)

    def _generic_handle(self) -> None:
        try:
            super()._generic_handle()
        except _Refused as refused:
            self.send_error(refused.status)

    def _send_http_response(self, code, headers, body) -> None:
        if self.command == "HEAD":   # status and headers only (RFC 9110 §9.3.2), as API Gateway answers HEAD
            self.send_response(code)
            if not any(k.lower() == "content-length" for k in headers):
                self.send_header("Content-Length", str(len(body.encode() if isinstance(body, str) else body or b"")))
            self.send_header("Content-Type", headers.pop("Content-Type", "application/json"))
            self._send_headers(headers)
            return
        super()._send_http_response(code, headers, body)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _generic_handle


class _Refused(Exception):
    def __init__(self, status: int):
        super().__init__(status)
        self.status = status


def create_server(project_dir: str, stage: str, host: str, port: int):
    from chalice.cli.factory import CLIFactory
    from chalice.deploy.validate import validate_routes

    factory = CLIFactory(project_dir=project_dir, environ=os.environ)
    config = factory.create_config_obj(chalice_stage_name=stage)
    app_obj = config.chalice_app
    validate_routes(app_obj.routes)
    local.CustomLocalChalice.__bases__ = (local.LocalChalice, app_obj.__class__)
    app_obj.__class__ = local.CustomLocalChalice
    return local.LocalDevServer(app_obj, config, host, port, handler_cls=ContractRequestHandler)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--stage", default="local")
    parser.add_argument("--project-dir", default=os.getcwd())
    args = parser.parse_args(argv)
    os.environ.setdefault("AWS_CHALICE_CLI_MODE", "true")
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(message)s")
    server = create_server(args.project_dir, args.stage, args.host, args.port)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
