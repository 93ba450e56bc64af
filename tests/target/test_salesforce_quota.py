"""The quota governor: stops before passing the budget, with a message that says why and what next."""

from __future__ import annotations

import uuid

import pytest

from target_salesforce_andsend.salesforce.client import SalesforceClient
from target_salesforce_andsend.salesforce.errors import QuotaExhausted
from target_salesforce_andsend.salesforce.quota import QuotaGovernor
from target_salesforce_andsend.salesforce.writer import Writer
from tests.target._salesforce_support import control, password_config


@pytest.fixture
def sf(sf_emulator):
    sf_emulator.reset()
    yield sf_emulator
    control(sf_emulator, "PUT", "limits", json={"daily_api_max": 15000, "daily_api_used": 0})


def test_governor_reads_limits_and_headers() -> None:
    gov = QuotaGovernor({"quota_max_daily_percent": 50})
    gov.start({"DailyApiRequests": {"Max": 1000, "Remaining": 600}})
    assert gov.snapshot().daily_used == 400 and gov.daily_budget == 500
    gov.observe("api-usage=450/1000")
    assert gov.snapshot().remaining == 50
    gov.observe("api-usage=440/1000")  # a late response of a concurrent call does not go back in time
    assert gov.snapshot().daily_used == 450
    with pytest.raises(QuotaExhausted, match="450/1000.*50% = 500 .quota_max_daily_percent.*next run resumes"):
        gov.admit(51, "Lead create")
    gov.admit(50)


def test_run_call_cap_is_respected_exactly(sf) -> None:
    client = SalesforceClient(password_config(sf, quota_max_calls_per_run=5))
    for _ in range(4):  # limits (at start) + 4 queries = 5
        client.query("SELECT Id FROM User")
    with pytest.raises(QuotaExhausted) as err:
        client.query("SELECT Id FROM User")
    assert err.value.setting == "quota_max_calls_per_run"
    assert "5/5" in str(err.value) and "next run resumes" in str(err.value)
    stats = sf.stats()
    assert stats["by_kind"].get("query") == 4 and stats["by_kind"].get("limits") == 1


def test_batch_that_does_not_fit_is_not_started(sf) -> None:
    client = SalesforceClient(password_config(sf, quota_max_calls_per_run=3))
    writer = Writer(client)
    tag = uuid.uuid4().hex
    writer.create("Lead", [{"LastName": f"Q{i}", "Company": tag} for i in range(400)])  # limits + 1 Composite: fits
    with pytest.raises(QuotaExhausted, match="Lead create of 1200 record.*quota_max_calls_per_run"):
        writer.create("Lead", [{"LastName": f"R{i}", "Company": tag} for i in range(1200)])  # needs 2, 1 left
    stored = [r for r in sf.records("Lead") if r.get("Company") == tag]
    assert len(stored) == 400  # nothing of the refused batch was sent
    stats = sf.stats()
    assert stats["by_kind"].get("composite") == 1 and stats["composite_subrequests"] == {"collections_create": 2}


def test_daily_percent_stops_before_the_org_share_is_passed(sf) -> None:
    control(sf, "PUT", "limits", json={"daily_api_max": 1000, "daily_api_used": 795})
    client = SalesforceClient(password_config(sf, quota_max_daily_percent=80))
    calls = 0
    with pytest.raises(QuotaExhausted) as err:
        while True:
            client.query("SELECT Id FROM User")
            calls += 1
    assert err.value.setting == "quota_max_daily_percent"
    assert "/1000 daily API requests" in str(err.value) and "80% = 800" in str(err.value)
    limits = SalesforceClient(password_config(sf), read_limits_at_start=False).limits()["DailyApiRequests"]
    used = limits["Max"] - limits["Remaining"]
    assert used <= 801  # ours stopped at 800; the fresh client's own /limits call is the +1
    assert calls == 4  # 795 + limits at start = 796, then 4 queries = 800


def test_salesforce_limit_exceeded_raises_quota_exhausted_without_retry(sf) -> None:
    sf.faults(limit_exceeded_after=3)
    client = SalesforceClient(password_config(sf, max_retries=5))
    with pytest.raises(QuotaExhausted, match="REQUEST_LIMIT_EXCEEDED.*next run resumes"):
        for _ in range(10):
            client.query("SELECT Id FROM User")
    total = sum(v for k, v in client.calls.items() if k != "oauth")
    assert total <= 4  # the refused call was not retried
    snapshot = client.quota.snapshot()
    assert snapshot.run_calls == total


def test_nested_units_use_the_enclosing_reserve() -> None:
    gov = QuotaGovernor({"quota_max_calls_per_run": 10})
    with gov.batch(8, "Singer batch"):  # reserve 4: hard ceiling 14 while it runs
        for _ in range(8):
            gov.before_call("query")
        with gov.batch(3, "Contact create"):  # 2 left + 4 reserve: admitted
            for _ in range(3):
                gov.before_call("collections_create")
        with pytest.raises(QuotaExhausted):
            gov.admit(4, "Task create")  # 11 used: -1 + 4 = 3 < 4
        for _ in range(3):
            gov.before_call("collections_create")
        with pytest.raises(QuotaExhausted):
            gov.before_call("query")  # 14 = ceiling
    with pytest.raises(QuotaExhausted, match="14/10"):
        gov.before_call("query")
    with pytest.raises(QuotaExhausted):
        with gov.batch(1, "next Singer batch"):
            pass
    assert gov.snapshot().run_calls == 14
    gov.before_call("oauth")  # logins are not API calls for the allocation


def test_concurrent_outermost_units_each_fit_on_their_own() -> None:
    import threading

    gov = QuotaGovernor({"quota_max_calls_per_run": 10})
    inside = threading.Event()
    release = threading.Event()

    def sink_a() -> None:
        with gov.batch(6, "prospects batch"):  # reserve 3
            for _ in range(6):
                gov.before_call("query")
            inside.set()
            release.wait(5)

    t = threading.Thread(target=sink_a)
    t.start()
    assert inside.wait(5)
    with pytest.raises(QuotaExhausted):
        with gov.batch(5, "touchpoints batch"):  # another sink's unit: 4 left, no borrowing of A's reserve
            pass
    with gov.batch(4, "touchpoints batch"):
        pass
    release.set()
    t.join()
