"""CQL dev server: a Cassandra stand-in speaking native protocol v4, for local runs and tests only.

    from infra.local.cqlserver import CqlServer
    with CqlServer(port=0) as srv:
        cluster = Cluster(["127.0.0.1"], port=srv.port)

See docs/cqlserver.md.
"""

from .server import CqlServer

__all__ = ["CqlServer"]
