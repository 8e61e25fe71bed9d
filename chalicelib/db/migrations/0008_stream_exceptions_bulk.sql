-- Exceptions are written in bulk (COPY) by the step worker, in the transaction that completes the step
-- attempt they belong to, so their run and step run always exist. The per-row foreign-key checks and one
-- redundant index made that load the slowest part of a step (100k rows: ~8 s, ~4 s without them).
ALTER TABLE recon.stream_exceptions DROP CONSTRAINT IF EXISTS stream_exceptions_run_id_fkey;
ALTER TABLE recon.stream_exceptions DROP CONSTRAINT IF EXISTS stream_exceptions_step_run_id_fkey;
DROP INDEX IF EXISTS recon.stream_exceptions_open_by_stream;
