"""The step worker's local copies of the outputs a later step reads: content-addressed (object key and
registered sha256), verified before use, bounded."""
from __future__ import annotations

import hashlib
import os

import pytest

from chalicelib.streams import step_worker as sw


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setattr(sw, "_OUTPUT_CACHE", d)
    return d


def _output(tmp_path, name: str, data: bytes):
    p = tmp_path / name
    p.write_bytes(data)
    return p, {"s3_key": f"streams/runs/1/step-1/attempt-1/{name}", "sha256": hashlib.sha256(data).hexdigest(),
               "size_bytes": len(data)}


def test_a_kept_output_is_linked_for_the_next_step_with_the_same_bytes(tmp_path):
    path, row = _output(tmp_path, "u.csv", b"id,_reason\n1,NO_CANDIDATE\n")
    sw._to_output_cache(row["s3_key"], row["sha256"], path)
    path.unlink()   # the step's work directory is removed; the copy stays
    out = tmp_path / "next" / "source.csv"
    assert sw._from_output_cache(row, out) is True
    assert out.read_bytes() == b"id,_reason\n1,NO_CANDIDATE\n"


def test_a_copy_whose_bytes_changed_is_dropped_and_not_used(tmp_path, cache_dir):
    path, row = _output(tmp_path, "u.csv", b"id,_reason\n1,NO_CANDIDATE\n")
    sw._to_output_cache(row["s3_key"], row["sha256"], path)
    path.unlink()
    (entry,) = list(cache_dir.iterdir())
    entry.write_bytes(b"id,_reason\n2,NO_CANDIDATE\n")   # same size, other bytes
    out = tmp_path / "next.csv"
    assert sw._from_output_cache(row, out) is False
    assert not out.exists() and not entry.exists()


def test_another_checksum_or_key_is_a_miss(tmp_path):
    path, row = _output(tmp_path, "u.csv", b"a\n1\n")
    sw._to_output_cache(row["s3_key"], row["sha256"], path)
    assert sw._from_output_cache({**row, "sha256": "0" * 64}, tmp_path / "x.csv") is False
    assert sw._from_output_cache({**row, "s3_key": row["s3_key"] + "2"}, tmp_path / "y.csv") is False
    assert sw._from_output_cache({**row, "sha256": None}, tmp_path / "z.csv") is False


def test_the_cache_keeps_the_newest_entries_within_its_count_and_byte_bounds(tmp_path, cache_dir, monkeypatch):
    rows = []
    for i in range(sw._OUTPUT_CACHE_ENTRIES + 2):
        path, row = _output(tmp_path, f"u{i}.csv", f"a\n{i}\n".encode() * 100)
        sw._to_output_cache(row["s3_key"], row["sha256"], path)
        entry = sw._cache_path(row["s3_key"], row["sha256"])
        os.utime(entry, (1000 + i, 1000 + i))   # a distinct age for each
        rows.append(row)
    path, row = _output(tmp_path, "last.csv", b"a\nz\n" * 100)
    sw._to_output_cache(row["s3_key"], row["sha256"], path)
    kept = {p.name for p in cache_dir.iterdir()}
    assert len(kept) == sw._OUTPUT_CACHE_ENTRIES
    assert sw._cache_path(row["s3_key"], row["sha256"]).name in kept
    assert sw._cache_path(rows[0]["s3_key"], rows[0]["sha256"]).name not in kept
    monkeypatch.setenv("STREAM_OUTPUT_CACHE_MB", "0")   # no room: nothing is kept
    path, row = _output(tmp_path, "big.csv", b"a\nb\n")
    sw._to_output_cache(row["s3_key"], row["sha256"], path)
    assert list(cache_dir.iterdir()) == []


def test_copies_left_by_workers_that_are_gone_are_removed(tmp_path, cache_dir):
    dead = tmp_path / "recon-step-outputs-4194305"   # above Linux's largest pid: never a live process
    alive = tmp_path / f"recon-step-outputs-{os.getppid()}"
    for d in (dead, alive):
        d.mkdir()
        (d / "x").write_bytes(b"old")
    path, row = _output(tmp_path, "u.csv", b"a\n1\n")
    sw._to_output_cache(row["s3_key"], row["sha256"], path)
    assert not dead.exists() and alive.exists() and cache_dir.exists()
