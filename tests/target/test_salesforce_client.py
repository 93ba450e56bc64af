"""SalesforceClient against the emulator: re-auth on 401, retries on 503, paging, describe cache, counting."""

from __future__ import annotations

import threading
import uuid

import pytest

from target_salesforce_andsend.salesforce.client import SalesforceClient
from target_salesforce_andsend.salesforce.errors import SalesforceAPIError, TransportError
from target_salesforce_andsend.salesforce.soql import quote
from tests.target._salesforce_support import control, password_config


@pytest.fixture
def sf(sf_emulator):
    sf_emulator.reset()
    return sf_emulator


def test_every_call_is_counted_by_kind_like_the_emulator(sf) -> None:
    client = SalesforceClient(password_config(sf))
    client.versions()
    client.describe("Lead")
    client.describe("lead")  # cached for the run
    list(client.query_all("SELECT Id FROM User"))
    stats = sf.stats()["by_kind"]
    mine = client.calls_snapshot()
    for kind in ("oauth", "limits", "describe", "query", "versions"):
        assert mine.get(kind, 0) == stats.get(kind, 0), kind
    assert mine["describe"] == 1 and mine["limits"] == 1  # the governor read /limits once at start
    assert client.record_link("00Q000000000001AAA") == f"{client.instance_url}/00Q000000000001AAA"


def test_describe_is_fresh_for_each_run(sf) -> None:
    first = SalesforceClient(password_config(sf))
    assert not any(f["name"] == "Fresh_Field__c" for f in first.describe("Lead")["fields"])
    control(sf, "POST", "describe/Lead/fields", json={"name": "Fresh_Field__c", "type": "string", "length": 40,
                                                        "label": "Fresh Field"})
    second = SalesforceClient(password_config(sf))  # a new run sees what an admin just created
    assert any(f["name"] == "Fresh_Field__c" for f in second.describe("Lead")["fields"])


def test_query_all_follows_next_records_url(sf) -> None:
    tag = uuid.uuid4().hex
    sf.seed({"records": {"Lead": [{"LastName": f"P{i:03d}", "Company": tag} for i in range(450)]}})
    control(sf, "PUT", "settings", json={"query_batch_size": 200})
    client = SalesforceClient(password_config(sf))
    names = [r["LastName"] for r in client.query_all(
        f"SELECT LastName FROM Lead WHERE Company = {quote(tag)} ORDER BY LastName")]
    assert names == [f"P{i:03d}" for i in range(450)]
    assert client.calls["query"] == 1 and client.calls["query_more"] == 2
    assert sf.stats()["by_kind"]["query_more"] == 2


def test_client_errors_are_raised_with_salesforce_codes(sf) -> None:
    client = SalesforceClient(password_config(sf))
    with pytest.raises(SalesforceAPIError) as err:
        client.query("SELECT Nope__c FROM Lead")
    assert err.value.status == 400 and err.value.error_code == "INVALID_FIELD"
    with pytest.raises(SalesforceAPIError) as err:
        client.describe("NoSuchObject")
    assert err.value.status == 404


def test_revoked_session_is_renewed_once_and_the_call_retried(sf) -> None:
    client = SalesforceClient(password_config(sf))
    client.limits()
    control(sf, "POST", "revoke-tokens")
    assert client.limits()["DailyApiRequests"]["Max"] > 0
    assert client.calls["oauth"] == 2
    assert sf.stats()["by_kind"]["oauth"] == 2


def test_concurrent_401s_share_one_renewal(sf) -> None:
    client = SalesforceClient(password_config(sf, max_concurrency=8))
    client.limits()
    control(sf, "POST", "revoke-tokens")
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def work() -> None:
        barrier.wait()
        try:
            client.query("SELECT Id FROM User")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert client.calls["oauth"] == 2  # the first login and exactly one renewal
    assert sf.stats()["by_kind"]["oauth"] == 2


def test_periodic_token_revocation_is_survived(sf) -> None:
    sf.faults(revoke_tokens_every=7, random_seed=3)
    client = SalesforceClient(password_config(sf))
    for _ in range(30):
        assert client.query("SELECT Id FROM User")
    assert client.calls["oauth"] >= 4


def test_503_faults_are_retried_with_backoff(sf) -> None:
    sf.faults(error_503_rate=0.3, random_seed=7)
    client = SalesforceClient(password_config(sf, max_retries=8))
    for _ in range(40):
        assert client.query("SELECT Id FROM User")
    assert client.calls["query"] > 40  # some were retried


def test_retries_are_bounded(sf) -> None:
    sf.faults(error_503_rate=1.0, random_seed=1)
    client = SalesforceClient(password_config(sf, max_retries=2), read_limits_at_start=False)
    with pytest.raises(TransportError, match="503"):
        client.query("SELECT Id FROM User")
    assert client.calls["query"] == 3


def test_connection_refused_is_retried_then_raised() -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens here now
    client = SalesforceClient({"access_token": "00Dxx!abc", "instance_url": f"http://127.0.0.1:{port}",
                               "max_retries": 2, "retry_backoff_seconds": 0.01}, read_limits_at_start=False)
    with pytest.raises(TransportError, match="ConnectionError"):
        client.limits()
    assert client.calls["limits"] == 3
