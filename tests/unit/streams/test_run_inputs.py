"""The step worker's file inputs: a file that cannot be read yet is named with the status the files
API shows for it."""
from __future__ import annotations

import pytest

from chalicelib.streams import files
from chalicelib.streams import step_worker as sw


@pytest.mark.parametrize("status,shown", [
    ("UPLOADING", "file 7 is PROCESSING (its upload is not complete)"),   # UPLOADING is not an API status
    ("PROCESSING", "file 7 is PROCESSING"),
])
def test_a_file_not_ready_is_named_as_the_api_shows_it(tmp_path, monkeypatch, status, shown):
    monkeypatch.setattr(files, "get_file", lambda ref: {"file_id": ref, "status": status, "error_message": None})
    with pytest.raises(RuntimeError) as exc:
        sw._resolve(None, "TARGET", {"type": "FILE", "id": 7}, tmp_path)
    assert str(exc.value) == f"target input: {shown}"


def test_the_api_shows_an_unfinished_upload_as_processing():
    """The counterpart of the message above: what GET /files/{id} says of such a file."""
    view = files.file_view({"file_id": 7, "filename": "x.csv", "status": "UPLOADING", "format": None,
                            "size_bytes": None, "sha256": None, "row_count": None, "columns": None,
                            "error_message": None, "origin": "UPLOAD", "created_at": None, "updated_at": None})
    assert view["status"] == "PROCESSING"
