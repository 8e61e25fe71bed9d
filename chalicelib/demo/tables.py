"""The demo tables: schemas on both sides and deterministic realistic rows.

Rows are generated as Cassandra-side values (what the driver writes and reads: naive UTC
datetimes with millisecond precision, ``Decimal`` with two places, sets/lists/dicts), and turned
into the PostgreSQL row a CDC sink would write by :meth:`DemoTable.to_postgres` (aware UTC
timestamps, sorted arrays for sets, jsonb for maps, the row's Murmur3 token in ``recon_token``).

Everything is driven by ``random.Random`` seeded from ``(seed, table)`` and by ``now``, so the same
seed and ``now`` give the same rows.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from cassandra.util import uuid_from_time
from psycopg.types.json import Jsonb

from chalicelib.cassandra.tokens import token_function

UTC = dt.timezone.utc
TOKEN_COLUMN = "recon_token"

_FIRST = ["Ada", "Alan", "Grace", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Margaret", "Linus",
          "Radia", "Dennis", "Katherine", "John", "Sophie", "Tim", "Hedy", "Niklaus", "Leslie", "Anita"]
_LAST = ["Lovelace", "Turing", "Hopper", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Hamilton",
         "Torvalds", "Perlman", "Ritchie", "Johnson", "McCarthy", "Wilson", "Lee", "Lamarr", "Wirth",
         "Lamport", "Borg", "Müller", "Østergaard", "O'Brien", "Nakamura"]
_TAGS = ["vip", "beta", "newsletter", "churn-risk", "b2b", "mobile", "eu", "us", "apac", "trial"]
_STATUSES = ["PENDING", "PAID", "SHIPPED", "DELIVERED", "CANCELLED", "REFUNDED"]
_CURRENCIES = ["EUR", "USD", "GBP", "JPY", "CHF", "SEK"]
_ATTR_KEYS = ["channel", "coupon", "gift", "warehouse", "note", "priority"]
_CATEGORIES = ["kitchen", "garden", "tools", "toys", "books", "audio", "sports", "office", "outdoor"]
_ADJ = ["Compact", "Deluxe", "Smart", "Classic", "Ultra", "Eco", "Pro", "Mini"]
_NOUN = ["Kettle", "Drill", "Lamp", "Backpack", "Speaker", "Chair", "Notebook", "Tent", "Blender"]


def _ms(ts: dt.datetime) -> dt.datetime:
    return ts.replace(microsecond=ts.microsecond // 1000 * 1000)


def _updated_at(rng: random.Random, now: dt.datetime) -> dt.datetime:
    """Spread over the last 48 hours, about 10% inside the last hour."""
    if rng.random() < 0.1:
        seconds = rng.uniform(0, 3600)
    else:
        seconds = rng.uniform(3600, 48 * 3600)
    return _ms(now - dt.timedelta(seconds=seconds))


def _uuid4(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def _money(rng: random.Random, high: int) -> Decimal:
    return Decimal(rng.randint(0, high * 100)).scaleb(-2)


@dataclass(frozen=True)
class Mutation:
    column: str
    apply: Callable[[Any, random.Random], Any]


@dataclass
class DemoTable:
    name: str
    partition_key: list[str]
    clustering_key: list[str]
    cql_types: dict[str, str]                 # every column, in table order
    pg_types: dict[str, str]                  # every column but the token column
    clustering_order: str = ""
    mutations: list[Mutation] = field(default_factory=list)
    collection_kinds: dict[str, str] = field(default_factory=dict)  # column -> set/list/map
    generate: Callable[[random.Random, dt.datetime, int], Iterator[dict[str, Any]]] | None = None

    @property
    def primary_key(self) -> list[str]:
        return [*self.partition_key, *self.clustering_key]

    @property
    def columns(self) -> list[str]:
        return list(self.cql_types)

    @property
    def pg_columns(self) -> list[str]:
        return [*self.pg_types, TOKEN_COLUMN]

    def token_fn(self):
        return token_function([self.cql_types[c] for c in self.partition_key])

    def cql_create(self, keyspace: str) -> str:
        cols = ", ".join(f"{c} {t}" for c, t in self.cql_types.items())
        if self.clustering_key:
            pk = f"(({', '.join(self.partition_key)}), {', '.join(self.clustering_key)})"
        else:
            pk = f"({', '.join(self.partition_key)})"
        order = f" WITH CLUSTERING ORDER BY ({self.clustering_order})" if self.clustering_order else ""
        return f"CREATE TABLE IF NOT EXISTS {keyspace}.{self.name} ({cols}, PRIMARY KEY {pk}){order}"

    def pg_create(self, schema: str) -> list[str]:
        cols = ", ".join(f"{c} {t}" for c, t in self.pg_types.items())
        return [
            f'CREATE TABLE IF NOT EXISTS "{schema}"."{self.name}" ({cols}, {TOKEN_COLUMN} bigint, '
            f"PRIMARY KEY ({', '.join(self.primary_key)}))",
            f'CREATE INDEX IF NOT EXISTS "{self.name}_{TOKEN_COLUMN}_idx" '
            f'ON "{schema}"."{self.name}" ({TOKEN_COLUMN})',
        ]

    def key_of(self, row: dict[str, Any]) -> tuple:
        return tuple(row[c] for c in self.primary_key)

    def to_postgres(self, row: dict[str, Any], token: int, rng: random.Random) -> tuple:
        """The PostgreSQL row a CDC sink writes for ``row``: same instants, arrays, jsonb, token."""
        out = []
        for col in self.pg_types:
            v = row[col]
            kind = self.collection_kinds.get(col)
            if kind is not None:
                if not v:  # empty collection == null in Cassandra; the sink writes either form
                    v = None if rng.random() < 0.5 else ({} if kind == "map" else [])
                elif kind == "set":
                    v = sorted(v)
                elif kind == "list":
                    v = list(v)
                if kind == "map" and v is not None:
                    v = Jsonb(dict(v))
            elif isinstance(v, dt.datetime):
                v = v.replace(tzinfo=UTC)
            out.append(v)
        out.append(token)
        return tuple(out)

    def to_cassandra(self, row: dict[str, Any]) -> tuple:
        return tuple((row[c] or None) if c in self.collection_kinds else row[c] for c in self.cql_types)


# -------------------------------------------------------------------------------------------------
# mutations: each always yields a value different from the original under the engine's rules
# (never null <-> empty collection, beyond any sensible tolerance)


def _mut_text(suffix: str) -> Callable[[Any, random.Random], Any]:
    return lambda v, rng: f"{v}{suffix}" if v else f"changed{suffix}"


def _mut_int(v, rng):
    return (v or 0) + rng.randint(1, 9)


def _mut_decimal(v, rng):
    return (v or Decimal("0.00")) + Decimal(rng.randint(100, 9999)).scaleb(-2)


def _mut_double(v, rng):
    return (v or 0.0) + rng.randint(2, 50) + 0.5


def _mut_bool(v, rng):
    return not v if v is not None else True


def _mut_set(v, rng):
    return set(v or ()) | {f"drift-{rng.randint(0, 999)}"}


def _mut_list(v, rng):
    return list(v or ()) + [rng.randint(1, 99)]


def _mut_map(v, rng):
    return {**(v or {}), "drift": str(rng.randint(0, 999))}


def _mut_timestamp(v, rng):
    return v + dt.timedelta(minutes=rng.randint(5, 600))


def _mut_date(v, rng):
    return (v or dt.date(2020, 1, 1)) + dt.timedelta(days=rng.randint(1, 30))


def _mut_currency(v, rng):
    return next(c for c in rng.sample(_CURRENCIES, len(_CURRENCIES)) if c != v)


def _mut_status(v, rng):
    return next(s for s in rng.sample(_STATUSES, len(_STATUSES)) if s != v)


# -------------------------------------------------------------------------------------------------
# generators


def _users(rng: random.Random, now: dt.datetime, n: int) -> Iterator[dict[str, Any]]:
    for i in range(1, n + 1):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        tags = set(rng.sample(_TAGS, rng.choice([0, 0, 1, 1, 2, 3])))
        yield {
            "user_id": f"user-{i}",
            "email": None if rng.random() < 0.05 else f"{first.lower()}.{i}@example.com",
            "name": None if rng.random() < 0.03 else f"{first} {last}",
            "age": None if rng.random() < 0.1 else rng.randint(18, 90),
            "balance": None if rng.random() < 0.05 else _money(rng, 50_000),
            "tags": tags,
            "updated_at": _updated_at(rng, now),
        }


def _orders(rng: random.Random, now: dt.datetime, n: int) -> Iterator[dict[str, Any]]:
    made = 0
    while made < n:
        customer = _uuid4(rng)
        for _ in range(min(rng.randint(1, 7), n - made)):
            updated = _updated_at(rng, now)
            placed = _ms(updated - dt.timedelta(seconds=rng.uniform(0, 30 * 86400)))
            order_id = uuid_from_time(placed.replace(tzinfo=UTC).timestamp(),
                                      node=rng.getrandbits(48), clock_seq=rng.getrandbits(14))
            n_attrs = rng.choice([0, 0, 1, 2, 3])
            attributes = {k: rng.choice(["web", "app", "yes", "no", "A1", "B7", "rush"])
                          for k in rng.sample(_ATTR_KEYS, n_attrs)}
            yield {
                "customer_id": customer,
                "order_id": order_id,
                "status": rng.choice(_STATUSES),
                "total": None if rng.random() < 0.02 else _money(rng, 5_000),
                "currency": rng.choice(_CURRENCIES),
                "attributes": attributes,
                "placed_at": placed,
                "updated_at": updated,
            }
            made += 1


def _products(rng: random.Random, now: dt.datetime, n: int) -> Iterator[dict[str, Any]]:
    for i in range(1, n + 1):
        dims = [] if rng.random() < 0.15 else [rng.randint(1, 200) for _ in range(3)]
        yield {
            "product_id": _uuid4(rng),
            "sku": f"SKU-{i:07d}",
            "name": f"{rng.choice(_ADJ)} {rng.choice(_NOUN)} {rng.randint(1, 999)}",
            "price": _money(rng, 2_000),
            "weight_kg": None if rng.random() < 0.05 else round(rng.uniform(0.05, 80.0), 3),
            "categories": set(rng.sample(_CATEGORIES, rng.choice([0, 1, 1, 2, 3]))),
            "dimensions": dims,
            "active": rng.random() < 0.85,
            "launched": None if rng.random() < 0.05 else dt.date(2015, 1, 1) + dt.timedelta(days=rng.randint(0, 3900)),
            "updated_at": _updated_at(rng, now),
        }


USERS = DemoTable(
    name="users",
    partition_key=["user_id"],
    clustering_key=[],
    cql_types={"user_id": "text", "email": "text", "name": "text", "age": "int", "balance": "decimal",
               "tags": "set<text>", "updated_at": "timestamp"},
    pg_types={"user_id": "text", "email": "text", "name": "varchar(200)", "age": "integer",
              "balance": "numeric(12,2)", "tags": "text[]", "updated_at": "timestamptz"},
    collection_kinds={"tags": "set"},
    mutations=[Mutation("email", _mut_text(".old")), Mutation("name", _mut_text(" Jr")),
               Mutation("age", _mut_int), Mutation("balance", _mut_decimal), Mutation("tags", _mut_set)],
    generate=_users,
)

ORDERS = DemoTable(
    name="orders",
    partition_key=["customer_id"],
    clustering_key=["order_id"],
    clustering_order="order_id DESC",
    cql_types={"customer_id": "uuid", "order_id": "timeuuid", "status": "text", "total": "decimal",
               "currency": "text", "attributes": "map<text, text>", "placed_at": "timestamp",
               "updated_at": "timestamp"},
    pg_types={"customer_id": "uuid", "order_id": "uuid", "status": "text", "total": "numeric(14,2)",
              "currency": "char(3)", "attributes": "jsonb", "placed_at": "timestamptz",
              "updated_at": "timestamptz"},
    collection_kinds={"attributes": "map"},
    mutations=[Mutation("status", _mut_status), Mutation("total", _mut_decimal),
               Mutation("currency", _mut_currency), Mutation("attributes", _mut_map),
               Mutation("placed_at", _mut_timestamp)],
    generate=_orders,
)

PRODUCTS = DemoTable(
    name="products",
    partition_key=["product_id"],
    clustering_key=[],
    cql_types={"product_id": "uuid", "sku": "text", "name": "text", "price": "decimal",
               "weight_kg": "double", "categories": "set<text>", "dimensions": "list<int>",
               "active": "boolean", "launched": "date", "updated_at": "timestamp"},
    pg_types={"product_id": "uuid", "sku": "text", "name": "text", "price": "numeric(12,2)",
              "weight_kg": "double precision", "categories": "text[]", "dimensions": "integer[]",
              "active": "boolean", "launched": "date", "updated_at": "timestamptz"},
    collection_kinds={"categories": "set", "dimensions": "list"},
    mutations=[Mutation("price", _mut_decimal), Mutation("weight_kg", _mut_double),
               Mutation("categories", _mut_set), Mutation("dimensions", _mut_list),
               Mutation("active", _mut_bool), Mutation("launched", _mut_date), Mutation("sku", _mut_text("-B"))],
    generate=_products,
)

TABLES: dict[str, DemoTable] = {t.name: t for t in (USERS, ORDERS, PRODUCTS)}
