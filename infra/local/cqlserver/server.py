"""TCP server: one thread per client connection, frames in, frames out."""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
import threading

from . import protocol as P
from .errors import CqlError, ProtocolError
from .executor import Executor, Session
from .storage import Store

log = logging.getLogger("cqlserver")

SUPPORTED_OPTIONS = {
    "CQL_VERSION": ["3.4.6"],
    "COMPRESSION": [],
    "PROTOCOL_VERSIONS": ["4/v4"],
}
MAX_FRAME = 256 * 1024 * 1024


def default_tokens(n: int = 16) -> list[int]:
    """Evenly spaced node tokens (like a single Cassandra node with num_tokens=n)."""
    step = (1 << 64) // n
    return [-(1 << 63) + step // 2 + i * step for i in range(n)]


class CqlServer:
    """A CQL native protocol v4 server backed by SQLite (``data_path``) or memory (``None``)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 9042, data_path: str | None = None,
                 num_tokens: int = 16):
        self.host = host
        self.port = port
        self.data_path = data_path
        self.tokens = default_tokens(num_tokens)
        self.store: Store | None = None
        self.executor: Executor | None = None
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._conns: set = set()
        self._conns_lock = threading.Lock()
        self._stopping = threading.Event()

    # ------------------------------------------------------------- lifecycle
    def start(self) -> "CqlServer":
        if self.data_path:
            parent = os.path.dirname(os.path.abspath(self.data_path))
            os.makedirs(parent, exist_ok=True)
        self.store = Store(self.data_path)
        self.executor = Executor(self.store, self.tokens)
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
            sock.listen(128)
        except OSError:
            sock.close()
            self.store.close()
            raise
        self.port = sock.getsockname()[1]
        self._sock = sock
        self._thread = threading.Thread(target=self._accept_loop, name="cqlserver-accept", daemon=True)
        self._thread.start()
        log.info("listening on %s:%d (%s)", self.host, self.port, self.data_path or "in memory")
        return self

    def stop(self):
        if self._stopping.is_set():
            return
        self._stopping.set()
        if self._sock is not None:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._sock.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            conn.close()
        for conn in conns:
            conn.join(timeout=5)
        if self.store is not None:
            self.store.close()
        log.info("stopped")

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _accept_loop(self):
        while not self._stopping.is_set():
            try:
                client, addr = self._sock.accept()
            except OSError:
                break
            if self._stopping.is_set():
                client.close()
                break
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = Connection(self, client, addr)
            with self._conns_lock:
                self._conns.add(conn)
            conn.start()

    def _forget(self, conn):
        with self._conns_lock:
            self._conns.discard(conn)


class Connection:
    def __init__(self, server: CqlServer, sock: socket.socket, addr):
        self.server = server
        self.sock = sock
        self.addr = addr
        local = sock.getsockname()[0]
        self.session = Session(local, server.port)
        self.thread = threading.Thread(target=self._run, name="cqlserver-conn-%s:%s" % addr[:2], daemon=True)
        self._send_lock = threading.Lock()

    def start(self):
        self.thread.start()

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def join(self, timeout=None):
        self.thread.join(timeout)

    def _send(self, data: bytes):
        with self._send_lock:
            self.sock.sendall(data)

    def _run(self):
        """Read whatever arrived, answer every complete frame, send the answers together.

        Drivers pipeline many requests on one connection; batching the reads and the writes
        keeps the per-request cost to the work itself instead of two syscalls and a wake-up.
        """
        log.debug("connection from %s", self.addr)
        buf = bytearray()
        header_size = P.HEADER.size
        try:
            while True:
                data = self.sock.recv(262144)
                if not data:
                    break
                buf += data
                out = []
                pos = 0
                closing = False
                while len(buf) - pos >= header_size:
                    version, flags, stream, opcode, length = P.HEADER.unpack_from(buf, pos)
                    if version & 0x7F != P.VERSION or version & 0x80:
                        # Answer in a frame the client can read, then hang up (the driver then
                        # retries with a lower protocol version).
                        msg = ("Invalid or unsupported protocol version (%d); supported versions are (4/v4)"
                               % (version & 0x7F)) if not version & 0x80 else "Received a response frame"
                        out.append(P.frame(P.ERROR, stream, P.error_body(0x000A, msg)))
                        log.debug("rejected protocol version %#x from %s", version, self.addr)
                        closing = True
                        break
                    if length < 0 or length > MAX_FRAME:
                        out.append(P.frame(P.ERROR, stream,
                                           P.error_body(0x000A, "Invalid frame body length %d" % length)))
                        closing = True
                        break
                    end = pos + header_size + length
                    if len(buf) < end:
                        break
                    body = bytes(buf[pos + header_size:end])
                    pos = end
                    out.append(self._handle(flags, stream, opcode, body))
                if pos:
                    del buf[:pos]
                if out:
                    self._send(b"".join(out))
                if closing:
                    break
        except (ConnectionError, OSError):
            pass
        except Exception:  # never let a bug kill the server silently
            log.exception("connection %s failed", self.addr)
        finally:
            try:
                self.sock.close()
            except OSError:
                pass
            self.server._forget(self)
            log.debug("connection from %s closed", self.addr)

    def _handle(self, flags: int, stream: int, opcode: int, body: bytes) -> bytes:
        try:
            if flags & 0x01:
                raise ProtocolError("Compression is not supported by the CQL dev server")
            r = P.Reader(body)
            if flags & 0x04:  # custom payload: [bytes map]
                for _ in range(r.short()):
                    r.string()
                    r.bytes()
            result = self._dispatch(opcode, r)
            if isinstance(result, tuple):
                return P.frame(result[0], stream, result[1])
            return P.frame(P.RESULT, stream, result)
        except CqlError as exc:
            if exc.code not in (0x2000, 0x2200, 0x2400, 0x2500):
                log.warning("error %#06x: %s", exc.code, exc.message)
            else:
                log.debug("error %#06x: %s", exc.code, exc.message)
            return P.frame(P.ERROR, stream, P.error_body(exc.code, exc.message, exc.extra()))
        except sqlite3.OperationalError as exc:
            if "no such table" not in str(exc):
                log.exception("storage error on opcode %#x", opcode)
                return P.frame(P.ERROR, stream, P.error_body(0x0000, "Storage error in the CQL dev server: %s"
                                                              % exc))
            # the table was dropped while this request was running
            return P.frame(P.ERROR, stream, P.error_body(0x2200, "table does not exist (dropped concurrently)"))
        except Exception as exc:
            log.exception("internal error on opcode %#x", opcode)
            return P.frame(P.ERROR, stream, P.error_body(0x0000, "Internal error in the CQL dev server: %s: %s"
                                                          % (type(exc).__name__, exc)))

    def _dispatch(self, opcode: int, r: P.Reader):
        ex = self.server.executor
        if opcode == P.OPTIONS:
            return P.SUPPORTED, P.pack_string_multimap(SUPPORTED_OPTIONS)
        if opcode == P.STARTUP:
            options = r.string_map()
            if options.get("COMPRESSION"):
                raise ProtocolError("Compression %s is not supported by the CQL dev server"
                                    % options["COMPRESSION"])
            return P.READY, b""
        if opcode == P.REGISTER:
            r.string_list()
            return P.READY, b""
        if opcode == P.QUERY:
            query = r.long_string()
            params = P.read_query_params(r)
            return ex.query(query, params, self.session)
        if opcode == P.PREPARE:
            return ex.prepare(r.long_string(), self.session)
        if opcode == P.EXECUTE:
            query_id = r.short_bytes()
            params = P.read_query_params(r)
            return ex.execute(query_id, params, self.session)
        if opcode == P.BATCH:
            return ex.batch(*self._read_batch(r), self.session)
        if opcode == P.AUTH_RESPONSE:
            raise ProtocolError("Authentication is not enabled on the CQL dev server")
        raise ProtocolError("Unknown or unexpected opcode %#x" % opcode)

    @staticmethod
    def _read_batch(r: P.Reader):
        batch_type = r.byte()
        if batch_type == 2:
            raise ProtocolError("Counter batches are not supported by the CQL dev server")
        items = []
        for _ in range(r.short()):
            kind = r.byte()
            if kind == 0:
                ref = r.long_string()
            elif kind == 1:
                ref = r.short_bytes()
            else:
                raise ProtocolError("Invalid batch statement kind %d" % kind)
            values = r.values(r.short())
            items.append((kind, ref, values))
        params = P.QueryParams()
        params.consistency = r.short()
        flags = r.byte()
        if flags & P.F_SERIAL_CONSISTENCY:
            params.serial_consistency = r.short()
        if flags & P.F_DEFAULT_TIMESTAMP:
            params.timestamp = r.long()
        if flags & P.F_NAMES:
            raise ProtocolError("Named values in BATCH are not supported")
        return items, params


__all__ = ["CqlServer", "default_tokens"]
