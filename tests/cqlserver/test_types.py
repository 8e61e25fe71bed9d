"""Round trip of every supported type, through bind values and through CQL literals."""

import datetime
import decimal
import ipaddress
import uuid

import pytest
from cassandra.util import Date, Time, SortedSet, OrderedMapSerializedKey

pytestmark = pytest.mark.timeout(180)  # a hung server must fail the test, not the run

COLUMNS = [
    ("t_text", "text", "héllo"),
    ("t_varchar", "varchar", "x"),
    ("t_ascii", "ascii", "abc"),
    ("t_int", "int", -2147483648),
    ("t_bigint", "bigint", 9223372036854775807),
    ("t_smallint", "smallint", -32768),
    ("t_tinyint", "tinyint", 127),
    ("t_varint", "varint", -123456789012345678901234567890),
    ("t_boolean", "boolean", False),
    ("t_double", "double", 1.5e300),
    ("t_float", "float", 0.25),
    ("t_decimal", "decimal", decimal.Decimal("-12345.678900")),
    ("t_uuid", "uuid", uuid.UUID("d2177dd0-eaa2-11de-a572-001b779c76e3")),
    ("t_timeuuid", "timeuuid", uuid.UUID("e7d8c0a0-5a3b-11ee-8c99-0242ac120002")),
    ("t_timestamp", "timestamp", datetime.datetime(2024, 2, 29, 23, 59, 58, 123000)),
    ("t_date", "date", Date(datetime.date(1969, 7, 20))),
    ("t_time", "time", Time(datetime.time(12, 34, 56, 789012))),
    ("t_blob", "blob", b"\x00\x01\xff"),
    ("t_inet4", "inet", "192.168.0.1"),
    ("t_inet6", "inet", "::1"),
    ("t_list", "list<int>", [3, 1, 3]),
    ("t_set", "set<text>", {"b", "a", "c"}),
    ("t_map", "map<text, double>", {"z": 1.0, "a": -2.5}),
    ("t_frozen_list", "frozen<list<uuid>>", [uuid.UUID(int=5), uuid.UUID(int=1)]),
    ("t_map_ts", "map<timestamp, bigint>", {datetime.datetime(2020, 1, 1): 1}),
    ("t_set_int", "set<int>", {10, -1, 3}),
]


def _normalise(value):
    if isinstance(value, SortedSet):
        return set(value)
    if isinstance(value, OrderedMapSerializedKey):
        return dict(value)
    return value


@pytest.fixture
def table(session, ks):
    cols = ", ".join("%s %s" % (name, ctype) for name, ctype, _ in COLUMNS)
    session.execute("CREATE TABLE %s.all_types (k int PRIMARY KEY, %s)" % (ks, cols))
    return "%s.all_types" % ks


def test_round_trip_bound_values(session, table):
    names = [c[0] for c in COLUMNS]
    insert = session.prepare("INSERT INTO %s (k, %s) VALUES (?, %s)"
                             % (table, ", ".join(names), ", ".join("?" * len(names))))
    session.execute(insert, [1] + [c[2] for c in COLUMNS])
    row = session.execute("SELECT * FROM %s WHERE k = 1" % table).one()
    for name, ctype, value in COLUMNS:
        got = _normalise(getattr(row, name))
        if ctype == "inet":
            assert ipaddress.ip_address(got) == ipaddress.ip_address(value), name
        elif ctype == "set<text>" or ctype == "set<int>":
            assert got == value, name
        else:
            assert got == value, name
    # Sets and map keys come back in their type's order, as in Cassandra.
    assert list(row.t_set) == ["a", "b", "c"]
    assert list(row.t_set_int) == [-1, 3, 10]
    assert list(row.t_map) == ["a", "z"]
    assert row.t_list == [3, 1, 3]


def test_nulls_and_empty_collections(session, table):
    insert = session.prepare("INSERT INTO %s (k, t_text, t_int, t_list, t_set, t_map, t_frozen_list) "
                             "VALUES (?, ?, ?, ?, ?, ?, ?)" % table)
    session.execute(insert, (2, None, None, [], set(), {}, []))
    row = session.execute("SELECT * FROM %s WHERE k = 2" % table).one()
    assert row is not None  # the row marker keeps the row alive
    assert row.t_text is None and row.t_int is None
    assert row.t_list is None and row.t_set is None and row.t_map is None  # empty = null
    assert row.t_frozen_list == []                                          # frozen keeps empty
    assert row.t_uuid is None


def test_literals(session, table):
    session.execute(
        "INSERT INTO %s (k, t_text, t_ascii, t_int, t_bigint, t_smallint, t_tinyint, t_varint, t_boolean, "
        "t_double, t_float, t_decimal, t_uuid, t_timeuuid, t_timestamp, t_date, t_time, t_blob, t_inet4, "
        "t_list, t_set, t_map, t_map_ts) VALUES (3, 'it''s', 'a', -5, 5000000000, 7, -8, 123456789012345678901, "
        "true, -1.5e10, 2.5, 3.14159, d2177dd0-eaa2-11de-a572-001b779c76e3, "
        "e7d8c0a0-5a3b-11ee-8c99-0242ac120002, '2024-01-02 03:04:05.678+0000', '2001-12-31', '01:02:03.5', "
        "0xcafe, '10.0.0.1', [1, 2], {'x', 'y'}, {'k': 1.5}, {'2020-01-01': 7})" % table)
    row = session.execute("SELECT * FROM %s WHERE k = 3" % table).one()
    assert row.t_text == "it's"
    assert row.t_bigint == 5000000000
    assert row.t_varint == 123456789012345678901
    assert row.t_boolean is True
    assert row.t_double == -1.5e10
    assert row.t_decimal == decimal.Decimal("3.14159")
    assert row.t_uuid == uuid.UUID("d2177dd0-eaa2-11de-a572-001b779c76e3")
    assert row.t_timestamp == datetime.datetime(2024, 1, 2, 3, 4, 5, 678000)
    assert row.t_date == Date(datetime.date(2001, 12, 31))
    assert row.t_time == Time(datetime.time(1, 2, 3, 500000))
    assert row.t_blob == b"\xca\xfe"
    assert row.t_inet4 == "10.0.0.1"
    assert set(row.t_set) == {"x", "y"}
    assert dict(row.t_map) == {"k": 1.5}
    assert dict(row.t_map_ts) == {datetime.datetime(2020, 1, 1): 7}


def test_invalid_values_are_rejected(session, table):
    from cassandra import InvalidRequest
    with pytest.raises(InvalidRequest):
        session.execute("INSERT INTO %s (k, t_int) VALUES (4, 'text')" % table)
    with pytest.raises(InvalidRequest):
        session.execute("INSERT INTO %s (k, t_int) VALUES (4, 99999999999)" % table)
    with pytest.raises(InvalidRequest):
        session.execute("INSERT INTO %s (k, t_nope) VALUES (4, 1)" % table)
    assert session.execute("SELECT * FROM %s WHERE k = 4" % table).one() is None


def test_collection_updates(session, table):
    session.execute("INSERT INTO %s (k, t_list, t_set, t_map) VALUES (5, [1], {'a'}, {'a': 1.0})" % table)
    session.execute("UPDATE %s SET t_list = t_list + [2, 3], t_set = t_set + {'b'}, t_map['b'] = 2.0 "
                    "WHERE k = 5" % table)
    session.execute("UPDATE %s SET t_list = [0] + t_list, t_set = t_set - {'a'} WHERE k = 5" % table)
    row = session.execute("SELECT t_list, t_set, t_map FROM %s WHERE k = 5" % table).one()
    assert row.t_list == [0, 1, 2, 3]
    assert set(row.t_set) == {"b"}
    assert dict(row.t_map) == {"a": 1.0, "b": 2.0}
    prepared = session.prepare("UPDATE %s SET t_map = t_map - ? WHERE k = ?" % table)
    session.execute(prepared, ({"a"}, 5))
    assert dict(session.execute("SELECT t_map FROM %s WHERE k = 5" % table).one().t_map) == {"b": 2.0}
