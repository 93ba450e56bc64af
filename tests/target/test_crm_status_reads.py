"""The CRM-status reads against the Salesforce emulator: the chained Composite window over more than
one call's worth of rows, smaller query batches, and Id reads."""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from target_salesforce_andsend.context import OrgInfo
from target_salesforce_andsend.crm_status import PAGE, chosen_groups, read_plan
from target_salesforce_andsend.crm_status_sync import iter_by_id, iter_changed, read_by_id, read_changed
from target_salesforce_andsend.salesforce.client import SalesforceClient
from tests.target._salesforce_support import password_config

EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)


def setup(sf, n: int):
    refs = sf.seed({"records": {"Lead": [{"_ref": f"l{i}", "LastName": f"Lee {i}", "Company": "Acme"}
                                         for i in range(n)]}})
    client = SalesforceClient(password_config(sf), logger=logging.getLogger("test"))
    org = OrgInfo(client)
    plan = read_plan("Lead", lambda name: org.field_name("Lead", name), chosen_groups(None))
    assert plan is not None
    return client, plan, sorted(refs.values())


def test_window_of_more_than_one_call_reads_every_row_once(sf_emulator):
    client, plan, ids = setup(sf_emulator, 5 * PAGE + 37)
    sf_emulator.reset_stats()
    rows = read_changed(client, plan, EPOCH)
    assert [r["Id"] for r in rows] == ids
    assert sf_emulator.stats()["by_kind"] == {"composite": 2}
    assert rows[0]["Owner"]["Email"] == "admin@example.com"
    client.close()


def test_exactly_one_call_for_ten_thousand_rows_and_smaller_batches(sf_emulator):
    client, plan, ids = setup(sf_emulator, 5 * PAGE)
    sf_emulator.reset_stats()
    assert [r["Id"] for r in read_changed(client, plan, EPOCH)] == ids
    assert sf_emulator.stats()["by_kind"] == {"composite": 1}
    sf_emulator.settings(query_batch_size=500)  # an org (or header) paging in smaller batches
    sf_emulator.reset_stats()
    assert [r["Id"] for r in read_changed(client, plan, EPOCH)] == ids
    assert sf_emulator.stats()["by_kind"]["composite"] >= 1
    assert [r["Id"] for r in read_by_id(client, plan, ids[:2500])] == ids[:2500]
    client.close()


def test_rows_are_handed_over_a_page_at_a_time(sf_emulator):
    """The end-of-run read holds one page of rows at a time, not every linked person: the first
    page arrives before the next call is made, and no page is longer than a query page."""
    client, plan, ids = setup(sf_emulator, 5 * PAGE + 37)
    sf_emulator.reset_stats()
    pages = iter_changed(client, plan, EPOCH)
    first = next(pages)
    assert len(first) == PAGE and sf_emulator.stats()["by_kind"] == {"composite": 1}
    rest = list(pages)
    assert all(len(p) <= PAGE for p in rest) and [r["Id"] for p in [first, *rest] for r in p] == ids
    assert sf_emulator.stats()["by_kind"] == {"composite": 2}
    by_id = list(iter_by_id(client, plan, ids[:4500]))
    assert [len(p) for p in by_id] == [2000, 2000, 500]
    assert [r["Id"] for p in by_id for r in p] == ids[:4500]
    client.close()


def test_statuses_taken_page_by_page_keep_only_each_prospects_last_changed_one():
    """Pages are turned into statuses one at a time: what is kept for sending is each prospect's
    last status, and only when it differs from the one delivered."""
    from target_salesforce_andsend.crm_status import status_record
    from target_salesforce_andsend.crm_status_sync import _Statuses

    names = {"Id": "Id", "SystemModstamp": "SystemModstamp", "HasOptedOutOfEmail": "HasOptedOutOfEmail"}
    plan = read_plan("Lead", names.get, chosen_groups(None))
    assert plan is not None
    link = lambda rid: f"https://org.test/{rid}"  # noqa: E731
    row = lambda rid, out: {"Id": rid, "SystemModstamp": "2026-01-01T00:00:00.000+0000",  # noqa: E731
                            "HasOptedOutOfEmail": out}
    delivered = {"p2": status_record("p2", plan, row("00Q2", False), record_url=link, checked_at="old")}
    found = _Statuses(delivered, record_url=link, checked_at="now")
    found.take(plan, [row("00Q1", False), row("00Q2", True)], {"00Q1": ["p1"], "00Q2": ["p2"]})
    assert [s["prospect_id"] for s in found.to_send()] == ["p1", "p2"]
    # p2 read again (a later page) as it was delivered: its earlier, changed status is not sent.
    found.take(plan, [row("00Q2", False)], {"00Q2": ["p2"]})
    assert [s["prospect_id"] for s in found.to_send()] == ["p1"] and found.checked == {"p1", "p2"}
