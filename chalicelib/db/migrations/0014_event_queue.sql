-- An EVENT trigger that meets a run of its stream in flight waits for it (outcome QUEUED) instead of being
-- dropped: what the run needs (the event's detail type and detail, the inputs to bind, the trigger
-- metadata) is kept here until the run in flight ends and the queued event starts its own run.
ALTER TABLE recon.stream_event_runs ADD COLUMN queued jsonb;
CREATE INDEX stream_event_runs_queued ON recon.stream_event_runs (stream_id, received_at) WHERE outcome = 'QUEUED';
