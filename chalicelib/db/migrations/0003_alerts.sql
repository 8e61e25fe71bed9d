-- Webhook delivery scheduling: when the next attempt is due, and a short claim (lease) so that two
-- copies of one SQS message never POST the same delivery at the same time.

ALTER TABLE recon.webhook_deliveries
    ADD COLUMN next_attempt_at  timestamptz,
    ADD COLUMN lease_token      uuid,
    ADD COLUMN lease_until      timestamptz;

-- the sweeper: pending deliveries whose message may have been lost
CREATE INDEX webhook_deliveries_pending ON recon.webhook_deliveries (next_attempt_at)
    WHERE status = 'PENDING';
CREATE INDEX webhook_deliveries_job ON recon.webhook_deliveries (job_id);
