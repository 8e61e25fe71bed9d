"""The file worker: an upload session's bytes are inspected (format, columns, rows) and hashed, and
the file becomes READY or INVALID. Messages are wake-ups keyed by file id: a duplicate finds the file
no longer PROCESSING and does nothing. A file that fails on its last delivery becomes INVALID with the
reason instead of staying PROCESSING forever.
"""
from __future__ import annotations

import json

from chalicelib.observability import logger

LAST_DELIVERY = 5   # infra/resources.yml MaxReceiveCount


def handle_file_message(body: str, receive_count: int = 1) -> None:
    from chalicelib.streams import files

    try:
        file_id = int(json.loads(body)["fileId"])
    except (ValueError, KeyError, TypeError):
        logger.error("file message without a fileId: dropped", extra={"body": body[:200]})
        return
    try:
        row = files.process_session(file_id)
    except Exception as exc:
        if receive_count >= LAST_DELIVERY:
            files.mark_failed(file_id, f"the file could not be inspected ({type(exc).__name__})")
            logger.exception("file inspection failed for the last time", extra={"file_id": file_id})
            return
        raise
    if row is None:
        logger.info("file already processed", extra={"file_id": file_id})
        return
    logger.info("file processed", extra={"file_id": file_id, "status": row["status"], "rows": row["row_count"]})
    if row["status"] == "READY":
        publish_file_ready(row)


def publish_file_ready(row: dict) -> None:
    """FileReady on the event bus (EVENT-triggered streams). Best effort: the file is READY either way,
    and a failure is logged with the file id."""
    try:
        from chalicelib.streams import events

        events.publish_file_ready(row)
    except Exception:
        logger.exception("publishing FileReady failed", extra={"file_id": row.get("file_id")})
