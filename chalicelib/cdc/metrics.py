"""Prometheus metrics of CDC reconciliation, computed from the control plane on every scrape.

Lambdas are ephemeral and many, so in-process counters would be wrong: every value here is an
aggregate query over recon.jobs and recon.mismatches. Counters are monotonic as long as history is
kept (deleting old jobs lowers them; Prometheus treats that as a counter reset).
"""
from __future__ import annotations

from typing import Iterable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from chalicelib.db.pool import transaction

DURATION_BUCKETS = (5, 10, 30, 60, 120, 300, 600, 1800, 3600)
MISMATCH_TYPES = ("MISSING_IN_POSTGRES", "MISSING_IN_CASSANDRA", "DATA_MISMATCH")
FINISHED_STATUSES = ("COMPLETED", "FAILED")

_LATEST = """
SELECT DISTINCT ON (table_name) table_name, {column} AS value
FROM recon.jobs
WHERE status = 'COMPLETED' AND {column} IS NOT NULL {strategies}
ORDER BY table_name, completed_at DESC, job_id DESC
"""
# The row gauges are "Total rows in ... table": only strategies that count the whole table report them
# (SAMPLE counts its sample, TIMESTAMP_RANGE the rows of its window; docs/decisions.md).
_WHOLE_TABLE = "AND validation_strategy IN ('ROW_COUNT', 'CHECKSUM')"
# "Percentage of records out of sync" of the table: a TIMESTAMP_RANGE job's drift is that of the rows of its
# window (3 of 30 recent rows read 10 %, none of them 0 % whatever the rest of the table holds), so it does
# not replace the table's figure; a SAMPLE job's is an estimate of the whole table and does.
_TABLE_DRIFT = "AND validation_strategy <> 'TIMESTAMP_RANGE'"

# A job's time to complete is its duration_seconds as the jobs API shows it (completed_at - started_at,
# both in whole seconds): a client adding up the listed durations gets _sum, and buckets agree with them.
_DURATIONS = (
    "WITH d AS (SELECT table_name,"
    " extract(epoch FROM date_trunc('second', completed_at) - date_trunc('second', started_at))::bigint AS s"
    " FROM recon.jobs WHERE status = 'COMPLETED' AND started_at IS NOT NULL AND completed_at IS NOT NULL)"
    " SELECT table_name, "
    + ", ".join(f"count(*) FILTER (WHERE s <= {b}) AS le_{b}" for b in DURATION_BUCKETS)
    + ", count(*) AS n, coalesce(sum(s), 0)::bigint AS total FROM d GROUP BY table_name ORDER BY table_name"
)


def _table_order():
    """Series are written table by table in the catalog's order (the contract's example: users, orders,
    products); tables with history that left the catalog follow, by name."""
    from chalicelib.cdc.catalog import get_catalog

    try:
        rank = {name: i for i, name in enumerate(get_catalog().names())}
    except Exception:  # an unreadable catalog must not stop a scrape
        rank = {}
    return lambda table: (rank.get(table, len(rank)), table)


class ReconciliationCollector(Collector):
    """A prometheus_client collector that reads everything from PostgreSQL when collected."""

    def describe(self) -> list:
        return []  # never collect at registration time (that would need the database)

    def collect(self) -> Iterable:
        with transaction() as conn:
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            latest = {
                column: conn.execute(_LATEST.format(column=column, strategies=strategies)).fetchall()
                for column, strategies in (("drift_percentage", _TABLE_DRIFT), ("cassandra_row_count", _WHOLE_TABLE),
                                           ("postgres_row_count", _WHOLE_TABLE))
            }
            # the mismatches of finished jobs: a running job's records count when it ends, in the transaction that
            # ends it, so a record its re-check replaces (a row read under a wrong token) is never counted and
            # the counter never goes down (it went 570 -> 566 when such a job ended)
            mismatches = conn.execute(
                "SELECT m.table_name, m.mismatch_type, count(*) AS n FROM recon.mismatches m"
                " JOIN recon.jobs j ON j.job_id = m.job_id WHERE j.status IN ('COMPLETED', 'FAILED')"
                " GROUP BY m.table_name, m.mismatch_type"
            ).fetchall()
            outcomes = conn.execute(
                "SELECT table_name, status, count(*) AS n FROM recon.jobs"
                " WHERE status IN ('COMPLETED', 'FAILED') GROUP BY table_name, status"
            ).fetchall()
            durations = conn.execute(_DURATIONS).fetchall()
        order = _table_order()
        for rows in (*latest.values(), durations):
            rows.sort(key=lambda r: order(r["table_name"]))

        yield self._gauge("cdc_reconciliation_drift_percentage", "Percentage of records out of sync",
                          latest["drift_percentage"])
        yield self._gauge("cdc_reconciliation_cassandra_rows", "Total rows in Cassandra table",
                          latest["cassandra_row_count"])
        yield self._gauge("cdc_reconciliation_postgres_rows", "Total rows in PostgreSQL table",
                          latest["postgres_row_count"])

        counts = CounterMetricFamily("cdc_reconciliation_mismatches_total", "Count of mismatches by type",
                                     labels=["table", "type"])
        # every table with a finished job has its counters, at 0 until something is found (a series that
        # appears with its first increment hides that increment from rate() and increase())
        by_table: dict[str, dict[str, int]] = {r["table_name"]: {} for r in outcomes}
        for r in mismatches:
            by_table.setdefault(r["table_name"], {})[r["mismatch_type"]] = r["n"]
        for table in sorted(by_table, key=order):
            for t in MISMATCH_TYPES:
                counts.add_metric([table, t], by_table[table].get(t, 0))
        yield counts

        jobs = CounterMetricFamily("cdc_reconciliation_jobs_completed_total", "Reconciliation job outcomes",
                                   labels=["table", "status"])
        by_table = {}
        for r in outcomes:
            by_table.setdefault(r["table_name"], {})[r["status"]] = r["n"]
        for table in sorted(by_table, key=order):
            for status in FINISHED_STATUSES:
                jobs.add_metric([table, status], by_table[table].get(status, 0))
        yield jobs

        hist = HistogramMetricFamily("cdc_reconciliation_duration_seconds", "Time to complete reconciliation",
                                     labels=["table"])
        for r in durations:
            buckets = [(str(b), r[f"le_{b}"]) for b in DURATION_BUCKETS] + [("+Inf", r["n"])]
            hist.add_metric([r["table_name"]], buckets, int(r["total"]))
        yield hist

    @staticmethod
    def _gauge(name: str, doc: str, rows: list[dict]) -> GaugeMetricFamily:
        g = GaugeMetricFamily(name, doc, labels=["table"])
        for r in rows:
            value = r["value"]
            # row counts stay whole numbers; a percentage is a float
            g.add_metric([r["table_name"]], value if isinstance(value, int) else float(value))
        return g


CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value) -> str:
    """Whole counts as the contract writes them (`156`), other values as Prometheus floats."""
    from prometheus_client.utils import floatToGoString

    if isinstance(value, bool):
        value = int(value)
    return str(value) if isinstance(value, int) else floatToGoString(value)


def _family_lines(family) -> list[str]:
    name = family.name + ("_total" if family.type == "counter" else "")
    doc = family.documentation.replace("\\", "\\\\").replace("\n", "\\n")
    lines = [f"# HELP {name} {doc}", f"# TYPE {name} {family.type}"]
    samples = list(family.samples)
    if family.type == "histogram":  # per series: buckets, then _sum, then _count (the contract's order)
        rank = {"_bucket": 0, "_sum": 1, "_count": 2}
        order = {}
        for s in samples:
            order.setdefault(tuple((k, v) for k, v in s.labels.items() if k != "le"), len(order))
        samples.sort(key=lambda s: (order[tuple((k, v) for k, v in s.labels.items() if k != "le")],
                                    rank.get(s.name[len(family.name):], 3)))
    for s in samples:
        # labels in their declared order (table first, a histogram's le last), as in the contract
        labels = ",".join(f'{k}="{_escape_label(str(v))}"' for k, v in s.labels.items())
        lines.append(f"{s.name}{{{labels}}} {_number(s.value)}" if labels else f"{s.name} {_number(s.value)}")
    return lines


def render() -> bytes:
    """The exposition text (format 0.0.4) of our collector, written as the contract shows it: labels
    in declared order rather than prometheus_client's alphabetical order, whole counts without `.0`,
    one blank line after each family (the format ignores blank lines)."""
    return "".join("\n".join(_family_lines(f)) + "\n\n" for f in ReconciliationCollector().collect()).encode("utf-8")
