"""Reader logic against an in-memory fake session (no server): CQL text, wrap-around, paging,
retries and error messages."""

import pytest
from cassandra import OperationTimedOut
from cassandra.protocol import SyntaxException

from chalicelib.cassandra.errors import CassandraReadError
from chalicelib.cassandra.reader import CassandraReader
from chalicelib.cassandra.settings import CassandraSettings
from chalicelib.cassandra.tokens import MAX_TOKEN, MIN_TOKEN, TokenRange, split_ring, token_for


class FakeResult:
    def __init__(self, rows, paging_state):
        self.current_rows = rows
        self.paging_state = paging_state


class FakeFuture:
    def __init__(self, outcome, host="10.0.0.9:9042"):
        self._outcome = outcome
        self._current_host = host

    def result(self):
        if isinstance(self._outcome, BaseException):
            raise self._outcome
        return self._outcome


class FakeBound:
    def __init__(self, query, values):
        self.query = query
        self.values = tuple(values)
        self.fetch_size = None


class FakePrepared:
    def __init__(self, query):
        self.query = query

    def bind(self, values):
        return FakeBound(self.query, values)


class FakeSession:
    """Serves ``rows`` (tuples starting with the token, sorted by token) for scan/count/point CQL."""

    is_shutdown = False

    def __init__(self, rows, failures=None):
        self.rows = sorted(rows)
        self.failures = list(failures or [])  # exceptions raised by the next requests
        self.requests = []
        self.prepared = []

    def prepare(self, query):
        self.prepared.append(query)
        return FakePrepared(query)

    def execute_async(self, bound, timeout=None, paging_state=None):
        self.requests.append((bound.query, bound.values, paging_state))
        if self.failures:
            return FakeFuture(self.failures.pop(0))
        q = bound.query
        if q.startswith("SELECT COUNT(*)"):
            lo, hi = bound.values
            return FakeFuture(FakeResult([(sum(1 for r in self.rows if lo < r[0] <= hi),)], None))
        if "WRITETIME" in q:
            hits = [r for r in self.rows if tuple(r[1:2]) == bound.values]
            return FakeFuture(FakeResult([(1000,)] if hits else [], None))
        if "LIMIT" in q:
            (lo,) = bound.values
            hits = [(r[0], r[1]) for r in self.rows if r[0] > lo][:1]
            return FakeFuture(FakeResult(hits, None))
        if "<=" in q:
            lo, hi = bound.values
            hits = [r for r in self.rows if lo < r[0] <= hi]
            start = int(paging_state or 0)
            page = hits[start:start + bound.fetch_size]
            nxt = start + bound.fetch_size
            return FakeFuture(FakeResult(page, str(nxt).encode() if nxt < len(hits) else None))
        hits = [r for r in self.rows if tuple(r[1:2]) == bound.values]
        return FakeFuture(FakeResult(hits, None))


def make_rows(n):
    rows = []
    for i in range(n):
        key = f"user-{i}"
        rows.append((token_for([key], ["text"]), key, f"{key}@example.com"))
    return rows


def make_reader(session, **kw):
    settings = CassandraSettings(hosts="h1,h2", retry_backoff=0)
    return CassandraReader("demo", "users", ["user_id"], [], ["user_id", "email"], session=session,
                           settings=settings, **kw)


def test_cql_text_is_quoted():
    r = CassandraReader("Demo", "select", ["Part Key", "b"], ["c"], ["x\"y", "c"], session=FakeSession([]))
    assert r._cql_scan == (
        'SELECT token("Part Key", b), "x""y", c FROM "Demo"."select" '
        'WHERE token("Part Key", b) > ? AND token("Part Key", b) <= ?'
    )
    assert r._cql_get.endswith('WHERE "Part Key" = ? AND b = ? AND c = ?')
    assert r._cql_count.startswith('SELECT COUNT(*) FROM "Demo"."select" WHERE')
    assert r._cql_probe.endswith("LIMIT 100")


@pytest.mark.parametrize("bad", ["", None, "a\x00b"])
def test_invalid_identifiers_rejected(bad):
    with pytest.raises(ValueError):
        CassandraReader("ks", bad, ["a"], [], ["a"], session=FakeSession([]))


@pytest.mark.parametrize("n", [1, 2, 7, 64])
@pytest.mark.parametrize("fetch", [1, 3, 10, 1000])
def test_scan_all_ranges_returns_each_row_once(n, fetch):
    rows = make_rows(120)
    reader = make_reader(FakeSession(rows))
    seen = [row for rng in split_ring(n) for row in reader.scan_range(rng, fetch_size=fetch)]
    assert sorted(seen) == sorted(rows)
    assert sum(reader.count_range(rng) for rng in split_ring(n)) == 120


def test_wrap_around_and_full_ring():
    rows = make_rows(200)
    session = FakeSession(rows)
    reader = make_reader(session)
    wrap = TokenRange(1000, -1000)
    got = list(reader.scan_range(wrap, fetch_size=7))
    assert sorted(got) == sorted(r for r in rows if r[0] > 1000 or r[0] <= -1000)
    assert reader.count_range(wrap) == len(got)
    for t in (MIN_TOKEN, 0, MAX_TOKEN):
        assert sorted(reader.scan_range((t, t))) == sorted(rows)
    # the bounds sent never wrap
    for query, values, _ in session.requests:
        if "<=" in query:
            assert values[0] < values[1]


def test_as_dict_rows():
    rows = make_rows(3)
    reader = make_reader(FakeSession(rows))
    got = list(reader.scan_range(split_ring(1)[0], as_dict=True))
    assert {d["user_id"] for d in got} == {"user-0", "user-1", "user-2"}
    assert set(got[0]) == {"_token", "user_id", "email"}


def test_page_retry_resumes_from_paging_state():
    rows = make_rows(50)
    session = FakeSession(rows)
    reader = make_reader(session, fetch_size=10)
    it = reader.scan_range(split_ring(1)[0])
    first = [next(it) for _ in range(10)]  # page 1 consumed, page 2 already requested
    session.failures = [OperationTimedOut("slow"), OperationTimedOut("slow")]
    rest = list(it)
    assert sorted(first + rest) == sorted(rows)
    retried = [ps for q, _, ps in session.requests if "<=" in q]
    assert retried.count(b"20") == 3  # page 3 requested once, failed twice, third try served


def test_retries_are_bounded_and_error_names_everything():
    session = FakeSession(make_rows(5), failures=[OperationTimedOut("t")] * 10)
    reader = make_reader(session, max_retries=2)
    with pytest.raises(CassandraReadError) as info:
        list(reader.scan_range(TokenRange(-5, 5)))
    msg = str(info.value)
    assert "10.0.0.9:9042" in msg and "demo.users" in msg and "(-5, 5]" in msg
    assert info.value.attempts == 3
    assert len(session.requests) == 3


def test_non_retryable_error_raised_at_once():
    session = FakeSession(make_rows(5), failures=[SyntaxException(0x2000, "bad", None)] * 3)
    reader = make_reader(session)
    with pytest.raises(CassandraReadError) as info:
        reader.count_range(TokenRange(-5, 5))
    assert info.value.attempts == 1 and len(session.requests) == 1


def test_get_rows_and_writetime():
    rows = make_rows(20)
    reader = make_reader(FakeSession(rows))
    keys = [("user-3",), ("user-7",), ("nobody",), ("user-3",)]
    got = reader.get_rows(keys, concurrency=2)
    assert set(got) == {("user-3",), ("user-7",), ("nobody",)}
    assert got[("nobody",)] is None
    assert got[("user-3",)][1:] == ("user-3", "user-3@example.com")
    assert reader.get_rows([("user-3",)], as_dict=True)[("user-3",)]["email"] == "user-3@example.com"
    assert reader.writetime(("user-7",), "email") == 1000
    assert reader.writetime(("nobody",), "email") is None
    with pytest.raises(ValueError):
        reader.writetime(("user-7",), "user_id")
    with pytest.raises(ValueError):
        reader.get_rows([("a", "b")])


def test_sample_keys_distinct_and_bounded():
    rows = make_rows(500)
    reader = make_reader(FakeSession(rows))
    sample = reader.sample_keys(50, seed=1)
    assert len(sample) == 50 and len(set(sample)) == 50
    assert all(k[0].startswith("user-") for k in sample)
    assert reader.sample_keys(50, seed=1) == sample  # deterministic with a seed
    small = make_reader(FakeSession(make_rows(3))).sample_keys(10, seed=2)
    assert sorted(small) == [("user-0",), ("user-1",), ("user-2",)]
    assert make_reader(FakeSession([])).sample_keys(5) == []


def test_rate_limit_applies_per_page(monkeypatch):
    rows = make_rows(30)
    reader = make_reader(FakeSession(rows), fetch_size=10, rate_limit=10)
    taken = []
    monkeypatch.setattr(reader.rate_limiter, "acquire", lambda n: taken.append(n))
    assert len(list(reader.scan_range(split_ring(1)[0]))) == 30
    assert sum(taken) == 30
