"""Throwaway PostgreSQL clusters for tests.

    url, stop = start_cluster(tmp_path)   # initdb + pg_ctl start on a free port, trust auth
    ...
    stop()                                # immediate shutdown, data directory removed

``database_url_or_cluster(tmp_path)`` returns ``$DATABASE_URL`` (and a no-op stop) when it is set,
otherwise a private cluster. A pytest fixture built on it::

    @pytest.fixture(scope="session")
    def pg_url(tmp_path_factory):
        url, stop = database_url_or_cluster(tmp_path_factory.mktemp("pg"))
        yield url
        stop()

Binaries come from ``$PG_BIN`` (default /usr/lib/postgresql/15/bin). PostgreSQL refuses to run as
root, so under root the server runs as the ``postgres`` user (via ``runuser``) in a directory that
user owns.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from contextlib import contextmanager
from typing import Callable, Iterator

PG_BIN = os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin")
_SERVER_USER = "postgres"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _traversable_by_others(path: Path) -> bool:
    for p in [path, *path.parents]:
        if not os.stat(p).st_mode & 0o001:
            return False
    return True


def _run(cmd: list[str], user: str | None, **kw) -> subprocess.CompletedProcess:
    if user:
        cmd = ["runuser", "-u", user, "--", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def start_cluster(tmpdir: str | os.PathLike, *, timeout: float = 60.0) -> tuple[str, Callable[[], None]]:
    """Starts a private PostgreSQL cluster; returns ``(url, stop_fn)``. ``stop_fn`` is idempotent."""
    tmpdir = Path(tmpdir)
    tmpdir.mkdir(parents=True, exist_ok=True)
    user = None
    if os.geteuid() == 0:
        user = _SERVER_USER
        pw = pwd.getpwnam(user)
        parent = tmpdir if _traversable_by_others(tmpdir) else None
        base = Path(tempfile.mkdtemp(prefix="recon-pg-", dir=parent))
        os.chown(base, pw.pw_uid, pw.pw_gid)
    else:
        base = Path(tempfile.mkdtemp(prefix="recon-pg-", dir=tmpdir))
    data, sock, log = base / "data", base / "sock", base / "server.log"
    env = {**os.environ, "TZ": "UTC", "LC_ALL": "C.UTF-8"}

    r = _run([f"{PG_BIN}/initdb", "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
              "--no-sync", "--locale=C.UTF-8"], user, env=env, timeout=120)
    if r.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        raise RuntimeError(f"initdb failed: {r.stderr.strip() or r.stdout.strip()}")
    _run(["mkdir", "-p", str(sock)], user)

    last_error = ""
    for _attempt in range(3):
        port = _free_port()
        opts = (f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c timezone=UTC "
                "-c max_connections=200")
        r = _run([f"{PG_BIN}/pg_ctl", "-D", str(data), "-l", str(log), "-o", opts, "-w", "-t", "60",
                  "start"], user, env=env, timeout=120)
        if r.returncode == 0:
            break
        last_error = r.stderr.strip() or r.stdout.strip()
        try:
            last_error += "\n" + log.read_text()[-2000:]
        except OSError:
            pass
    else:
        shutil.rmtree(base, ignore_errors=True)
        raise RuntimeError(f"pg_ctl start failed: {last_error}")

    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    stopped = False

    def stop() -> None:
        nonlocal stopped
        if stopped:
            return
        stopped = True
        _run([f"{PG_BIN}/pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop"], user, env=env,
             timeout=60)
        shutil.rmtree(base, ignore_errors=True)

    deadline = time.monotonic() + timeout
    import psycopg

    while True:
        try:
            with psycopg.connect(url, connect_timeout=2) as conn:
                conn.execute("SELECT 1")
            return url, stop
        except psycopg.OperationalError as exc:
            if time.monotonic() > deadline:
                stop()
                raise RuntimeError(f"PostgreSQL on port {port} did not accept connections: {exc}") from exc
            time.sleep(0.1)


def database_url_or_cluster(tmpdir: str | os.PathLike) -> tuple[str, Callable[[], None]]:
    """``$DATABASE_URL`` when set (stop is a no-op), else a private cluster from :func:`start_cluster`."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return url, lambda: None
    return start_cluster(tmpdir)


@contextmanager
def fresh_database(server_url: str, prefix: str = "recon_t") -> Iterator[str]:
    """A new, empty database on the server of ``server_url`` for one test; dropped afterwards.

    Suites that share one server (``make test`` gives them the stack's) stay isolated this way."""
    import uuid

    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield psycopg.conninfo.make_conninfo(server_url, dbname=name)
    finally:
        from chalicelib.db import pool

        pool.close_pool()
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
