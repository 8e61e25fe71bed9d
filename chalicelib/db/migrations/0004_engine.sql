-- job engine: scheduled-job idempotency (one job per table per schedule event)
ALTER TABLE recon.jobs ADD COLUMN schedule_event_id text;
CREATE UNIQUE INDEX jobs_schedule_event ON recon.jobs (table_name, schedule_event_id) WHERE schedule_event_id IS NOT NULL;
CREATE INDEX jobs_phase ON recon.jobs (phase) WHERE phase IN ('SCANNING', 'RECHECKING', 'PLANNING');
CREATE INDEX mismatches_table_pending_time ON recon.mismatches (table_name, detected_at) WHERE resolution_status = 'PENDING';
