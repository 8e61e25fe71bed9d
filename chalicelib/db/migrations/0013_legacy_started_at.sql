-- When POST /reconciliations/{id}/start accepted a legacy reconciliation (platform §7's startedAt of the
-- start answer). The reconciliation reads IN_PROGRESS from that moment, before a worker has taken its
-- step, so its GET and list answer this time as startedAt: the one the start answered, from then on.
ALTER TABLE recon.legacy_reconciliations ADD COLUMN started_at timestamptz;
