-- Exceptions are written in bulk (one COPY per step side) and read a page at a time, newest first
-- (created_at DESC, exception_id DESC: stream_exceptions_list stays). Every B-tree on the table is paid
-- per loaded row: with the five list indexes and the (step_run_id, side, row_no) key a 100k-row load
-- took ~2.5-4.5 s on a busy machine, with the ones below ~0.7-1.4 s. What the reads use instead:
--   * by run / reconciliation / stream: the step runs they cover (recon.stream_step_runs' indexes),
--     then a BRIN range index on step_run_id: one load fills consecutive pages, so the ranges are
--     tight; BRIN is lossy, rows are rechecked, answers stay exact;
--   * by status / assignee: partial indexes on the rows that left OPEN / have an assignee, which a
--     load (every row OPEN, no assignee) never touches.
-- A load happens once per step run: under the step run's row lock, guarded by its exceptionsLoaded
-- flag and a count of that step run's rows (chalicelib/streams/artifacts.py).
ALTER TABLE recon.stream_exceptions DROP CONSTRAINT IF EXISTS stream_exceptions_step_run_id_side_row_no_key;
DROP INDEX IF EXISTS recon.stream_exceptions_by_recon;
DROP INDEX IF EXISTS recon.stream_exceptions_by_status;
DROP INDEX IF EXISTS recon.stream_exceptions_by_run;
DROP INDEX IF EXISTS recon.stream_exceptions_by_stream;
CREATE INDEX stream_exceptions_by_step_run ON recon.stream_exceptions USING brin (step_run_id)
    WITH (pages_per_range = 16);
CREATE INDEX stream_exceptions_closed ON recon.stream_exceptions (status, created_at DESC, exception_id DESC)
    WHERE status <> 'OPEN';
CREATE INDEX stream_exceptions_assigned ON recon.stream_exceptions (assignee, created_at DESC, exception_id DESC)
    WHERE assignee IS NOT NULL;
