"""Drift alerts of CDC jobs as a receiver sees them (contract "Webhooks", docs/alerts.md): the stack's own
runner, started with a webhook URL, a secret and a drift threshold below the demo data's drift, sends a
signed job_completed and a drift_detected for a finished job, with the values the jobs API shows."""
from __future__ import annotations

import hashlib
import hmac
import json
import signal
import time
import uuid

from tests.e2e.conftest import Api
from tests.e2e.test_cdc_contract_http import TRIGGER, new_key
from tests.e2e.test_stream_runs import _restart_runner, _webhook_receiver, settled_deliveries


def test_a_drifting_job_sends_signed_completion_and_drift_webhooks(stack, demo):
    api = Api(stack["url"], new_key(stack, "e2e-cdc-alerts@recon.local"))
    server, received = _webhook_receiver()
    secret = f"whsec-{uuid.uuid4().hex}"
    # the demo data drifts 18 of 2995 rows (0.60 %): above 0.5, below 5 x 0.5, so WARNING
    _restart_runner(stack, signal.SIGTERM, {"WEBHOOK_URLS": f"http://127.0.0.1:{server.server_port}/hook",
                                            "WEBHOOK_SECRET": secret, "DRIFT_ALERT_THRESHOLD_PERCENTAGE": "0.5"})
    try:
        r = api.post(TRIGGER, {"tables": ["users"], "validation_strategy": "CHECKSUM", "priority": "HIGH"})
        assert r.status_code == 202, r.text
        job = api.wait_job(r.json()["job_ids"][0])
        mine = lambda: [(h, b) for h, b in list(received) if json.loads(b)["data"]["job_id"] == job["job_id"]]  # noqa: E731
        deadline = time.monotonic() + 60
        while len(mine()) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        rows = [r[1:] for r in settled_deliveries(stack, [f"job:{job['job_id']}"], 2, deadline)]
    finally:
        _restart_runner(stack, signal.SIGTERM)
        server.shutdown()
    assert job["status"] == "COMPLETED" and job["drift_percentage"] > 0.5 and job["alert_fired"] is True, job
    assert rows == [("reconciliation.drift_detected", "DELIVERED", 1),
                    ("reconciliation.job_completed", "DELIVERED", 1)], rows
    got = {}
    for headers, body in mine():
        ts = headers["X-Recon-Timestamp"]
        expected = "sha256=" + hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["X-Recon-Signature"], expected)
        assert abs(time.time() - int(ts)) < 300 and headers["Content-Type"] == "application/json"
        doc = json.loads(body)
        assert headers["X-Recon-Event"] == doc["event"]
        got[doc["event"]] = doc
    # the contract's payload example, key for key, with the job's values as the jobs API shows them
    assert got["reconciliation.drift_detected"] == {
        "event": "reconciliation.drift_detected", "timestamp": job["completed_at"],
        "data": {"job_id": job["job_id"], "table": "users", "drift_percentage": job["drift_percentage"],
                 "severity": "WARNING"}}
    assert list(got["reconciliation.drift_detected"]["data"]) == ["job_id", "table", "drift_percentage", "severity"]
    assert got["reconciliation.job_completed"] == {
        "event": "reconciliation.job_completed", "timestamp": job["completed_at"],
        "data": {"job_id": job["job_id"], "table": "users", "status": "COMPLETED", "validation_strategy": "CHECKSUM",
                 "mismatch_count": job["mismatch_count"], "drift_percentage": job["drift_percentage"],
                 "duration_seconds": job["duration_seconds"]}}
