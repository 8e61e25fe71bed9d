"""Prometheus metrics of reconciliation streams, computed from the control plane on every scrape
(workers are many and short-lived: in-process counters would be wrong).

- `recon_stream_runs_total{stream_id, status}` — runs that ended, by stream and final status (COMPLETED,
  PARTIAL_FAILED, FAILED, CANCELED); runs still PENDING or RUNNING are the gauge below (a counter series
  that fell as runs moved on would read as a counter reset to Prometheus' rate())
- `recon_stream_step_duration_seconds{stream_id, step_order}` — histogram of completed attempts
- `recon_stream_matched_records_total{stream_id}` — source rows matched by completed steps
- `recon_stream_open_exceptions{stream_id}` — exceptions still OPEN (0 for a stream, not archived, with none)
- `recon_stream_runs_active{stream_id}` — runs PENDING or RUNNING (0 for a stream, not archived, with none; a
  legacy reconciliation's run counts once it is started: created and not started, nothing runs it)
"""
from __future__ import annotations

from typing import Iterable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from chalicelib.db.pool import transaction

DURATION_BUCKETS = (1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)

_DURATIONS = (
    "WITH d AS (SELECT r.stream_id, s.step_order, extract(epoch FROM s.completed_at - s.started_at)::double precision AS s"
    " FROM recon.stream_step_runs s JOIN recon.stream_runs r USING (run_id)"
    " WHERE s.status = 'COMPLETED' AND s.started_at IS NOT NULL AND s.completed_at IS NOT NULL)"
    " SELECT stream_id, step_order, "
    + ", ".join(f"count(*) FILTER (WHERE s <= {b}) AS le_{b}" for b in DURATION_BUCKETS)
    + ", count(*) AS n, coalesce(sum(s), 0) AS total FROM d GROUP BY stream_id, step_order ORDER BY 1, 2"
)


class StreamsCollector(Collector):
    def describe(self) -> list:
        return []

    def collect(self) -> Iterable:
        with transaction() as conn:
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            # a legacy reconciliation created and not (yet) started is PENDING (platform §7) but nothing runs it
            # until its start: not an active run (it may wait for ever)
            runs = conn.execute("SELECT r.stream_id, r.status, count(*) AS n FROM recon.stream_runs r"
                                " JOIN recon.streams s USING (stream_id)"
                                " WHERE NOT (s.kind = 'LEGACY' AND r.status = 'PENDING' AND r.execution_arn IS NULL)"
                                " GROUP BY 1, 2 ORDER BY 1, 2").fetchall()
            matched = conn.execute(
                "SELECT r.stream_id, coalesce(sum(s.matched_source_rows), 0) AS n FROM recon.stream_step_runs s"
                " JOIN recon.stream_runs r USING (run_id) WHERE s.status = 'COMPLETED' GROUP BY 1 ORDER BY 1").fetchall()
            open_exc = conn.execute("SELECT stream_id, count(*) AS n FROM recon.stream_exceptions"
                                    " WHERE status = 'OPEN' GROUP BY 1 ORDER BY 1").fetchall()
            durations = conn.execute(_DURATIONS).fetchall()
            # every stream that is not archived has an open-exceptions and an active-runs value, 0 once its
            # last exception is closed or its runs ended (a series that vanished would leave dashboards
            # without data instead of showing the queue emptied)
            live = [str(r["stream_id"]) for r in conn.execute(
                "SELECT stream_id FROM recon.streams WHERE kind = 'STREAM' AND status <> 'ARCHIVED' ORDER BY 1")]

        c = CounterMetricFamily("recon_stream_runs", "Stream runs that ended, by stream and final status",
                                labels=["stream_id", "status"])
        active = GaugeMetricFamily("recon_stream_runs_active", "Stream runs PENDING or RUNNING", labels=["stream_id"])
        act: dict[str, int] = dict.fromkeys(live, 0)
        for r in runs:
            if r["status"] in ("PENDING", "RUNNING"):
                act[str(r["stream_id"])] = act.get(str(r["stream_id"]), 0) + r["n"]
            else:   # a counter only ever grows: runs that ended, whose status never changes again
                c.add_metric([str(r["stream_id"]), r["status"]], r["n"])
        for sid, n in act.items():
            active.add_metric([sid], n)
        yield c
        yield active
        m = CounterMetricFamily("recon_stream_matched_records", "Source rows matched by completed stream steps",
                                labels=["stream_id"])
        for r in matched:
            m.add_metric([str(r["stream_id"])], r["n"])
        yield m
        g = GaugeMetricFamily("recon_stream_open_exceptions", "Stream exceptions still OPEN", labels=["stream_id"])
        opened = dict.fromkeys(live, 0) | {str(r["stream_id"]): r["n"] for r in open_exc}
        for sid, n in sorted(opened.items(), key=lambda kv: int(kv[0])):
            g.add_metric([sid], n)
        yield g
        h = HistogramMetricFamily("recon_stream_step_duration_seconds", "Duration of completed stream step attempts",
                                  labels=["stream_id", "step_order"])
        for r in durations:
            buckets = [(str(b), r[f"le_{b}"]) for b in DURATION_BUCKETS] + [("+Inf", r["n"])]
            h.add_metric([str(r["stream_id"]), str(r["step_order"])], buckets, r["total"])
        yield h


def render() -> bytes:
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(StreamsCollector())
    return generate_latest(registry)


# hooks called by the worker: everything is read from the control plane at scrape time
def step_started(stream_id: int, step_order: int) -> None:
    return None


def step_finished(stream_id: int, step_order: int, status: str, seconds: float, matched: int) -> None:
    return None


def run_finished(view: dict) -> None:
    return None
