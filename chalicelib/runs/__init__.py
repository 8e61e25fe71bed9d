"""Product-neutral run machinery shared by CDC jobs and stream runs.

- `retry`: which faults are transient, backoff within a time budget (`retry_call`, `ServiceUnavailable`)
- `leases`: claim with priority, lease and heartbeat, exactly-once completion on control-plane rows
- `wakeups`: best-effort SQS wake-up messages (the control plane is the queue; the sweeper re-sends)
- `sweeper`: the periodic maintenance pass, with hooks each product registers
- `webhooks`: signed webhook deliveries with retries (plan in a transaction, send from a queue worker)

Nothing here knows about jobs, segments or streams; the products pass their tables and messages in.
Importing this package is free: each module imports what it needs.
"""
