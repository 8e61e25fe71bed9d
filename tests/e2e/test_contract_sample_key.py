"""The CDC contract's sample contract test, as written there, against the local stack: it authenticates
with the literal key `test-api-key`, which every local stack accepts besides its generated key
(scripts/stack.sh, RECON_LOCAL_TEST_KEY). Only the base URL is the stack's."""
from __future__ import annotations

import os

import pytest
import requests


@pytest.fixture
def base_url(stack):
    if os.environ.get("RECON_LOCAL_TEST_KEY", "test-api-key") != "test-api-key":
        pytest.skip("this stack was started without the sample key")
    return stack["url"]


def test_trigger_reconciliation_contract(base_url):
    response = requests.post(
        f"{base_url}/reconciliation/trigger",
        json={"tables": ["users"], "validation_strategy": "CHECKSUM"},
        headers={"Authorization": "Bearer test-api-key"},
        timeout=30,
    )
    assert response.status_code == 202
    data = response.json()
    assert "job_ids" in data
    assert isinstance(data["job_ids"], list)
    assert len(data["job_ids"]) == 1


def test_the_sample_key_is_a_key_like_any_other(base_url):
    # the streams API takes the same keys; a near miss is still refused
    ok = requests.get(f"{base_url}/streams", headers={"Authorization": "Bearer test-api-key"}, timeout=30)
    assert ok.status_code == 200 and ok.json()["success"] is True
    bad = requests.get(f"{base_url}/streams", headers={"Authorization": "Bearer test-api-kex"}, timeout=30)
    assert bad.status_code == 401 and bad.json()["errorCode"] == "UNAUTHORIZED"
