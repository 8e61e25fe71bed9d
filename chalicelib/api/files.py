"""Files (streams platform §2): direct upload, upload sessions, list, get, download, delete."""
from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Optional

from chalice import Blueprint, Response
from pydantic import Field, StrictInt, field_validator
from pydantic_core import PydanticCustomError

from chalicelib.api.core import (DeletedOut, Dialect, Problem, RequestInvalid, Routes, StreamsError, StreamsIn,
                                 StreamsOut, StreamsPageQuery, StreamsQuery, created, ok, page_of, paginated)
from chalicelib.api.auth_middleware import caller_email, rate_limit
from chalicelib.streams import files

bp = Blueprint(__name__)
api = Routes(bp, dialect=Dialect.STREAMS, tag="files")


class FileFormat(str, Enum):
    CSV = "CSV"
    PARQUET = "PARQUET"
    JSONL = "JSONL"


class FileOrigin(str, Enum):
    UPLOAD = "UPLOAD"
    ARTIFACT = "ARTIFACT"
    SNAPSHOT = "SNAPSHOT"


class FileStatus(str, Enum):
    PROCESSING = "PROCESSING"
    READY = "READY"
    INVALID = "INVALID"


class ColumnOut(StreamsOut):
    name: str
    type: str


class FileOut(StreamsOut):
    id: int
    filename: str
    format: Optional[FileFormat] = None
    origin: FileOrigin
    status: FileStatus
    size_bytes: Optional[int] = None
    row_count: Optional[int] = None
    columns: Optional[list[ColumnOut]] = None
    checksum: Optional[str] = Field(default=None, examples=["sha256:9f86d081884c7d65..."])
    error_message: Optional[str] = Field(default=None, examples=["line 1733: 5 fields, header has 6"])
    download_url: str
    created_at: datetime


class UploadQuery(StreamsQuery):
    filename: str = Field(min_length=1, max_length=255, description="Name of the uploaded file (its extension "
                          "suggests the format: .csv, .parquet, .jsonl)")


class FilesQuery(StreamsPageQuery):
    origin: Optional[FileOrigin] = None
    status: Optional[FileStatus] = None
    filename: Optional[str] = Field(default=None, min_length=1, max_length=255, description="Filename prefix")


class UploadSessionIn(StreamsIn):
    filename: str = Field(min_length=1, max_length=255)
    size_bytes: StrictInt = Field(ge=1, description="Size of the file to upload, in bytes (at most 5 GiB: one "
                                  "presigned S3 PUT)", json_schema_extra={"maximum": files.SESSION_MAX_BYTES})

    @field_validator("size_bytes")
    @classmethod
    def _one_put(cls, v: int) -> int:
        if v > files.SESSION_MAX_BYTES:
            raise PydanticCustomError(
                "OUT_OF_RANGE", "must be at most {most} (5 GiB, the most one presigned S3 PUT carries; got {got})",
                {"most": files.SESSION_MAX_BYTES, "got": v})
        return v


class UploadSessionOut(StreamsOut):
    file_id: int
    upload_url: str = Field(description="Presigned S3 PUT URL: PUT the bytes, then POST /files/{id}/complete")
    expires_at: datetime


def _rate_limit() -> None:
    from chalicelib.config import get_settings

    rate_limit(bp, "uploads", get_settings().rate_limit_uploads_per_minute)


def _check_filename(name: str, field: str) -> None:
    where = "query parameter" if field == "filename" else "request body"
    if "/" in name or "\\" in name or name in (".", ".."):
        raise RequestInvalid([Problem(field, "INVALID_VALUE", "must be a file name, without directories")], where=where)
    if any(ord(ch) < 32 or 127 <= ord(ch) < 160 for ch in name):   # tabs, line breaks, escapes: not a name
        raise RequestInvalid([Problem(field, "INVALID_VALUE", "must not contain control characters")], where=where)
    if not name.strip():
        raise RequestInvalid([Problem(field, "INVALID_VALUE", "must not be blank")], where=where)


@api.route("/files", "POST", query=UploadQuery, response=FileOut, status=201, errors=[413],
           content_types=["*/*"], summary="Upload a file (direct, up to 5 MB)",
           description="The raw bytes are the request body (any content type). Answers 201 once the file is READY "
                       "or INVALID (errorMessage names the line and the problem). Larger files: POST /files/uploads. "
                       "Counts against the per-key upload rate limit.",
           raw_request={"application/octet-stream": {"type": "string", "format": "binary"}})
def upload_file(query: UploadQuery):
    _check_filename(query.filename, "filename")
    data = bp.current_request.raw_body or b""
    if not data:
        raise RequestInvalid([Problem("body", "REQUIRED", "is required: the file's bytes (an empty file has no "
                                                          "header row)")])
    if len(data) > files.DIRECT_UPLOAD_MAX_BYTES:
        raise StreamsError.payload_too_large(
            f"Direct uploads are limited to {files.DIRECT_UPLOAD_MAX_BYTES} bytes (got {len(data)}); "
            "use an upload session: POST /api/v1/files/uploads")
    _rate_limit()
    row = files.direct_upload(query.filename, data, caller_email(bp))
    _file_ready(row)
    message = "File uploaded" if row["status"] == "READY" else f"File is INVALID: {row['error_message']}"
    return created(files.file_view(row), f"/files/{row['file_id']}", message=message)


def _file_ready(row: dict) -> None:
    """FileReady for EVENT-triggered streams; best effort (the upload itself has succeeded)."""
    if row and row["status"] == "READY" and row["origin"] == "UPLOAD":
        from chalicelib.workers.files import publish_file_ready

        publish_file_ready(row)


@api.route("/files/uploads", "POST", body=UploadSessionIn, response=UploadSessionOut, status=201,
           summary="Start an upload session (any size) with a presigned S3 PUT URL",
           description="PUT the bytes to uploadUrl before expiresAt, then POST /files/{id}/complete. "
                       "Counts against the per-key upload rate limit.")
def create_upload(body: UploadSessionIn):
    _check_filename(body.filename, "filename")
    _rate_limit()
    row, url = files.create_session(body.filename, body.size_bytes, caller_email(bp))
    return created({"file_id": row["file_id"], "upload_url": url, "expires_at": row["upload_expires_at"]},
                   f"/files/{row['file_id']}",
                   message=f"PUT the bytes to uploadUrl, then POST /files/{row['file_id']}/complete")


@api.route("/files/{id}/complete", "POST", response=FileOut, status=202, errors=[404, 409],
           summary="Complete an upload session: the file is PROCESSING until a worker has inspected it",
           description="409 when no bytes were PUT yet, or when the file has no upload session (a direct upload, an"
                       " artifact, a snapshot). Repeating it returns the file as it is.")
def complete_upload(id: int):
    row, due = files.complete_session(id)
    if due:
        from chalicelib import aws

        aws.send_message(files.FILES_QUEUE, {"fileId": row["file_id"]})
    return created(files.file_view(row), f"/files/{row['file_id']}",
                   message="Processing" if row["status"] in ("PROCESSING", "UPLOADING") else None, status=202)



@api.route("/files", "GET", query=FilesQuery, response=page_of(FileOut), summary="List files (newest first)")
def list_files(query: FilesQuery):
    rows, total = files.list_files(origin=query.origin.value if query.origin else None,
                                   status=query.status.value if query.status else None,
                                   filename=query.filename, offset=query.offset, limit=query.limit)
    return ok(paginated([files.file_view(r) for r in rows], total, query))


@api.route("/files/{id}", "GET", response=FileOut, errors=[404], summary="One file")
def get_file(id: int):
    return ok(files.file_view(files.check_stored(files.require_file(id))))   # bytes gone: reads INVALID


#: what a download answers (app.py makes them binary types: on AWS the bytes travel base64 in the Lambda response)
DOWNLOAD_MEDIA_TYPES = sorted(set(files.MEDIA_TYPES.values()))
_DOWNLOAD_CONTENT = {media: {"schema": {"type": "string", "format": "binary"}} for media in DOWNLOAD_MEDIA_TYPES}


@api.route("/files/{id}/download", "GET", errors=[404, 409], summary="The file's exact bytes",
           description="200 with the bytes for files up to 5 MB, otherwise 302 to a presigned S3 URL (which answers "
                       "with the same Content-Type and Content-Disposition).",
           raw_response=_DOWNLOAD_CONTENT,
           extra_responses={
               "200": {"description": "The file's exact bytes, as its format's media type: text/csv (with the "
                                      "charset when it is known), application/vnd.apache.parquet, application/jsonl",
                       "content": _DOWNLOAD_CONTENT,
                       "headers": {
                           "Content-Disposition": {"description": "attachment, named as the file (RFC 6266)",
                                                   "schema": {"type": "string"}},
                           "X-Checksum-Sha256": {"description": "The sha256 of the bytes (hex), as in `checksum`",
                                                 "schema": {"type": "string", "pattern": "^[0-9a-f]{64}$"}}}},
               "302": {"description": "Redirect to a presigned S3 URL (large files)",
                       "headers": {"Location": {"schema": {"type": "string"}}}}})
def download_file(id: int):
    from chalicelib.streams import storage

    row = files.require_file(id)
    if row["status"] == "UPLOADING":
        raise StreamsError.conflict(f"File {id} has no bytes yet: its upload session is not complete")
    if row["status"] == "PROCESSING":   # its bytes are still being inspected (not yet stored as the file)
        raise StreamsError.conflict(f"File {id} is PROCESSING: it can be downloaded once it is READY or INVALID")
    row = files.stored(row)   # 409 when its stored bytes are gone
    size = row["size_bytes"] or 0
    large = size > files.INLINE_DOWNLOAD_MAX_BYTES
    try:
        # a large one: its first bytes (byte order mark, charset)
        data = storage.get_bytes(row["s3_key"], first=files.CHARSET_SNIFF_BYTES if large else None)
    except Exception as exc:   # the object went away since it was checked: 409 as for any file whose bytes are gone
        if getattr(exc, "response", {}).get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
            raise
        files.mark_bytes_gone(id)
        raise StreamsError.conflict(f"File {id} cannot be downloaded: {files.BYTES_GONE}; upload it again") from None
    content_type = files.media_type(row, data, whole=not large)
    if large:
        return Response(body="", status_code=302, headers={
            "Location": storage.presign_get(row["s3_key"], row["filename"], content_type=content_type)})
    return Response(body=data, status_code=200, headers={
        "Content-Type": content_type,
        "Content-Disposition": storage.content_disposition(row["filename"]),
        "X-Checksum-Sha256": row["sha256"] or ""})


@api.route("/files/{id}", "DELETE", response=DeletedOut, errors=[404, 409],
           summary="Delete a file (409 while a non-archived stream or a legacy reconciliation uses it)")
def delete_file(id: int):
    files.delete_file(id)
    return ok({"id": id, "deleted": True}, message=f"File {id} deleted")
