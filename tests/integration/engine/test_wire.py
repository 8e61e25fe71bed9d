"""CHECKSUM by wire comparison: PostgreSQL's encoding of its values must be byte for byte what
Cassandra serializes (checked against the driver's own serializers), and a job on a table whose
sides differ only in representation must report exactly the real differences while decoding only
the rows that differ."""
from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import psycopg
import pytest
from psycopg import sql

from chalicelib.cdc import jobs, recording
from chalicelib.cdc.canonical import CASSANDRA, POSTGRES, ColumnSpec, build_canonicalizer
from chalicelib.cdc.diff import Diff, MismatchType, RowMatcher, WireSegmentDiff
from chalicelib.cdc.pg_source import wire_expression
from chalicelib.cdc.strategies import DiffSpool
from tests.integration.engine.conftest import drain
from tests.integration.engine.test_engine import found, job_row, q

PROTO = 4


def _driver_type(cql: str):
    from cassandra import cqltypes as t

    simple = {"text": t.UTF8Type, "varchar": t.UTF8Type, "int": t.Int32Type, "bigint": t.LongType,
              "smallint": t.ShortType, "boolean": t.BooleanType, "double": t.DoubleType, "float": t.FloatType,
              "uuid": t.UUIDType, "timeuuid": t.TimeUUIDType, "blob": t.BytesType, "timestamp": t.DateType,
              "decimal": t.DecimalType}
    if cql.startswith("set<"):
        return t.SetType.apply_parameters([simple[cql[4:-1]]])
    if cql.startswith("list<"):
        return t.ListType.apply_parameters([simple[cql[5:-1]]])
    return simple[cql]


UTC = timezone.utc
# (CQL type, PostgreSQL type, PostgreSQL value, the value Cassandra holds for the same data or
#  None when the PostgreSQL value must encode as null, or "differs" when no Cassandra value may match)
CASES = [
    ("text", "text", "héllo wörld ✓", "héllo wörld ✓"),
    ("text", "text", "", ""),
    ("text", "character varying(20)", "abc", "abc"),
    ("text", "character(6)", "ab", "ab"),  # blank padding is not part of the value
    ("int", "integer", -5, -5),
    ("int", "integer", 2**31 - 1, 2**31 - 1),
    ("int", "smallint", 7, 7),
    ("bigint", "bigint", -(2**63), -(2**63)),
    ("bigint", "integer", 42, 42),
    ("smallint", "smallint", -300, -300),
    ("boolean", "boolean", True, True),
    ("boolean", "boolean", False, False),
    ("double", "double precision", 0.1, 0.1),
    ("double", "double precision", -1e300, -1e300),
    ("float", "real", 0.1, 0.1),
    ("uuid", "uuid", uuid.UUID("12345678-9abc-def0-1234-56789abcdef0"), uuid.UUID("12345678-9abc-def0-1234-56789abcdef0")),
    ("blob", "bytea", b"\x00\xffab", b"\x00\xffab"),
    ("blob", "bytea", b"", b""),
    ("timestamp", "timestamp with time zone", datetime(2025, 11, 20, 13, 30, 0, 123000, tzinfo=UTC),
     datetime(2025, 11, 20, 13, 30, 0, 123000, tzinfo=UTC)),
    # microseconds are truncated toward the millisecond, before 1970 too
    ("timestamp", "timestamp with time zone", datetime(2025, 11, 20, 13, 30, 0, 123999, tzinfo=UTC),
     datetime(2025, 11, 20, 13, 30, 0, 123000, tzinfo=UTC)),
    ("timestamp", "timestamp without time zone", datetime(1969, 12, 31, 23, 59, 59, 999500),
     datetime(1969, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)),
    ("timestamp", "timestamp with time zone", datetime(1, 1, 1, tzinfo=UTC), datetime(1, 1, 1, tzinfo=UTC)),
    ("timestamp", "timestamp with time zone", "infinity", "differs"),
    ("decimal", "numeric", Decimal("10.50"), Decimal("10.50")),
    ("decimal", "numeric", Decimal("-0.01"), Decimal("-0.01")),
    ("decimal", "numeric", Decimal("0"), Decimal("0")),
    ("decimal", "numeric", Decimal("127"), Decimal("127")),
    ("decimal", "numeric", Decimal("128"), Decimal("128")),
    ("decimal", "numeric", Decimal("-128"), Decimal("-128")),
    ("decimal", "numeric", Decimal("-129"), Decimal("-129")),
    ("decimal", "numeric(30,4)", Decimal("92233720368547.5807"), Decimal("92233720368547.5807")),
    ("decimal", "numeric", Decimal("-32768"), Decimal("-32768")),
    ("decimal", "numeric", Decimal("32767"), Decimal("32767")),
    ("decimal", "numeric", Decimal("32768"), Decimal("32768")),
    ("decimal", "numeric", Decimal("-0.00"), Decimal("-0.00")),
    ("decimal", "numeric", Decimal("-999999999999999999"), Decimal("-999999999999999999")),
    ("decimal", "numeric", Decimal("4611686018427387904"), "differs"),  # beyond 18 digits: decoded path
    ("decimal", "numeric", Decimal("12345678901234567890.1"), "differs"),
    ("decimal", "numeric", "NaN", "differs"),
    ("set<text>", "text[]", ["Z", "a", "b", "é"], ["Z", "a", "b", "é"]),
    ("set<text>", "text[]", ["b", "a", "é", "Z"], "other"),  # another order: other bytes, decoded path
    ("set<text>", "text[]", [], None),
    ("set<text>", "character varying[]", ["x"], ["x"]),
    ("set<text>", "text[]", ["a", "b"], ["a", "b"]),
    ("set<text>", "text[]", ["a", "b", "c", "d", "e"], ["a", "b", "c", "d", "e"]),
    ("set<text>", "text[]", ["a", None], "differs"),  # a null element: never an (empty) null set
    ("list<text>", "text[]", ["a", "b", "c"], ["a", "b", "c"]),
    ("list<text>", "text[]", ["c", "b", "a", "b", "z"], ["c", "b", "a", "b", "z"]),
    ("list<text>", "text[]", ["b", "a", "b"], ["b", "a", "b"]),
    ("list<text>", "text[]", [], None),
]


@pytest.fixture(scope="module")
def pg(pg_server):
    with psycopg.connect(pg_server, autocommit=True) as conn:
        yield conn


@pytest.mark.parametrize("cql,pg_type,pg_value,cass_value", CASES)
def test_postgres_encoding_is_the_driver_serialization(pg, cql, pg_type, pg_value, cass_value):
    from chalicelib.cdc.canonical import parse_cql_type

    enc = wire_expression(parse_cql_type(cql), pg_type, sql.Identifier("v"))
    assert enc is not None, f"{cql} from {pg_type} should have an encoding"
    expr, fixed = enc
    base = pg_type.split("(")[0] if "[]" not in pg_type else pg_type
    got = pg.execute(sql.SQL("SELECT {} FROM (SELECT %s::{} AS v) s").format(expr, sql.SQL(pg_type)), (pg_value,)).fetchone()[0]
    if cass_value is None:
        assert got is None
        return
    if cass_value == "other":
        assert bytes(got) != _driver_type(cql).serialize(sorted(pg_value), PROTO)
        return
    if cass_value == "differs":
        assert got is not None and len(got) == 1  # the sentinel, never a valid serialization
        return
    want = _driver_type(cql).serialize(cass_value, PROTO)
    assert bytes(got) == want, (cql, base, pg_value)
    if fixed is not None:
        assert len(want) == fixed


def test_null_encodes_as_null_for_every_type(pg):
    from chalicelib.cdc.canonical import parse_cql_type

    for cql, pg_type, *_ in CASES:
        expr, _ = wire_expression(parse_cql_type(cql), pg_type, sql.Identifier("v"))
        got = pg.execute(sql.SQL("SELECT {} FROM (SELECT NULL::{} AS v) s").format(expr, sql.SQL(pg_type))).fetchone()[0]
        assert got is None, (cql, pg_type)


def test_pairs_without_an_exact_encoding_are_not_offered():
    from chalicelib.cdc.canonical import parse_cql_type

    for cql, pg_type in [("map<text,text>", "jsonb"), ("int", "bigint"), ("date", "date"), ("inet", "inet"),
                         ("set<int>", "integer[]"), ("set<text>", "jsonb"), ("varint", "numeric"), ("double", "numeric"),
                         ("timestamp", "date"), ("text", "jsonb")]:
        assert wire_expression(parse_cql_type(cql), pg_type, sql.Identifier("v")) is None, (cql, pg_type)


# ------------------------------------------------------------------------------- job end to end
KS = "wiret"
CATALOG = """
tables:
  wt:
    cassandra: {keyspace: wiret, table: wt}
    postgres: {schema: public, table: wt}
    partition_key: [id]
    updated_at_column: ts
    columns:
      id: {type: text}
      n: {type: int}
      big: {type: bigint}
      amount: {type: decimal}
      ratio: {type: double, tolerance: 0.001}
      f: {type: float}
      tags: {type: set<text>}
      items: {type: list<text>}
      ref: {type: uuid}
      flag: {type: boolean}
      data: {type: blob}
      ts: {type: timestamp}
"""
COLS = ["id", "n", "big", "amount", "ratio", "f", "tags", "items", "ref", "flag", "data", "ts"]


def _rows(n: int, now: datetime) -> list[dict]:
    rnd = random.Random(11)
    out = []
    for i in range(n):
        out.append({
            "id": f"k{i:05d}", "n": rnd.randrange(-9, 9) if i % 7 else None, "big": rnd.getrandbits(40),
            "amount": Decimal(rnd.randrange(-10**6, 10**6)).scaleb(-2), "ratio": rnd.random(),
            "f": rnd.choice([0.1, 1.5, -2.25]), "tags": sorted({f"t{rnd.randrange(4)}" for _ in range(rnd.randrange(0, 3))}),
            "items": [f"i{rnd.randrange(3)}" for _ in range(rnd.randrange(0, 3))], "ref": uuid.UUID(int=rnd.getrandbits(128)),
            "flag": bool(i % 2), "data": bytes([i % 256]) * (i % 3) if i != 30 else bytes(range(256)) * 300,  # 76,800 bytes
            "ts": (now - timedelta(hours=2, milliseconds=rnd.randrange(10**7))).replace(microsecond=(i % 1000) * 1000),
        })
    return out


#: PostgreSQL representations equal to Cassandra's only under the canonical form: never reported
CANONICAL_ONLY = {
    "k00010": lambda r: {**r, "amount": None if r["amount"] is None else r["amount"].quantize(Decimal("0.0001"))},
    "k00011": lambda r: {**r, "ts": r["ts"].replace(microsecond=r["ts"].microsecond + 999)},
    "k00012": lambda r: {**r, "tags": ["t9", "t1"], "_cass_tags": ["t1", "t9"]},
    "k00013": lambda r: {**r, "tags": [], "_cass_tags": []},
    "k00014": lambda r: {**r, "tags": ["t2", "t2"], "_cass_tags": ["t2"]},
    "k00015": lambda r: {**r, "ratio": r["ratio"] + 0.0005},
    "k00016": lambda r: {**r, "items": [], "_cass_items": []},
}
REAL = {
    "k00020": ("DATA_MISMATCH", lambda r: {**r, "n": 100}),
    "k00021": ("DATA_MISMATCH", lambda r: {**r, "amount": r["amount"] + Decimal("0.01")}),
    "k00022": ("DATA_MISMATCH", lambda r: {**r, "tags": ["zz"], "_cass_tags": ["t1"]}),
    "k00023": ("DATA_MISMATCH", lambda r: {**r, "ts": r["ts"] - timedelta(milliseconds=1)}),
    "k00024": ("DATA_MISMATCH", lambda r: {**r, "data": b"\x01\x02"}),
    "k00025": ("MISSING_IN_POSTGRES", None),
    "k00026": ("MISSING_IN_CASSANDRA", None),
    "k00027": ("DATA_MISMATCH", lambda r: {**r, "ratio": r["ratio"] + 0.5}),
}


@pytest.fixture
def wire_world(engine_env, cql_session, database, tmp_path):
    from chalicelib.cassandra.tokens import token_for

    (tmp_path / "catalog.yml").write_text(CATALOG)
    cql = cql_session
    cql.execute(f"CREATE KEYSPACE IF NOT EXISTS {KS} WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': 1}}")
    cql.execute(f"DROP TABLE IF EXISTS {KS}.wt")
    cql.execute(f"CREATE TABLE {KS}.wt (id text PRIMARY KEY, n int, big bigint, amount decimal, ratio double, f float,"
                f" tags set<text>, items list<text>, ref uuid, flag boolean, data blob, ts timestamp)")
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("CREATE TABLE public.wt (id text PRIMARY KEY, n integer, big bigint, amount numeric(14,2), ratio double precision,"
                     " f real, tags text[], items text[], ref uuid, flag boolean, data bytea, ts timestamptz, recon_token bigint)")
        conn.execute("CREATE INDEX ON public.wt (recon_token)")
    now = datetime.now(UTC)
    rows = _rows(2500, now)
    ins = cql.prepare(f"INSERT INTO {KS}.wt ({', '.join(COLS)}) VALUES ({', '.join('?' * len(COLS))})")
    expected = {}
    pg_rows = []
    for r in rows:
        p = r
        if r["id"] in CANONICAL_ONLY:
            p = CANONICAL_ONLY[r["id"]](r)
        elif r["id"] in REAL:
            kind, change = REAL[r["id"]]
            expected[r["id"]] = kind
            if change:
                p = change(r)
        c = {**r, "tags": p.get("_cass_tags", r["tags"]), "items": p.get("_cass_items", r["items"])}
        if expected.get(r["id"]) != "MISSING_IN_CASSANDRA":
            cql.execute(ins, tuple(c[k] or None if k in ("tags", "items") else c[k] for k in COLS))
        if expected.get(r["id"]) != "MISSING_IN_POSTGRES":
            pg_rows.append(tuple(p[k] for k in COLS) + (token_for([r["id"]], ["text"]),))
    with psycopg.connect(database, autocommit=True) as conn:
        with conn.cursor() as cur:
            with cur.copy(f"COPY public.wt ({', '.join(COLS)}, recon_token) FROM STDIN") as cp:
                for row in pg_rows:
                    cp.write_row(row)
    return database, expected


def test_checksum_by_wire_reports_exactly_the_real_differences(wire_world, monkeypatch):
    from chalicelib.cdc import diff as diff_mod

    url, expected = wire_world
    decoded = []
    original = diff_mod.WireSegmentDiff._settle

    def counting_settle(self, dirty, dirty_c):
        yield from original(self, dirty, dirty_c)
        decoded.extend(dirty)

    monkeypatch.setattr(diff_mod.WireSegmentDiff, "_settle", counting_settle)
    job_id = jobs.create_jobs(["wt"], "CHECKSUM", "HIGH", "MANUAL_ONDEMAND", "tester@example.com")[0]["job_id"]
    drain()
    job = job_row(url, job_id)
    assert job["status"] == "COMPLETED", job["validation_errors"]
    assert found(url, job_id) == expected  # canonical-only differences are not reported
    assert job["cassandra_row_count"] == job["postgres_row_count"] == 2499
    # the wire path ran, and only the tokens whose bytes differ were decoded
    from chalicelib.cassandra.tokens import token_for

    by_token = {token_for([f"k{i:05d}"], ["text"]): f"k{i:05d}" for i in range(2500)}
    dirty_keys = {by_token[t] for t in decoded}
    # rows whose PostgreSQL bytes differ: the real differences and the representation differences
    # (set order, a repeated set element, a double within tolerance); the others (scale within the
    # column's, microseconds, empty arrays) encode identically
    assert dirty_keys == set(REAL) | {"k00012", "k00014", "k00015"}
    rec = q(url, "SELECT * FROM recon.mismatches WHERE job_id = %s AND primary_key_value = 'k00020'", job_id)[0]
    assert rec["cassandra_data"]["n"] != 100 and rec["postgres_data"]["n"] == 100 and rec["differing_columns"] == ["n"]


def test_wire_and_decoded_paths_agree(wire_world, engine_env):
    url, expected = wire_world
    from chalicelib.cdc.catalog import get_catalog
    from chalicelib.workers import cdc as cdc_worker

    engine_env(checksum_wire_comparison="0")
    job_id = jobs.create_jobs(["wt"], "CHECKSUM", "HIGH", "MANUAL_ONDEMAND", "tester@example.com")[0]["job_id"]
    drain()
    assert found(url, job_id) == expected
    assert cdc_worker.context_for(get_catalog().get("wt")).wire() is None  # the decoded path ran


PARTITION_CATALOG = """
tables:
  wp:
    cassandra: {keyspace: wiret, table: wp}
    postgres: {schema: public, table: wp}
    partition_key: [p]
    clustering_key: [c]
    updated_at_column: ts
    columns:
      p: {type: text}
      c: {type: int}
      v: {type: text}
      ts: {type: timestamp}
"""


def test_a_large_partition_with_one_difference_reads_that_row_only(engine_env, cql_session, database, tmp_path,
                                                                    monkeypatch):
    """One partition of 3,000 clustering rows (one token) with one differing row, next to small partitions:
    the job reports that row, and PostgreSQL is asked for the differing row's key only (before: every row of
    the partition was read and decoded on both sides, 5.1 s for 40,000 rows against 1.4 s when spread)."""
    from chalicelib.cdc.pg_source import PostgresSource
    from chalicelib.cassandra.tokens import token_for

    (tmp_path / "catalog.yml").write_text(PARTITION_CATALOG)
    cql = cql_session
    cql.execute(f"CREATE KEYSPACE IF NOT EXISTS {KS} WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': 1}}")
    cql.execute(f"DROP TABLE IF EXISTS {KS}.wp")
    cql.execute(f"CREATE TABLE {KS}.wp (p text, c int, v text, ts timestamp, PRIMARY KEY (p, c))")
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS public.wp")
        conn.execute("CREATE TABLE public.wp (p text, c integer, v text, ts timestamptz, recon_token bigint, PRIMARY KEY (p, c))")
        conn.execute("CREATE INDEX ON public.wp (recon_token)")
    ts = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=3)
    rows = [("big", i, f"v{i}") for i in range(3000)] + [(f"small{i}", 0, "x") for i in range(50)]
    ins = cql.prepare(f"INSERT INTO {KS}.wp (p, c, v, ts) VALUES (?, ?, ?, ?)")
    for p, c, v in rows:
        cql.execute(ins, (p, c, v, ts))
    with psycopg.connect(database, autocommit=True) as conn:
        with conn.cursor() as cur:
            with cur.copy("COPY public.wp (p, c, v, ts, recon_token) FROM STDIN") as cp:
                for p, c, v in rows:
                    cp.write_row((p, c, "changed" if (p, c) == ("big", 1234) else v, ts, token_for([p], ["text"])))
    asked: list[int] = []
    original = PostgresSource.rows_for_keys

    def counting(self, query, keys, key_idx):
        out = original(self, query, keys, key_idx)
        asked.append(len(out))
        return out

    monkeypatch.setattr(PostgresSource, "rows_for_keys", counting)
    job_id = jobs.create_jobs(["wp"], "CHECKSUM", "HIGH", "MANUAL_ONDEMAND", "tester@example.com")[0]["job_id"]
    drain()
    job = job_row(database, job_id)
    assert job["status"] == "COMPLETED", job["validation_errors"]
    assert found(database, job_id) == {"big|1234": "DATA_MISMATCH"}
    assert job["cassandra_row_count"] == job["postgres_row_count"] == 3050
    assert asked == [1], asked      # PostgreSQL read the one row of the differing key, not the partition


# ------------------------------------------------------------------------------ merge, in memory
SPECS = [ColumnSpec("id", "text"), ColumnSpec("v", "int")]


def _raw(tok: int, key: str, v: int | None) -> tuple:
    return (tok.to_bytes(8, "big", signed=True), key.encode(), None if v is None else v.to_bytes(4, "big", signed=True))


def _decode(r: tuple) -> tuple:
    return (int.from_bytes(r[0], "big", signed=True), r[1].decode(), None if r[2] is None else int.from_bytes(r[2], "big", signed=True))


def _merge(c_rows, p_rows, page=3, chunk=4, sub=2, keyed=False):
    decoded_p = {}
    for r in p_rows:
        decoded_p.setdefault(_decode(r)[0], []).append(_decode(r))
    by_key = {(r[0], r[1]): _decode(r) for r in p_rows}
    pages = [c_rows[i:i + page] for i in range(0, len(c_rows), page)]
    chunks = [p_rows[i:i + chunk] for i in range(0, len(p_rows), chunk)]
    sd = WireSegmentDiff(RowMatcher(SPECS), pages, chunks, _decode,
                         lambda toks: [r for t in toks for r in decoded_p.get(t, [])],
                         build_canonicalizer(SPECS, CASSANDRA), build_canonicalizer(SPECS, POSTGRES), [0], subwindow=sub,
                         fetch_postgres_keys=(lambda keys: sorted((by_key[k] for k in keys if k in by_key), key=lambda r: r[0]))
                         if keyed else None)
    return {(d.pk_display, d.mismatch_type.value) for d in sd}, sd


def test_merge_token_groups_across_pages_and_uneven_sides():
    c = [_raw(1, "a", 1), _raw(2, "b", 2), _raw(3, "c", 3), _raw(3, "c2", 3), _raw(3, "c3", 3), _raw(5, "e", 5),
         _raw(7, "g", 7), _raw(8, "h", 8)]
    # PostgreSQL: a row only it has (4), another token order inside token 3, a differing value (7),
    # one row of token 8 missing, one extra row at the end
    p = [_raw(1, "a", 1), _raw(2, "b", 2), _raw(3, "c3", 3), _raw(3, "c", 3), _raw(3, "c2", 3), _raw(4, "d", 4),
         _raw(5, "e", 5), _raw(7, "g", 70), _raw(9, "i", 9)]
    got, sd = _merge(c, p)
    assert got == {("d", "MISSING_IN_CASSANDRA"), ("g", "DATA_MISMATCH"), ("h", "MISSING_IN_POSTGRES"),
                   ("i", "MISSING_IN_CASSANDRA")}
    assert sd.cassandra.rows == len(c) and sd.postgres.rows == len(p)


def test_a_large_partition_with_one_difference_decodes_that_row_only():
    """5,000 clustering rows of one token (one partition), one of them different, one missing on each
    side: by key, the three rows are decoded on each side where they exist, not the partition (which
    the whole-token settlement decodes on both sides)."""
    c = [_raw(7, f"r{i:05d}", i) for i in range(5000) if i != 4000]
    p = [_raw(7, f"r{i:05d}", i + (1 if i == 1234 else 0)) for i in range(5000) if i != 4500]
    truth = {("r01234", "DATA_MISMATCH"), ("r04000", "MISSING_IN_CASSANDRA"), ("r04500", "MISSING_IN_POSTGRES")}
    got, sd = _merge(c, p, page=5000, chunk=2000, sub=256, keyed=True)
    assert got == truth and sd.decoded == 4, sd.decoded
    assert sd.cassandra.rows == len(c) and sd.postgres.rows == len(p)
    got, sd = _merge(c, p, page=5000, chunk=2000, sub=256, keyed=False)
    assert got == truth and sd.decoded == len(c) + len(p)


@pytest.mark.parametrize("keyed", [False, True])
@pytest.mark.parametrize("seed", range(30))
def test_merge_agrees_with_the_row_by_row_truth(seed, keyed):
    rnd = random.Random(seed)
    truth = {}
    c, p = [], []
    tok = -50
    for i in range(rnd.randrange(0, 60)):
        tok += rnd.choice([0, 1, 1, 2, 5])
        key = f"k{i}"
        v = rnd.randrange(3)
        kind = rnd.random()
        if kind < 0.1:
            c.append(_raw(tok, key, v))
            truth[key] = "MISSING_IN_POSTGRES"
        elif kind < 0.2:
            p.append(_raw(tok, key, v))
            truth[key] = "MISSING_IN_CASSANDRA"
        elif kind < 0.3:
            c.append(_raw(tok, key, v))
            p.append(_raw(tok, key, v + 1))
            truth[key] = "DATA_MISMATCH"
        else:
            c.append(_raw(tok, key, v))
            p.append(_raw(tok, key, v))
    rnd.shuffle(p)
    p.sort(key=lambda r: int.from_bytes(r[0], "big", signed=True))  # token order, any order inside a token
    got, sd = _merge(c, p, page=rnd.randrange(1, 6), chunk=rnd.randrange(1, 6), sub=rnd.randrange(1, 4), keyed=keyed)
    assert got == {(k, t) for k, t in truth.items()}
    assert sd.cassandra.rows == len(c) and sd.postgres.rows == len(p)
    assert sd.decoded <= 2 * 3 * len(truth) + 10  # only dirty tokens are decoded


# ------------------------------------------------------------------------ heavy drift, bounded
def _diff(i: int) -> Diff:
    return Diff(MismatchType.MISSING_IN_POSTGRES, (f"k{i}",), f"k{i}", {"id": f"k{i}"}, None, "00", None)


def test_spool_keeps_one_batch_in_memory():
    spool = DiffSpool((_diff(i) for i in range(25)), keep=10)
    assert len(spool) == 25 and len(spool._mem) == 5
    assert [d.pk_display for d in spool] == [f"k{i}" for i in range(25)]
    assert [d.pk_display for d in spool] == [f"k{i}" for i in range(25)]  # iterable again
    spool.close()


def test_mismatches_are_written_in_batches_and_idempotently(database, monkeypatch):
    monkeypatch.setattr(recording, "BATCH", 7)
    with psycopg.connect(database) as conn:
        job_id = conn.execute("INSERT INTO recon.jobs (job_id, table_name, validation_strategy, priority, job_type, status, phase, deadline_at)"
                              " VALUES (gen_random_uuid(), 't', 'CHECKSUM', 1, 'MANUAL_ONDEMAND', 'RUNNING', 'SCANNING', now()) RETURNING job_id").fetchone()[0]
        job = {"job_id": job_id, "table_name": "t"}
        spool = DiffSpool((_diff(i) for i in range(120)), keep=16)
        assert recording.insert_mismatches(conn, job, 0, spool) == 120
        recording.insert_mismatches(conn, job, 0, spool)  # redelivery: nothing new
        conn.commit()
        n = conn.execute("SELECT count(*), count(DISTINCT primary_key_value) FROM recon.mismatches WHERE job_id = %s",
                         (job_id,)).fetchone()
    assert n == (120, 120)
