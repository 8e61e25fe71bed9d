-- Webhook deliveries for any product: a delivery belongs to a subject ('job:<id>', 'run:<id>', ...)
-- and keeps the exact body that is signed and sent (jsonb does not keep field order).

ALTER TABLE recon.webhook_deliveries
    ADD COLUMN subject text,
    ADD COLUMN body    text;

UPDATE recon.webhook_deliveries SET subject = 'job:' || job_id::text WHERE job_id IS NOT NULL;

-- one delivery per (event, url, subject): planning twice is a no-op
CREATE UNIQUE INDEX webhook_deliveries_event_url_subject ON recon.webhook_deliveries (event, url, subject);
