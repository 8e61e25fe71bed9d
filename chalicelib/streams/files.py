"""Files: uploaded inputs and generated outputs (artifacts, snapshots), bytes in S3, metadata in
recon.files. Uploads are inspected by the matching engine (format, columns, rows) and hashed; a file
that cannot be read becomes INVALID with the line and the problem, never half-imported.
"""
from __future__ import annotations

import os
import re
import tempfile
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from psycopg.types.json import Jsonb

from chalicelib.domain.timeutil import iso_z
from chalicelib.streams import storage
from chalicelib.streams.defs_db import fetch_all, fetch_one, tx
from chalicelib.streams.defs_errors import Conflict, NotFound

DIRECT_UPLOAD_MAX_BYTES = 5 * 1024 * 1024
SESSION_MAX_BYTES = 5 * 1024 ** 3          # one presigned PUT (S3's single-request limit)
INLINE_DOWNLOAD_MAX_BYTES = 5 * 1024 * 1024  # larger downloads answer 302 to a presigned URL
RESEND_AFTER_SECONDS = 120                  # a PROCESSING file this old gets a new wake-up on complete

ORIGINS = ("UPLOAD", "ARTIFACT", "SNAPSHOT")
STATUSES = ("PROCESSING", "READY", "INVALID")   # API view: UPLOADING reads as PROCESSING

_EXTENSIONS = {".csv": "CSV", ".tsv": "CSV", ".txt": "CSV", ".parquet": "PARQUET", ".pq": "PARQUET",
               ".jsonl": "JSONL", ".ndjson": "JSONL"}

COLUMNS = ("file_id, filename, format, origin, status, s3_key, size_bytes, declared_size, row_count, columns,"
           " sha256, error_message, created_by, upload_expires_at, created_at, updated_at, ready_at")


def format_hint(filename: str) -> str | None:
    return _EXTENSIONS.get(Path(filename).suffix.lower())


def _columns_json(columns) -> list[dict] | None:
    if columns is None:
        return None
    out = []
    for c in columns:
        if isinstance(c, dict):
            out.append({"name": str(c["name"]), "type": str(c.get("type", "VARCHAR"))})
        else:
            out.append({"name": str(c.name), "type": str(getattr(c, "type", "VARCHAR"))})
    return out


# ------------------------------------------------------------------------------------- inspection


@dataclass
class Outcome:
    """What inspecting a file's bytes found."""

    status: str                     # READY | INVALID
    size_bytes: int
    sha256: str
    format: str | None = None
    row_count: int | None = None
    columns: list[dict] | None = None
    error_message: str | None = None


def inspect_path(path: str | Path, filename: str) -> Outcome:
    """Hash the bytes and let the matching engine read them (format, columns, row count)."""
    from chalicelib.matching import InputError, inspect_file

    size = os.path.getsize(path)
    digest = storage.sha256_of(path)
    hint = format_hint(filename)
    if size == 0:
        return Outcome("INVALID", 0, digest, hint or "CSV",
                       error_message="line 1: the file is empty (a header row is required)")
    try:
        info = inspect_file(str(path), format=hint)
    except InputError as exc:   # the format it was read as (one of CSV, PARQUET, JSONL, never null)
        fmt, message = hint or _read_as(path), str(exc)
        if fmt == "CSV" and not message.startswith("line "):   # the reader's own words, no line: find it
            message = _mixed_line_endings(path) or message
        return Outcome("INVALID", size, digest, fmt, error_message=message[:1000])
    if info.format == "JSONL" and (problem := _jsonl_line_not_object(path)):
        return Outcome("INVALID", size, digest, "JSONL", error_message=problem)
    if info.format == "CSV" and (problem := _header_of_values([(c.name, c.type) for c in info.columns])):
        return Outcome("INVALID", size, digest, "CSV", error_message=problem)
    return Outcome("READY", size, digest, info.format, int(info.row_count), _columns_json(info.columns))


_LINE_END = re.compile(rb"\r\n|\r|\n")
_LINE_END_NAMES = {b"\r\n": "CRLF", b"\n": "LF", b"\r": "CR"}


def _mixed_line_endings(path: str | Path) -> str | None:
    """The CSV reader refuses a file whose lines end in two ways (CRLF, then a bare LF: files joined or edited
    with different tools) with "The CSV Parser state machine reached an invalid state.", naming no line. The
    first line that ends otherwise than line 1 is named here (read line by line, on the error path only)."""
    first, no = None, 0
    with open(path, "rb") as fh:
        for chunk in fh:   # split at LF: a CRLF stays whole, a bare CR is found inside
            for end in _LINE_END.findall(chunk):
                no += 1
                if first is None:
                    first = end
                elif end != first:
                    return (f"line {no}: ends with {_LINE_END_NAMES[end]} where the lines before it end with "
                            f"{_LINE_END_NAMES[first]} (mixed line endings: save the file with one kind)")
    return None


_JSON_KINDS = {b"[": "an array", b'"': "a string", b"t": "a boolean", b"f": "a boolean", b"n": "null"}


def _jsonl_line_not_object(path: str | Path) -> str | None:
    """JSONL rows are JSON objects, one a line. The engine's reader takes any JSON document (a line `[1]`,
    `5` or `null` made the whole file one column named `json`): the first line that is not an object is
    named here. Only the first character of each line is looked at (the reader has checked the syntax)."""
    with open(path, "rb") as fh:
        for no, raw in enumerate(fh, 1):
            text = (raw.removeprefix(b"\xef\xbb\xbf") if no == 1 else raw).lstrip()
            if text and not text.startswith(b"{"):
                kind = _JSON_KINDS.get(text[:1], "a number")
                return f"line {no}: not a JSON object ({kind}); each line is one row: {{\"column\": value, ...}}"
    return None


# a value no column is named: a date over a column of dates, a number with decimals over a column of numbers
_DATE_VALUE = re.compile(r"\s*(\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4})([ T].*)?")
_FRACTION_VALUE = re.compile(r"\s*[-+]?\d*\.\d+\s*")


def _header_of_values(columns: list[tuple[str, str]]) -> str | None:
    """A CSV's first line is its header (platform §2: a header row is required). An export without one had its
    first row taken for the header — a row of the file silently lost to the reconciliation, its values made the
    column names. That first line is told by its names: none holds a letter (`1,10.50,2026-02-20`), or one is a
    value of the column below it that no column is named — a date over dates, a number with decimals over
    numbers (`ORD-1,10.50,2026-02-20`). A name such as `2025` beside `account` is a name."""
    names = [name for name, _ in columns]
    shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
    if names and not any(ch.isalpha() for name in names for ch in name):
        return (f"line 1: the header row holds no column name ({shown}): a CSV needs a header row naming its "
                "columns, and this first line looks like data")
    for name, typ in columns:
        typ = (typ or "").upper()
        date = typ.startswith(("DATE", "TIMESTAMP")) and _DATE_VALUE.fullmatch(name)
        number = typ.startswith(("DECIMAL", "DOUBLE", "FLOAT", "REAL")) and _FRACTION_VALUE.fullmatch(name)
        if date or number:
            return (f"line 1: the header row ({shown}) names a column '{name}', a {'date' if date else 'number'} "
                    f"like the values below it: a CSV needs a header row naming its columns, and this first line "
                    "looks like data")
    return None


def _read_as(path: str | Path) -> str:
    from chalicelib.matching.inputs import InputError, detect_format

    try:
        return detect_format(str(path))
    except InputError:
        return "CSV"


# ---------------------------------------------------------------------------------- data access


def _new_id(conn) -> int:
    return fetch_one(conn, "SELECT nextval(pg_get_serial_sequence('recon.files', 'file_id')) AS id")["id"]


def register_file(*, filename: str, origin: str, s3_key: str, size_bytes: int, sha256: str, row_count: int,
                  columns, format: str = "CSV", conn=None) -> dict:
    """Record a generated file (artifact or snapshot) whose bytes are already at `s3_key`; READY."""
    if origin not in ORIGINS:
        raise ValueError(f"origin must be one of {ORIGINS}, got {origin!r}")
    sha = sha256.removeprefix("sha256:")
    with tx(conn) as c:
        return fetch_one(
            c,
            f"INSERT INTO recon.files (filename, format, origin, status, s3_key, size_bytes, row_count, columns,"
            f" sha256, ready_at) VALUES (%s, %s, %s, 'READY', %s, %s, %s, %s, %s, now()) RETURNING {COLUMNS}",
            (filename, format, origin, s3_key, size_bytes, row_count, Jsonb(_columns_json(columns) or []), sha),
        )


def get_file(file_id: int, conn=None) -> dict | None:
    with tx(conn) as c:
        return fetch_one(c, f"SELECT {COLUMNS} FROM recon.files WHERE file_id = %s", (file_id,))


def require_file(file_id: int, conn=None) -> dict:
    row = get_file(file_id, conn)
    if row is None:
        raise NotFound("File", file_id)
    return row


def get_files(file_ids: list[int], conn=None, *, share_lock: bool = False) -> dict[int, dict]:
    """The files that exist, by id. share_lock: hold them until the caller's transaction ends (a stream
    being saved against a concurrent delete)."""
    if not file_ids:
        return {}
    with tx(conn) as c:
        rows = fetch_all(c, f"SELECT {COLUMNS} FROM recon.files WHERE file_id = ANY(%s) ORDER BY file_id"
                            + (" FOR SHARE" if share_lock else ""), (list(set(file_ids)),))
    return {r["file_id"]: r for r in rows}


def list_files(*, origin: str | None = None, status: str | None = None, filename: str | None = None,
               offset: int = 0, limit: int = 20, conn=None) -> tuple[list[dict], int]:
    where, params = [], []
    if origin:
        where.append("origin = %s")
        params.append(origin)
    if status:
        if status == "PROCESSING":
            where.append("status IN ('PROCESSING', 'UPLOADING')")
        else:
            where.append("status = %s")
            params.append(status)
    if filename:
        prefix = unicodedata.normalize("NFC", filename)
        # a name with letters beyond ASCII may be stored composed or decomposed ('Ü' as U + combining
        # diaeresis, as macOS spells file names): compared in composed form; an ASCII prefix keeps the index
        where.append("filename LIKE %s" if prefix.isascii() else "normalize(filename, NFC) LIKE %s")
        params.append(prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
    clause = ("WHERE " + " AND ".join(where)) if where else ""
    with tx(conn) as c:
        total = fetch_one(c, f"SELECT count(*) AS n FROM recon.files {clause}", params)["n"]
        rows = fetch_all(c, f"SELECT {COLUMNS} FROM recon.files {clause}"
                            " ORDER BY created_at DESC, file_id DESC OFFSET %s LIMIT %s", params + [offset, limit])
    return rows, total


def file_view(row: dict) -> dict:
    """The API JSON of a file (streams platform §2)."""
    status = "PROCESSING" if row["status"] == "UPLOADING" else row["status"]
    return {
        "id": row["file_id"], "filename": row["filename"], "format": row["format"], "origin": row["origin"],
        "status": status, "sizeBytes": row["size_bytes"] if row["size_bytes"] is not None else row.get("declared_size"),
        "rowCount": row["row_count"], "columns": row["columns"],
        "checksum": f"sha256:{row['sha256']}" if row["sha256"] else None,
        "errorMessage": row["error_message"],
        "downloadUrl": f"/api/v1/files/{row['file_id']}/download",
        "createdAt": row["created_at"],
    }


# ------------------------------------------------------------------------------------- uploads


def direct_upload(filename: str, data: bytes, created_by: str | None) -> dict:
    """Store the bytes, inspect them, and record the file READY or INVALID in one step."""
    with tx() as c:
        file_id = _new_id(c)
    key = storage.upload_key(file_id, filename)
    with tempfile.TemporaryDirectory(prefix="recon-upload-") as tmp:
        path = Path(tmp) / storage.safe_name(filename)
        path.write_bytes(data)
        outcome = inspect_path(path, filename)
    storage.put_bytes(key, data)
    try:
        with tx() as c:
            return fetch_one(
                c,
                f"INSERT INTO recon.files (file_id, filename, format, origin, status, s3_key, size_bytes, row_count,"
                f" columns, sha256, error_message, created_by, ready_at)"
                f" VALUES (%s, %s, %s, 'UPLOAD', %s, %s, %s, %s, %s, %s, %s, %s, now()) RETURNING {COLUMNS}",
                (file_id, filename, outcome.format, outcome.status, key, outcome.size_bytes, outcome.row_count,
                 Jsonb(outcome.columns) if outcome.columns is not None else None, outcome.sha256,
                 outcome.error_message, created_by),
            )
    except Exception:
        storage.delete(key)
        raise


def create_session(filename: str, size_bytes: int, created_by: str | None, expires: int = storage.PRESIGN_SECONDS
                   ) -> tuple[dict, str]:
    """An upload session: the file (UPLOADING) and a presigned PUT URL for its bytes."""
    with tx() as c:
        file_id = _new_id(c)
        key = storage.upload_key(file_id, filename)
        row = fetch_one(
            c,
            f"INSERT INTO recon.files (file_id, filename, format, origin, status, s3_key, declared_size, created_by,"
            f" upload_expires_at) VALUES (%s, %s, %s, 'UPLOAD', 'UPLOADING', %s, %s, %s,"
            f" now() + make_interval(secs => %s)) RETURNING {COLUMNS}",
            (file_id, filename, format_hint(filename) or "CSV", key, size_bytes, created_by, expires),  # until read
        )
    return row, storage.presign_put(storage.staging_key(file_id, filename), expires)


def _uploaded_key(row: dict) -> str | None:
    """Where a session's bytes are: its staging key (or, for a session opened before staging keys
    existed, its final key); None when nothing was uploaded."""
    for key in (storage.staging_key(row["file_id"], row["filename"]), row["s3_key"]):
        if storage.head(key) is not None:
            return key
    return None


def complete_session(file_id: int) -> tuple[dict, bool]:
    """The client has PUT the bytes: PROCESSING, and (True) a message for the worker is due.

    Completing again while PROCESSING (or after) returns the file unchanged (False)."""
    row = require_file(file_id)
    if row["origin"] != "UPLOAD":
        what = {"ARTIFACT": "an artifact", "SNAPSHOT": "a snapshot"}.get(row["origin"], row["origin"].lower())
        raise Conflict(f"File {file_id} is {what}, not an upload session")
    if row["upload_expires_at"] is None:
        raise Conflict(f"File {file_id} was uploaded directly (POST /api/v1/files): it has no upload session to"
                       " complete; its status is " + row["status"])
    if row["status"] == "PROCESSING":
        # a wake-up may have been lost: completing again re-sends it once the file has waited a while
        with tx() as c:
            stalled = fetch_one(c, "UPDATE recon.files SET updated_at = now() WHERE file_id = %s AND status ="
                                   " 'PROCESSING' AND updated_at < now() - make_interval(secs => %s)"
                                   f" RETURNING {COLUMNS}", (file_id, RESEND_AFTER_SECONDS))
        return (stalled, True) if stalled else (row, False)
    if row["status"] != "UPLOADING":
        return row, False
    if _uploaded_key(row) is None:
        expires = row["upload_expires_at"]
        if expires is not None and expires <= datetime.now(timezone.utc):   # the URL cannot take them any more
            raise Conflict(f"File {file_id}: the upload session expired at {iso_z(expires)} before any bytes were"
                           " uploaded; start a new one: POST /api/v1/files/uploads")
        raise Conflict(f"File {file_id}: no bytes were uploaded yet; PUT them to the uploadUrl first")
    with tx() as c:
        updated = fetch_one(
            c, f"UPDATE recon.files SET status = 'PROCESSING', updated_at = now() WHERE file_id = %s"
               f" AND status = 'UPLOADING' RETURNING {COLUMNS}", (file_id,))
    return (updated, True) if updated else (require_file(file_id), False)


def process_session(file_id: int) -> dict | None:
    """Worker side: inspect a PROCESSING upload and record READY or INVALID (once; duplicates no-op).

    The bytes inspected are the file: they are stored under the file's key while its row is locked
    and still PROCESSING, so a duplicate worker (or a PUT to the upload URL after completion) cannot
    put other bytes under a recorded checksum."""
    row = get_file(file_id)
    if row is None or row["status"] != "PROCESSING":
        return None
    source = _uploaded_key(row)
    with tempfile.TemporaryDirectory(prefix="recon-file-") as tmp:
        if source is None:
            path = None
            outcome = Outcome("INVALID", 0, "", row["format"], error_message="no bytes were uploaded")
        else:
            path = storage.download_to(source, Path(tmp) / storage.safe_name(row["filename"]))
            outcome = inspect_path(path, row["filename"])
            declared = row["declared_size"]
            if outcome.status == "READY" and declared is not None and declared != outcome.size_bytes:
                outcome.status = "INVALID"
                outcome.error_message = f"uploaded {outcome.size_bytes} bytes, the session announced {declared}"
                outcome.row_count, outcome.columns = None, None
        with tx() as c:
            if fetch_one(c, "SELECT 1 FROM recon.files WHERE file_id = %s AND status = 'PROCESSING' FOR UPDATE",
                         (file_id,)) is None:
                return None
            if path is not None and source != row["s3_key"]:   # an INVALID file keeps its bytes too (to be looked at)
                storage.put_path(row["s3_key"], path)
            done = fetch_one(
                c,
                f"UPDATE recon.files SET status = %s, format = %s, size_bytes = %s, row_count = %s, columns = %s,"
                f" sha256 = %s, error_message = %s, updated_at = now(), ready_at = now()"
                f" WHERE file_id = %s AND status = 'PROCESSING' RETURNING {COLUMNS}",
                (outcome.status, outcome.format, outcome.size_bytes, outcome.row_count,
                 Jsonb(outcome.columns) if outcome.columns is not None else None, outcome.sha256 or None,
                 outcome.error_message, file_id),
            )
    if source is not None and source != row["s3_key"]:
        try:
            storage.delete(source)
        except Exception:  # the file is recorded; the bucket's lifecycle rule expires what is left
            from chalicelib.observability import logger

            logger.warning("could not delete an upload's staging object", extra={"file_id": file_id})
    return done


# -------------------------------------------------------------------------------------- delete


def users_of(file_id: int, conn=None) -> list[str]:
    """What keeps a file from being deleted: steps of non-archived streams, legacy reconciliations."""
    with tx(conn) as c:
        rows = fetch_all(
            c,
            "SELECT s.stream_id, s.kind, s.name, st.step_order FROM recon.streams s"
            " JOIN recon.stream_steps st ON st.stream_id = s.stream_id AND st.version = s.current_version"
            " WHERE s.status <> 'ARCHIVED' AND ((st.source_type = 'FILE' AND st.source_id = %s)"
            "   OR (st.target_type = 'FILE' AND st.target_id = %s))"
            " ORDER BY s.stream_id, st.step_order",
            (file_id, file_id),
        )
        legacy = fetch_all(
            c, "SELECT reconciliation_id, run_id FROM recon.legacy_reconciliations"
               " WHERE source_file_id = %s OR target_file_id = %s ORDER BY reconciliation_id", (file_id, file_id))
        in_flight = runs_in_flight_reading("FILE", file_id, c)
    out = [f"reconciliation {r['reconciliation_id']}" for r in legacy]
    out += [f"stream {r['stream_id']} step {r['step_order']}" for r in rows if r["kind"] == "STREAM"]
    named_runs, named_streams = {r["run_id"] for r in legacy}, {r["stream_id"] for r in rows}
    out += [f"stream run {r['run_id']} (in progress)" for r in in_flight
            if r["run_id"] not in named_runs and r["stream_id"] not in named_streams]
    return out


def runs_in_flight_reading(input_type: str, ref_id: int, conn) -> list[dict]:
    """Runs PENDING or RUNNING whose definition (the one they started with, an EVENT run's bound file
    included) reads this file or data source: deleting it would fail them, whatever their stream is now
    (edited or archived meanwhile)."""
    return fetch_all(
        conn,
        "SELECT DISTINCT r.run_id, r.stream_id FROM recon.stream_runs r CROSS JOIN LATERAL jsonb_array_elements(r.definition) st"
        " WHERE r.status IN ('PENDING', 'RUNNING') AND jsonb_typeof(r.definition) = 'array'"
        " AND ((st->'sourceInput'->>'type' = %s AND st->'sourceInput'->>'id' = %s)"
        "   OR (st->'targetInput'->>'type' = %s AND st->'targetInput'->>'id' = %s)) ORDER BY r.run_id",
        (input_type, str(ref_id), input_type, str(ref_id)))


def delete_file(file_id: int) -> dict:
    import psycopg

    try:
        with tx() as c:
            row = fetch_one(c, f"SELECT {COLUMNS} FROM recon.files WHERE file_id = %s FOR UPDATE", (file_id,))
            if row is None:
                raise NotFound("File", file_id)
            users = users_of(file_id, c)
            if users:
                shown = ", ".join(users[:5]) + (f" and {len(users) - 5} more" if len(users) > 5 else "")
                raise Conflict(f"File {file_id} is in use by {shown}")
            c.execute("DELETE FROM recon.files WHERE file_id = %s", (file_id,))
    except psycopg.errors.ForeignKeyViolation:
        raise Conflict(f"File {file_id} is an artifact of a stream run and is kept with it") from None
    try:
        storage.delete(row["s3_key"])
    except Exception:  # the row is gone; stray bytes are harmless
        from chalicelib.observability import logger

        logger.warning("could not delete the bytes of a deleted file", extra={"file_id": file_id})
    return row


def mark_failed(file_id: int, message: str) -> None:
    """A PROCESSING file that could not be inspected at all: INVALID with the reason."""
    with tx() as c:
        c.execute("UPDATE recon.files SET status = 'INVALID', error_message = %s, updated_at = now(), ready_at = now()"
                  " WHERE file_id = %s AND status = 'PROCESSING'", (message, file_id))


SESSION_GRACE_HOURS = 24   # an upload session never completed this long after its URL expired is INVALID


def sweep() -> dict:
    """Maintenance (every minute, safe to run twice at once): re-send the wake-up of PROCESSING files
    whose message was lost, and close upload sessions abandoned long after their URL expired."""
    with tx() as c:
        stalled = fetch_all(
            c, "UPDATE recon.files SET updated_at = now() WHERE file_id IN (SELECT file_id FROM recon.files"
               " WHERE status = 'PROCESSING' AND updated_at < now() - make_interval(secs => %s)"
               " ORDER BY updated_at LIMIT 500 FOR UPDATE SKIP LOCKED) RETURNING file_id",
            (RESEND_AFTER_SECONDS,))
        expired = fetch_all(
            c, "UPDATE recon.files SET status = 'INVALID', updated_at = now(), error_message ="
               " 'the upload session expired before it was completed' WHERE file_id IN (SELECT file_id FROM recon.files"
               " WHERE status = 'UPLOADING' AND upload_expires_at < now() - make_interval(hours => %s)"
               " LIMIT 500 FOR UPDATE SKIP LOCKED) RETURNING file_id", (SESSION_GRACE_HOURS,))
    if stalled:
        from chalicelib.runs.wakeups import wake

        wake(FILES_QUEUE, [{"fileId": r["file_id"]} for r in stalled])
    return {"resent": len(stalled), "expired": len(expired)}


FILES_QUEUE = "recon-files"


# ------------------------------------------------------------------------------- stored bytes

# The local stack's S3 (LocalStack community edition) keeps objects in memory only: after a restart
# the control plane still lists files whose bytes are gone (docs/decisions.md). Such a file is not left
# READY: it becomes INVALID with this message, found at stack start (check_storage) and on access
# (check_stored: reading one file, downloading it, a run using it).
BYTES_GONE = "the stored bytes of this file are gone (the object storage was reset or the object deleted)"


def mark_bytes_gone(file_id: int, conn=None) -> dict | None:
    """A READY file whose object is missing: INVALID with BYTES_GONE (the updated row; None if it was
    not READY)."""
    with tx(conn) as c:
        return fetch_one(c, f"UPDATE recon.files SET status = 'INVALID', error_message = %s, updated_at = now()"
                            f" WHERE file_id = %s AND status = 'READY' RETURNING {COLUMNS}", (BYTES_GONE, file_id))


def check_stored(row: dict | None) -> dict | None:
    """The file as it is: a READY file whose object is missing is marked INVALID first (one HEAD)."""
    if row is None or row["status"] != "READY" or storage.head(row["s3_key"]) is not None:
        return row
    return mark_bytes_gone(row["file_id"]) or get_file(row["file_id"])


def bytes_gone(row: dict) -> bool:
    return row["status"] == "INVALID" and row["error_message"] == BYTES_GONE


def require_stored(file_id: int) -> dict:
    """The file to read the bytes of: NotFound, or Conflict when its stored bytes are gone."""
    return stored(require_file(file_id))


def stored(row: dict) -> dict:
    """``row`` (a file) when its bytes can be read; Conflict when it never had any or they are gone."""
    file_id = row["file_id"]
    row = check_stored(row)
    if row["status"] == "INVALID" and not row["sha256"]:   # never had bytes (nothing was uploaded to the session)
        raise Conflict(f"File {file_id} has no bytes to download: {row['error_message'] or 'nothing was uploaded'}")
    if bytes_gone(row) or (row["status"] == "INVALID" and row.get("s3_key") and storage.head(row["s3_key"]) is None):
        # an INVALID upload keeps its bytes (to be looked at); when they are gone too, say so (not a 500)
        raise Conflict(f"File {file_id} cannot be downloaded: {BYTES_GONE}; upload it again")
    return row


#: the media type a download of each format is served with: RFC 4180's text/csv, Apache Parquet's IANA type,
#: JSON Lines' application/jsonl (docs/decisions.md)
MEDIA_TYPES = {"CSV": "text/csv", "PARQUET": "application/vnd.apache.parquet", "JSONL": "application/jsonl"}


#: how many first bytes of a large CSV its download's charset is told from
CHARSET_SNIFF_BYTES = 65536


def media_type(row: dict, head: bytes, whole: bool) -> str:
    """The Content-Type of a download of the file (`head`: its first bytes, `whole`: head is all of them).
    A CSV names its charset when it is known: UTF-16 when the bytes start with its byte order mark (Excel's
    Unicode Text, which inspection reads as such); for a READY file UTF-8, or Windows-1252 when its bytes are
    not UTF-8 (inspection read it so: matching/inputs.py); for an INVALID file UTF-8 only when its whole bytes
    decode so (they may be in any encoding)."""
    kind = MEDIA_TYPES.get(row.get("format") or "", "application/octet-stream")
    if kind != "text/csv":
        return kind
    if head.startswith(b"\xff\xfe"):
        return "text/csv; charset=utf-16"
    try:
        head.decode("utf-8")
        utf8 = True
    except UnicodeDecodeError as e:   # a character cut at the end of a part is no proof
        utf8 = not whole and e.start >= len(head) - 3 and e.reason == "unexpected end of data"
    if row["status"] == "READY":
        return "text/csv; charset=utf-8" if utf8 else "text/csv; charset=windows-1252"
    return "text/csv; charset=utf-8" if utf8 and whole else kind


def check_storage() -> dict:
    """Every READY file whose object is not in the bucket becomes INVALID (run at stack start). The READY
    rows are read before the bucket is listed: a file is READY only after its bytes were stored, so a
    file registered meanwhile is never taken for a missing one."""
    with tx() as c:
        rows = fetch_all(c, "SELECT file_id, s3_key FROM recon.files WHERE status = 'READY'")
    if not rows:
        return {"ready": 0, "bytesGone": 0}
    keys = set(storage.list_keys())
    gone = [r["file_id"] for r in rows if r["s3_key"] not in keys]
    if gone:
        with tx() as c:
            c.execute("UPDATE recon.files SET status = 'INVALID', error_message = %s, updated_at = now()"
                      " WHERE file_id = ANY(%s) AND status = 'READY'", (BYTES_GONE, gone))
    return {"ready": len(rows) - len(gone), "bytesGone": len(gone)}


if __name__ == "__main__":   # python -m chalicelib.streams.files check-storage  (scripts/stack.sh)
    import json
    import sys

    if sys.argv[1:] != ["check-storage"]:
        sys.exit("usage: python -m chalicelib.streams.files check-storage")
    print(json.dumps(check_storage()))
