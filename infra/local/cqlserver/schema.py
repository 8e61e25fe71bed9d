"""Keyspace and table definitions, routing keys and Murmur3 tokens."""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass, field

from cassandra.murmur3 import murmur3

from .cqltypes import CqlType, parse_type

MIN_TOKEN = -(1 << 63)
MAX_TOKEN = (1 << 63) - 1
_LEN16 = struct.Struct(">H")


def token_of(routing_key: bytes) -> int:
    """Murmur3Partitioner token: Cassandra maps Long.MIN_VALUE to Long.MAX_VALUE."""
    h = murmur3(routing_key)
    return MAX_TOKEN if h == MIN_TOKEN else h


def routing_key(parts: list[bytes]) -> bytes:
    """Partition key bytes as Cassandra serializes them (CompositeType for several columns)."""
    if len(parts) == 1:
        return parts[0]
    return b"".join(_LEN16.pack(len(p)) + p + b"\x00" for p in parts)


@dataclass
class Column:
    name: str
    type: CqlType
    kind: str          # partition_key | clustering | regular
    position: int      # position within its kind (-1 for regular)
    desc: bool = False


@dataclass
class Table:
    keyspace: str
    name: str
    id: uuid.UUID
    columns: list[Column]
    data_table: str = ""
    by_name: dict = field(default_factory=dict)

    def __post_init__(self):
        self.by_name = {c.name: i for i, c in enumerate(self.columns)}
        self.partition_key = [c for c in self.columns if c.kind == "partition_key"]
        self.clustering = [c for c in self.columns if c.kind == "clustering"]
        self.n_key = len(self.partition_key) + len(self.clustering)
        self.n_regular = len(self.columns) - self.n_key
        if not self.data_table:
            self.data_table = "d_" + self.id.hex
        self.next_expiry = None  # earliest TTL expiry in the table (unix seconds), None: nothing expires

    @classmethod
    def build(cls, keyspace, name, table_id, column_types, partition_key, clustering, order):
        types = dict(column_types)
        cols = []
        for i, pk in enumerate(partition_key):
            cols.append(Column(pk, types[pk], "partition_key", i))
        for i, ck in enumerate(clustering):
            cols.append(Column(ck, types[ck], "clustering", i, order.get(ck, "asc") == "desc"))
        keys = set(partition_key) | set(clustering)
        for col_name in sorted(n for n, _ in column_types if n not in keys):
            cols.append(Column(col_name, types[col_name], "regular", -1))
        return cls(keyspace, name, table_id, cols)

    def to_json(self) -> dict:
        return {
            "id": str(self.id),
            "columns": [[c.name, c.type.cql()] for c in self.columns],
            "partition_key": [c.name for c in self.partition_key],
            "clustering": [c.name for c in self.clustering],
            "order": {c.name: ("desc" if c.desc else "asc") for c in self.clustering},
            "data_table": self.data_table,
        }

    @classmethod
    def from_json(cls, keyspace, name, d) -> "Table":
        t = cls.build(keyspace, name, uuid.UUID(d["id"]), [(n, parse_type(ty)) for n, ty in d["columns"]],
                      d["partition_key"], d["clustering"], d["order"])
        t.data_table = d["data_table"]
        return t

    def column(self, name: str) -> Column | None:
        i = self.by_name.get(name)
        return None if i is None else self.columns[i]

    def clustering_key(self, values: list[bytes]) -> bytes:
        """Order-preserving bytes of a full clustering key (DESC columns inverted)."""
        out = []
        for col, v in zip(self.clustering, values):
            out.append(component_key(col, v))
        return b"".join(out)


def component_key(col: Column, value: bytes) -> bytes:
    k = col.type.order_key(value)
    if col.desc:
        k = bytes(b ^ 0xFF for b in k)
    return k


@dataclass
class Keyspace:
    name: str
    replication: dict
    durable_writes: bool = True
    tables: dict = field(default_factory=dict)
