"""Concurrency, persistence across restarts, and the command line entry point."""

import os
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from cassandra.concurrent import execute_concurrent_with_args

from infra.local.cqlserver import CqlServer

from .conftest import connect

pytestmark = pytest.mark.timeout(180)  # a hung server must fail the test, not the run

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_concurrent_connections_from_threads(server, session, ks):
    session.execute("CREATE TABLE %s.c (k int, i int, v text, PRIMARY KEY (k, i))" % ks)
    errors = []

    def worker(n):
        cluster = connect(server.port)
        try:
            s = cluster.connect()
            ins = s.prepare("INSERT INTO %s.c (k, i, v) VALUES (?, ?, ?)" % ks)
            execute_concurrent_with_args(s, ins, [(n, i, "x" * i) for i in range(200)], concurrency=20)
            got = s.execute("SELECT COUNT(*) FROM %s.c WHERE k = %%s" % ks, (n,)).one()[0]
            if got != 200:
                errors.append((n, got))
        except Exception as exc:  # surfaced through `errors`
            errors.append((n, repr(exc)))
        finally:
            cluster.shutdown()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    assert session.execute("SELECT COUNT(*) FROM %s.c" % ks).one()[0] == 1200


def test_many_threads_share_one_session(session, ks):
    session.execute("CREATE TABLE %s.s (k int PRIMARY KEY, v int)" % ks)
    ins = session.prepare("INSERT INTO %s.s (k, v) VALUES (?, ?)" % ks)
    sel = session.prepare("SELECT v FROM %s.s WHERE k = ?" % ks)

    def work(i):
        session.execute(ins, (i, i * 2))
        return session.execute(sel, (i,)).one().v

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(work, range(400))) == [i * 2 for i in range(400)]


def test_persistence_across_restart(tmp_path):
    path = str(tmp_path / "data.sqlite")
    with CqlServer(port=0, data_path=path) as srv:
        cluster = connect(srv.port)
        s = cluster.connect()
        s.execute("CREATE KEYSPACE p WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}")
        s.execute("CREATE TABLE p.t (a text, b int, c int, v frozen<map<text, int>>, PRIMARY KEY ((a, b), c)) "
                  "WITH CLUSTERING ORDER BY (c DESC)")
        ins = s.prepare("INSERT INTO p.t (a, b, c, v) VALUES (?, ?, ?, ?) USING TIMESTAMP 42")
        for i in range(20):
            s.execute(ins, ("a", i % 2, i, {"x": i}))
        before = [tuple(r) for r in s.execute("SELECT a, b, c, v, token(a, b), writetime(v) FROM p.t")]
        cluster.shutdown()
    with CqlServer(port=0, data_path=path) as srv:
        cluster = connect(srv.port)
        s = cluster.connect()
        after = [tuple(r) for r in s.execute("SELECT a, b, c, v, token(a, b), writetime(v) FROM p.t")]
        meta = cluster.metadata.keyspaces["p"].tables["t"]
        assert [c.name for c in meta.partition_key] == ["a", "b"]
        assert meta.clustering_key[0].is_reversed
        cluster.shutdown()
    assert len(before) == 20
    assert after == before


def test_command_line_ready_line_and_sigterm(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "infra.local.cqlserver", "--host", "127.0.0.1", "--port", "0",
                             "--data", str(tmp_path / "cli.sqlite")],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("cqlserver ready on 127.0.0.1:"), line
        port = int(line.strip().rsplit(":", 1)[1])
        cluster = connect(port)
        s = cluster.connect()
        assert s.execute("SELECT cluster_name FROM system.local").one()[0]
        cluster.shutdown()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        assert proc.stdout.read() == ""  # exactly one line on stdout
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
