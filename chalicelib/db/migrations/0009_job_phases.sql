-- PLANNING was never a phase a job could be seen in: a queued job is planned inside the transaction
-- that claims it (QUEUED -> SCANNING in one commit).

ALTER TABLE recon.jobs DROP CONSTRAINT jobs_phase_check;
ALTER TABLE recon.jobs ADD CONSTRAINT jobs_phase_check CHECK (phase IN ('QUEUED', 'SCANNING', 'RECHECKING', 'DONE'));

DROP INDEX recon.jobs_phase;
CREATE INDEX jobs_phase ON recon.jobs (phase) WHERE phase IN ('SCANNING', 'RECHECKING');
