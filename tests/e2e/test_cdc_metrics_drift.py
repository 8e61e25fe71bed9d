"""The drift gauge as an on-call person reads it (docs/api.md, GET /metrics): after a TIMESTAMP_RANGE job
it still says how far the table is out of sync. That job's drift is the drift of the rows modified in its
window, so taking it as the table's made the gauge jump (to 0 % here, where the table is 0.6 % out of
sync) and a Prometheus rule on it clear or fire for the wrong reason. Through the stack's API and runner."""
from __future__ import annotations

import re

from tests.e2e.conftest import Api
from tests.e2e.test_cdc_contract_http import TRIGGER, new_key


def run(api: Api, strategy: str) -> dict:
    r = api.post(TRIGGER, {"tables": ["users"], "validation_strategy": strategy, "priority": "HIGH"})
    assert r.status_code == 202, r.text
    job = api.wait_job(r.json()["job_ids"][0])
    assert job["status"] == "COMPLETED", job
    return job


def gauge(api: Api) -> float:
    r = api.get("/metrics")
    assert r.status_code == 200, r.text
    (value,) = re.findall(r'^cdc_reconciliation_drift_percentage\{table="users"\} (\S+)$', r.text, re.M)
    return float(value)


def test_a_timestamp_range_job_does_not_replace_the_table_s_drift(stack, demo):
    api = Api(stack["url"], new_key(stack, "e2e-cdc-metrics@recon.local"))
    whole = run(api, "CHECKSUM")
    assert gauge(api) == whole["drift_percentage"] > 0
    window = run(api, "TIMESTAMP_RANGE")
    assert window["drift_percentage"] != whole["drift_percentage"], window   # else this proves nothing
    assert gauge(api) == whole["drift_percentage"]
    sample = run(api, "SAMPLE")                                            # an estimate of the table: it counts
    assert gauge(api) == sample["drift_percentage"]
