"""A CDC_TABLE snapshot's progress: the token reached in the ring, the rows coming in token order."""
from __future__ import annotations

import csv

from chalicelib.cassandra.tokens import MAX_TOKEN, MIN_TOKEN
from chalicelib.streams import snapshots


class _Table:
    class cassandra:
        keyspace, table = "ks", "t"
    partition_key, clustering_key, columns = ["id"], [], {"id": "text", "v": "int"}


def test_a_cdc_snapshot_reports_the_share_of_the_ring_read(monkeypatch, tmp_path):
    n = 40_000
    step = (MAX_TOKEN - MIN_TOKEN) // n

    class Reader:
        def __init__(self, *args):
            pass

        def scan_range(self, _range):
            for i in range(n):
                yield (MIN_TOKEN + (i + 1) * step, f"k{i}", i)

    class Catalog:
        tables = {"t": _Table}

    monkeypatch.setattr("chalicelib.cassandra.reader.CassandraReader", Reader)
    monkeypatch.setattr("chalicelib.cdc.catalog.get_catalog", lambda: Catalog)
    heard: list[float] = []
    rows = snapshots.take({"type": "CDC_TABLE", "data_source_id": 1, "config": {"table": "t"}}, tmp_path / "s.csv",
                          progress=heard.append)
    assert rows == n
    assert [round(f, 2) for f in heard] == [0.25, 0.5, 0.75, 0.99], heard   # 10,000 rows of 40,000 each time
    with open(tmp_path / "s.csv", newline="") as fh:
        assert sum(1 for _ in csv.reader(fh)) == n + 1


def test_a_step_with_a_snapshot_gives_its_inputs_a_share_of_its_progress():
    from chalicelib.streams.step_worker import SNAPSHOT_SHARE, Attempt

    a = Attempt(run_id=1, step_order=1, attempt_no=1, token="t", step={}, run={})
    a.inputs_share = SNAPSHOT_SHARE
    a.input_progress("TARGET", 1.0)            # a file, downloaded
    assert a.progress == SNAPSHOT_SHARE // 2
    a.input_progress("SOURCE", 0.5)            # the snapshot, half way
    assert a.progress == int(SNAPSHOT_SHARE * 0.75)
    a.engine_progress(0)
    a.input_progress("SOURCE", 1.0)
    assert a.progress == SNAPSHOT_SHARE
    a.engine_progress(50)
    assert a.progress == SNAPSHOT_SHARE + (100 - SNAPSHOT_SHARE) // 2
    a.engine_progress(100)
    assert a.progress == 99                   # 100 once the step is recorded COMPLETED
    plain = Attempt(run_id=1, step_order=1, attempt_no=1, token="t", step={}, run={})
    plain.input_progress("SOURCE", 1.0)        # files only: the engine's progress as it is
    assert plain.progress == 0
    plain.engine_progress(40)
    assert plain.progress == 40
