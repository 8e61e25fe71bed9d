"""The API while PostgreSQL is down: 503 in the contract's error shape with Retry-After, never 500;
and 200 again as soon as the database is back."""
from __future__ import annotations

from tests.e2e.test_faults_postgres import kill_postgres, restart_postgres


def test_api_answers_503_in_the_contract_shape_while_postgres_is_down(stack, api):
    assert api.get("/reconciliation/jobs").status_code == 200
    kill_postgres(stack)
    try:
        r = api.get("/reconciliation/jobs")
        assert r.status_code == 503, f"{r.status_code}: {r.text[:500]}"
        body = r.json()
        assert body["error"] == "SERVICE_UNAVAILABLE" and body["message"], body
        assert int(r.headers["Retry-After"]) > 0
    finally:
        restart_postgres(stack)
    r = api.get("/reconciliation/jobs")
    assert r.status_code == 200, r.text[:500]
