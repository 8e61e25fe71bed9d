"""The system tables the driver reads on connect and on schema refresh.

They are computed from the live schema on every query (they are tiny) and served through the
same SELECT machinery as user tables, minus paging (a system query returns one page).
"""

from __future__ import annotations

import ipaddress
import uuid
from dataclasses import dataclass

from .cqltypes import parse_type

RELEASE_VERSION = "4.1.0"
CQL_VERSION = "3.4.6"
CLUSTER_NAME = "recon-dev"
DATA_CENTER = "datacenter1"
RACK = "rack1"
HOST_ID = uuid.UUID("6a0bd8b1-6d5c-4f7f-9a51-0c0f2d9f6b10")
SIMPLE = "org.apache.cassandra.locator.SimpleStrategy"
LOCAL = "org.apache.cassandra.locator.LocalStrategy"


@dataclass
class SysTable:
    keyspace: str
    name: str
    columns: list          # [(name, CqlType)] in SELECT * order
    partition_key: list
    clustering: list
    rows: object           # callable(ctx) -> list[dict]

    def __post_init__(self):
        self.types = dict(self.columns)


def _cols(spec: str):
    out = []
    for part in spec.split(";"):
        part = part.strip()
        if part:
            name, type_text = part.split(" ", 1)
            out.append((name, parse_type(type_text.strip())))
    return out


def _local_rows(ctx):
    addr = ipaddress.ip_address(ctx.local_address)
    return [{
        "key": "local", "bootstrapped": "COMPLETED", "broadcast_address": addr, "broadcast_port": 7000,
        "cluster_name": CLUSTER_NAME, "cql_version": CQL_VERSION, "data_center": DATA_CENTER,
        "gossip_generation": 1, "host_id": HOST_ID, "listen_address": addr, "listen_port": 7000,
        "native_protocol_version": "4", "partitioner": "org.apache.cassandra.dht.Murmur3Partitioner",
        "rack": RACK, "release_version": RELEASE_VERSION, "rpc_address": addr, "rpc_port": ctx.port,
        "schema_version": ctx.store.schema_version, "tokens": [str(t) for t in ctx.tokens],
    }]


def _keyspace_rows(ctx):
    rows = [
        {"keyspace_name": "system", "durable_writes": True, "replication": {"class": LOCAL}},
        {"keyspace_name": "system_schema", "durable_writes": True, "replication": {"class": LOCAL}},
    ]
    for ks in ctx.store.keyspaces.values():
        rows.append({"keyspace_name": ks.name, "durable_writes": ks.durable_writes,
                     "replication": dict(ks.replication)})
    return rows


_TABLE_OPTIONS = {
    "additional_write_policy": "99p", "bloom_filter_fp_chance": 0.01,
    "caching": {"keys": "ALL", "rows_per_partition": "NONE"}, "cdc": False, "comment": "",
    "compaction": {"class": "org.apache.cassandra.db.compaction.SizeTieredCompactionStrategy",
                   "max_threshold": "32", "min_threshold": "4"},
    "compression": {"chunk_length_in_kb": "16", "class": "org.apache.cassandra.io.compress.LZ4Compressor"},
    "crc_check_chance": 1.0, "default_time_to_live": 0, "extensions": {}, "flags": ["compound"],
    "gc_grace_seconds": 864000, "max_index_interval": 2048, "memtable_flush_period_in_ms": 0,
    "min_index_interval": 128, "read_repair": "BLOCKING", "speculative_retry": "99p",
}


def _all_tables(ctx):
    """(keyspace, name, id, [(column, type cql, kind, position, order)]) of user and system tables."""
    out = []
    for t in SYSTEM_TABLES.values():
        if t.keyspace in ("system", "system_schema"):
            cols = []
            for name, ctype in t.columns:
                if name in t.partition_key:
                    cols.append((name, ctype.cql(), "partition_key", t.partition_key.index(name), "none"))
                elif name in t.clustering:
                    cols.append((name, ctype.cql(), "clustering", t.clustering.index(name), "asc"))
                else:
                    cols.append((name, ctype.cql(), "regular", -1, "none"))
            out.append((t.keyspace, t.name, uuid.uuid5(uuid.NAMESPACE_OID, t.keyspace + "." + t.name), cols))
    for ks in ctx.store.keyspaces.values():
        for table in ks.tables.values():
            cols = []
            for c in table.columns:
                order = "none" if c.kind != "clustering" else ("desc" if c.desc else "asc")
                cols.append((c.name, c.type.cql(), c.kind, c.position, order))
            out.append((ks.name, table.name, table.id, cols))
    return out


def _table_rows(ctx):
    rows = []
    for ks, name, table_id, _ in _all_tables(ctx):
        row = dict(_TABLE_OPTIONS)
        row.update({"keyspace_name": ks, "table_name": name, "id": table_id})
        rows.append(row)
    return rows


def _column_rows(ctx):
    rows = []
    for ks, name, _, cols in _all_tables(ctx):
        for col, type_text, kind, position, order in cols:
            rows.append({"keyspace_name": ks, "table_name": name, "column_name": col,
                         "clustering_order": order, "column_name_bytes": col.encode(), "kind": kind,
                         "position": position, "type": type_text})
    return rows


def _empty(ctx):
    return []


_DEFS = [
    ("system", "local", "key text; bootstrapped text; broadcast_address inet; broadcast_port int; "
     "cluster_name text; cql_version text; data_center text; gossip_generation int; host_id uuid; "
     "listen_address inet; listen_port int; native_protocol_version text; partitioner text; rack text; "
     "release_version text; rpc_address inet; rpc_port int; schema_version uuid; tokens set<text>",
     ["key"], [], _local_rows),
    ("system", "peers", "peer inet; data_center text; host_id uuid; preferred_ip inet; rack text; "
     "release_version text; rpc_address inet; schema_version uuid; tokens set<text>", ["peer"], [], _empty),
    ("system", "peers_v2", "peer inet; peer_port int; data_center text; host_id uuid; native_address inet; "
     "native_port int; preferred_ip inet; preferred_port int; rack text; release_version text; "
     "schema_version uuid; tokens set<text>", ["peer"], ["peer_port"], _empty),
    ("system_schema", "keyspaces", "keyspace_name text; durable_writes boolean; "
     "replication frozen<map<text, text>>", ["keyspace_name"], [], _keyspace_rows),
    ("system_schema", "tables", "keyspace_name text; table_name text; additional_write_policy text; "
     "bloom_filter_fp_chance double; caching frozen<map<text, text>>; cdc boolean; comment text; "
     "compaction frozen<map<text, text>>; compression frozen<map<text, text>>; crc_check_chance double; "
     "default_time_to_live int; extensions frozen<map<text, blob>>; flags frozen<set<text>>; "
     "gc_grace_seconds int; id uuid; max_index_interval int; memtable_flush_period_in_ms int; "
     "min_index_interval int; read_repair text; speculative_retry text",
     ["keyspace_name"], ["table_name"], _table_rows),
    ("system_schema", "columns", "keyspace_name text; table_name text; column_name text; "
     "clustering_order text; column_name_bytes blob; kind text; position int; type text",
     ["keyspace_name"], ["table_name", "column_name"], _column_rows),
    ("system_schema", "types", "keyspace_name text; type_name text; field_names frozen<list<text>>; "
     "field_types frozen<list<text>>", ["keyspace_name"], ["type_name"], _empty),
    ("system_schema", "functions", "keyspace_name text; function_name text; argument_types frozen<list<text>>; "
     "argument_names frozen<list<text>>; body text; called_on_null_input boolean; language text; "
     "return_type text", ["keyspace_name"], ["function_name", "argument_types"], _empty),
    ("system_schema", "aggregates", "keyspace_name text; aggregate_name text; "
     "argument_types frozen<list<text>>; final_func text; initcond text; return_type text; state_func text; "
     "state_type text", ["keyspace_name"], ["aggregate_name", "argument_types"], _empty),
    ("system_schema", "indexes", "keyspace_name text; table_name text; index_name text; kind text; "
     "options frozen<map<text, text>>", ["keyspace_name"], ["table_name", "index_name"], _empty),
    ("system_schema", "triggers", "keyspace_name text; table_name text; trigger_name text; "
     "options frozen<map<text, text>>", ["keyspace_name"], ["table_name", "trigger_name"], _empty),
    ("system_schema", "views", "keyspace_name text; view_name text; base_table_id uuid; base_table_name text; "
     "id uuid; include_all_columns boolean; where_clause text", ["keyspace_name"], ["view_name"], _empty),
    ("system_schema", "dropped_columns", "keyspace_name text; table_name text; column_name text; "
     "dropped_time timestamp; kind text; type text", ["keyspace_name"], ["table_name", "column_name"], _empty),
    ("system_virtual_schema", "keyspaces", "keyspace_name text", ["keyspace_name"], [], _empty),
    ("system_virtual_schema", "tables", "keyspace_name text; table_name text; comment text",
     ["keyspace_name"], ["table_name"], _empty),
    ("system_virtual_schema", "columns", "keyspace_name text; table_name text; column_name text; "
     "clustering_order text; column_name_bytes blob; kind text; position int; type text",
     ["keyspace_name"], ["table_name", "column_name"], _empty),
]

SYSTEM_TABLES = {(ks, name): SysTable(ks, name, _cols(spec), pk, ck, fn) for ks, name, spec, pk, ck, fn in _DEFS}
SYSTEM_KEYSPACES = {"system", "system_schema", "system_virtual_schema", "system_auth",
                    "system_distributed", "system_traces", "system_views"}
