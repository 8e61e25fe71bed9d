-- Indexes for the read side of the CDC reconciliation API and /metrics.

-- GET /mismatches?job_id=... (newest first) and a job's sample of mismatches (oldest first)
CREATE INDEX mismatches_job_list ON recon.mismatches (job_id, detected_at DESC, mismatch_id DESC);

-- GET /mismatches?resolution_status=... (newest first)
CREATE INDEX mismatches_status_list ON recon.mismatches (resolution_status, detected_at DESC, mismatch_id DESC);

-- /metrics: mismatches per table and type (index-only scan)
CREATE INDEX mismatches_table_type ON recon.mismatches (table_name, mismatch_type);

-- /metrics: the latest completed job per table
CREATE INDEX jobs_latest_completed ON recon.jobs (table_name, completed_at DESC, job_id DESC) WHERE status = 'COMPLETED';
