-- What a RUNNING job is waiting out: the last transient fault one of its steps met (planning, a segment's
-- scan, the rechecks), and since when, until the job makes progress again. Shown in the job's
-- validation_errors while it runs (docs/api.md), so a job stuck on an unreachable Cassandra says why.
ALTER TABLE recon.jobs ADD COLUMN retry_error text, ADD COLUMN retry_since timestamptz;
