"""Lazily created, process-wide Cassandra cluster/session (reused across Lambda invocations).

``get_session()`` connects on first use and returns the same session afterwards; the cache is keyed
by settings so tests pointing at different servers get different sessions. ``shutdown()`` closes
everything (tests, graceful exits). All of it is thread-safe.

Every session uses one default execution profile: token-aware routing over a DC-aware
round-robin policy (``CASSANDRA_LOCAL_DC`` when set), the configured consistency level and request
timeout, and rows as plain tuples (the reader names columns itself; tuples are the fastest
row factory).
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import TYPE_CHECKING, Any

from .settings import CassandraSettings

if TYPE_CHECKING:  # pragma: no cover
    from cassandra.cluster import Cluster, Session
    from cassandra.query import PreparedStatement

log = logging.getLogger(__name__)

_lock = threading.Lock()
_sessions: dict[str, tuple[Cluster, Session]] = {}
_raw_sessions: dict[str, Session] = {}
_prepared: weakref.WeakKeyDictionary[Session, dict[str, PreparedStatement]] = (
    weakref.WeakKeyDictionary()
)
_prepare_lock = threading.Lock()


def _cache_key(settings: CassandraSettings) -> str:
    data = settings.model_dump()
    if settings.password is not None:
        data["password"] = settings.password.get_secret_value()
    return repr(sorted(data.items()))


RECONNECT_MAX_DELAY = 10.0   # seconds between a process's attempts to reach a Cassandra node that is down


_timestamps_patched = False


def _decode_timestamp(byts: bytes, protocol_version: int) -> Any:
    """A CQL timestamp (epoch milliseconds) as a naive UTC datetime, exact to the millisecond; outside the years
    1..9999, which no Python datetime holds, the epoch milliseconds themselves (an int)."""
    from datetime import datetime, timedelta

    ms = int.from_bytes(byts, "big", signed=True)
    try:
        return datetime(1970, 1, 1) + timedelta(milliseconds=ms)
    except OverflowError:
        return ms


def tolerate_any_timestamp() -> None:
    """Decode every CQL timestamp with ``_decode_timestamp``. The driver's decoder raises OverflowError for a
    value after the year 9999 (Cassandra stores any 64-bit millisecond count): inside its row parser, which
    drops the connection, so one such row failed every read of its range again and again. Its compiled parser
    has no hook for one type: without its compiled timestamp decoder it calls the type's Python ``deserialize``,
    replaced here (about 0.6 µs more per value). Once per process, before the first session."""
    global _timestamps_patched
    if _timestamps_patched:
        return
    from cassandra import cqltypes

    cqltypes.DateType.deserialize = staticmethod(_decode_timestamp)
    try:
        import cassandra.deserializers as compiled
    except ImportError:   # the driver without its compiled extensions calls deserialize already
        compiled = None
    if compiled is not None and hasattr(compiled, "DesDateType"):
        delattr(compiled, "DesDateType")   # its lookup by name then falls back to the generic deserializer
    _timestamps_patched = True


def build_cluster(settings: CassandraSettings) -> Cluster:
    """A ``Cluster`` configured from settings (not connected yet)."""
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
    from cassandra.policies import DCAwareRoundRobinPolicy, ExponentialReconnectionPolicy, TokenAwarePolicy
    from cassandra.query import tuple_factory

    tolerate_any_timestamp()
    profile = ExecutionProfile(
        load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy(local_dc=settings.local_dc)),
        consistency_level=settings.consistency_level,
        request_timeout=settings.request_timeout,
        row_factory=tuple_factory,
    )
    kwargs: dict[str, Any] = {
        "contact_points": list(settings.hosts),
        "port": settings.port,
        "execution_profiles": {EXEC_PROFILE_DEFAULT: profile},
        "connect_timeout": settings.connect_timeout,
        "control_connection_timeout": settings.connect_timeout,
        # the driver's default backs off to 10 minutes between attempts: a process whose Cassandra was down for
        # a minute went on failing with NoHostAvailable for a minute or more after it was back
        "reconnection_policy": ExponentialReconnectionPolicy(base_delay=0.5, max_delay=RECONNECT_MAX_DELAY),
    }
    if settings.protocol_version is not None:
        kwargs["protocol_version"] = settings.protocol_version
    if settings.username:
        from cassandra.auth import PlainTextAuthProvider

        password = settings.password.get_secret_value() if settings.password else ""
        kwargs["auth_provider"] = PlainTextAuthProvider(username=settings.username, password=password)
    if settings.ssl:
        import ssl

        context = ssl.create_default_context(cafile=settings.ssl_ca)
        kwargs["ssl_context"] = context
    return Cluster(**kwargs)


def get_session(settings: CassandraSettings | None = None) -> Session:
    """The process-wide session for ``settings`` (default: from the environment)."""
    settings = settings or CassandraSettings()
    key = _cache_key(settings)
    cached = _sessions.get(key)
    if cached is not None and not cached[1].is_shutdown:
        return cached[1]
    with _lock:
        cached = _sessions.get(key)
        if cached is not None and not cached[1].is_shutdown:
            return cached[1]
        cluster = build_cluster(settings)
        try:
            session = cluster.connect()
        except Exception:
            cluster.shutdown()
            raise
        session.default_fetch_size = settings.fetch_size
        log.info("connected to Cassandra at %s", settings.describe())
        _sessions[key] = (cluster, session)
        return session


def get_raw_session(settings: CassandraSettings | None = None) -> Session:
    """A second session on the same cluster whose rows are the columns' serialized bytes
    (``wire.raw_protocol_handler``); its own connections, so decoded reads are unaffected."""
    from .wire import raw_protocol_handler

    settings = settings or CassandraSettings()
    key = _cache_key(settings)
    raw = _raw_sessions.get(key)
    if raw is not None and not raw.is_shutdown:
        return raw
    main = get_session(settings)
    with _lock:
        raw = _raw_sessions.get(key)
        if raw is not None and not raw.is_shutdown:
            return raw
        raw = main.cluster.connect()
        raw.client_protocol_handler = raw_protocol_handler()
        raw.default_fetch_size = settings.fetch_size
        _raw_sessions[key] = raw
        return raw


def prepare(session: Session, query: str) -> PreparedStatement:
    """``session.prepare`` cached per session and query text (one round trip per process)."""
    per_session = _prepared.get(session)
    stmt = per_session.get(query) if per_session is not None else None
    if stmt is not None:
        return stmt
    with _prepare_lock:
        per_session = _prepared.setdefault(session, {})
        stmt = per_session.get(query)
        if stmt is None:
            stmt = session.prepare(query)
            per_session[query] = stmt
        return stmt


def shutdown() -> None:
    """Close every cached cluster and forget prepared statements."""
    with _lock:
        items = list(_sessions.values())
        _sessions.clear()
        _raw_sessions.clear()
        with _prepare_lock:
            _prepared.clear()
    for cluster, _session in items:
        try:
            cluster.shutdown()
        except Exception:  # pragma: no cover - best effort on teardown
            log.warning("error shutting down Cassandra cluster", exc_info=True)
