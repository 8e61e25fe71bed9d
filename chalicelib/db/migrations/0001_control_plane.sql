-- recon control plane: API keys, rate limits, CDC reconciliation jobs, segments, mismatches,
-- rechecks, webhook deliveries.

CREATE TABLE recon.api_keys (
    key_id       uuid PRIMARY KEY,
    key_prefix   text NOT NULL UNIQUE,
    key_hash     text NOT NULL,
    owner_email  text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz
);

-- sliding-window rate limiting: one row per accepted request, per key and bucket
CREATE TABLE recon.rate_limit_events (
    key_id      uuid NOT NULL REFERENCES recon.api_keys (key_id) ON DELETE CASCADE,
    bucket      text NOT NULL,
    at          timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX rate_limit_events_key_bucket_at ON recon.rate_limit_events (key_id, bucket, at);

CREATE TABLE recon.jobs (
    job_id               uuid PRIMARY KEY,
    table_name           text NOT NULL,
    job_type             text NOT NULL CHECK (job_type IN ('HOURLY_SCHEDULED', 'MANUAL_ONDEMAND')),
    validation_strategy  text NOT NULL CHECK (validation_strategy IN ('ROW_COUNT', 'CHECKSUM', 'TIMESTAMP_RANGE', 'SAMPLE')),
    priority             smallint NOT NULL CHECK (priority IN (0, 1, 2)),   -- LOW, NORMAL, HIGH
    status               text NOT NULL CHECK (status IN ('RUNNING', 'COMPLETED', 'FAILED')),
    phase                text NOT NULL CHECK (phase IN ('QUEUED', 'PLANNING', 'SCANNING', 'RECHECKING', 'DONE')),
    requested_by         text,
    created_at           timestamptz NOT NULL DEFAULT now(),
    started_at           timestamptz,
    completed_at         timestamptz,
    deadline_at          timestamptz NOT NULL,
    params               jsonb NOT NULL DEFAULT '{}'::jsonb,
    segment_count        integer,
    segments_done        integer NOT NULL DEFAULT 0,
    cassandra_row_count  bigint,
    postgres_row_count   bigint,
    mismatch_count       integer,
    transient_count      integer NOT NULL DEFAULT 0,
    auto_resolved_count  integer NOT NULL DEFAULT 0,
    drift_percentage     double precision,
    validation_errors    jsonb,
    alert_fired          boolean NOT NULL DEFAULT false
);
CREATE INDEX jobs_list ON recon.jobs (created_at DESC, job_id DESC);
CREATE INDEX jobs_table_list ON recon.jobs (table_name, created_at DESC, job_id DESC);
CREATE INDEX jobs_queue ON recon.jobs (priority DESC, created_at, job_id) WHERE phase = 'QUEUED';
CREATE INDEX jobs_running ON recon.jobs (deadline_at) WHERE status = 'RUNNING';

CREATE TABLE recon.segments (
    job_id            uuid NOT NULL REFERENCES recon.jobs (job_id) ON DELETE CASCADE,
    segment_no        integer NOT NULL,
    token_start       bigint NOT NULL,   -- exclusive
    token_end         bigint NOT NULL,   -- inclusive
    status            text NOT NULL CHECK (status IN ('PENDING', 'RUNNING', 'DONE')),
    attempts          integer NOT NULL DEFAULT 0,
    lease_until       timestamptz,
    started_at        timestamptz,
    completed_at      timestamptz,
    cassandra_rows    bigint,
    postgres_rows     bigint,
    cassandra_digest  text,
    postgres_digest   text,
    mismatches        integer,
    suspects          integer,
    last_error        text,
    PRIMARY KEY (job_id, segment_no)
);
CREATE INDEX segments_claimable ON recon.segments (job_id, segment_no) WHERE status <> 'DONE';

CREATE TABLE recon.mismatches (
    mismatch_id          uuid PRIMARY KEY,
    job_id               uuid NOT NULL REFERENCES recon.jobs (job_id) ON DELETE CASCADE,
    segment_no           integer,
    table_name           text NOT NULL,
    primary_key_value    text NOT NULL,
    primary_key          jsonb NOT NULL,
    mismatch_type        text NOT NULL CHECK (mismatch_type IN ('MISSING_IN_POSTGRES', 'MISSING_IN_CASSANDRA', 'DATA_MISMATCH')),
    cassandra_checksum   text,
    postgres_checksum    text,
    cassandra_data       jsonb,
    postgres_data        jsonb,
    differing_columns    text[],
    detected_at          timestamptz NOT NULL DEFAULT now(),
    resolution_status    text NOT NULL DEFAULT 'PENDING'
                         CHECK (resolution_status IN ('PENDING', 'AUTO_RESOLVED', 'MANUAL_RESOLVED', 'IGNORED')),
    resolution_notes     text,
    resolved_at          timestamptz,
    resolved_by          text,
    UNIQUE (job_id, primary_key_value)
);
CREATE INDEX mismatches_list ON recon.mismatches (detected_at DESC, mismatch_id DESC);
CREATE INDEX mismatches_table_list ON recon.mismatches (table_name, detected_at DESC, mismatch_id DESC);
CREATE INDEX mismatches_job ON recon.mismatches (job_id, mismatch_type);
CREATE INDEX mismatches_pending ON recon.mismatches (table_name, primary_key_value) WHERE resolution_status = 'PENDING';

-- rows that differed while they were being written (inside the replication-lag window): re-checked
-- after the grace period before they become mismatches
CREATE TABLE recon.rechecks (
    job_id             uuid NOT NULL REFERENCES recon.jobs (job_id) ON DELETE CASCADE,
    primary_key_value  text NOT NULL,
    primary_key        jsonb NOT NULL,
    segment_no         integer,
    first_seen_type    text NOT NULL,
    due_at             timestamptz NOT NULL,
    PRIMARY KEY (job_id, primary_key_value)
);

CREATE TABLE recon.webhook_deliveries (
    delivery_id      uuid PRIMARY KEY,
    event            text NOT NULL,
    url              text NOT NULL,
    job_id           uuid REFERENCES recon.jobs (job_id) ON DELETE SET NULL,
    payload          jsonb NOT NULL,
    status           text NOT NULL CHECK (status IN ('PENDING', 'DELIVERED', 'FAILED')),
    attempts         integer NOT NULL DEFAULT 0,
    response_status  integer,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz,
    UNIQUE (event, url, job_id)
);
