"""The Account index (account_index.py): the org's Accounts by name key and domain in the link store,
so a company typed without its Account's diacritics or script is found without LIKE scans. Every
test runs the target against the Salesforce emulator and checks the outcome in the emulator and the
store; the index's calls are read from the report and the emulator's own counts."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from emulators.salesforce.ids import to18
from target_salesforce_andsend.account_index import choose_mode, full_read_calls, index_key
from target_salesforce_andsend.links import open_store
from tests.target._target_support import STAMP, live, messages, prospect, run_target, target_config


@pytest.fixture(params=["sqlite", "postgres"])
def store_config(request: pytest.FixtureRequest) -> dict[str, Any]:
    if request.param == "postgres":
        return {"state_store_url": request.getfixturevalue("postgres_url")}
    return {}


# A well-formed Account Id the org never had (an Account purged from the recycle bin long ago).
VANISHED = to18("001000000000ZZZ")


def _config(sf: Any, tmp_path: Path, store: dict[str, Any], **extra: Any) -> dict[str, Any]:
    config = target_config(sf, tmp_path, **{"object_mode": "contact_account", "sync_crm_status": False, **extra})
    config.update(store)
    return config


def _org_id(run: Any) -> str:
    """The org the target signed in to (the store's key), as its report names it."""
    return run.report["org"]["org_id"]


def _person(pid: str, company: str, **fields: Any) -> dict[str, Any]:
    # No website and a free-mail address: only the name can join prospect and Account.
    return prospect(pid, company_name=company, company_domain=None, email=f"{pid}@gmail.com", **fields)


def _account_of(sf: Any, pid: str) -> str | None:
    rows = [c for c in live(sf.records("Contact")) if c.get("Andsend_Prospect_Id__c") == pid]
    assert len(rows) == 1, rows
    return rows[0].get("AccountId")


def test_names_typed_without_diacritics_or_script_find_their_account(sf_emulator, tmp_path, store_config, caplog):
    caplog.set_level(logging.INFO)
    refs = sf_emulator.seed({"records": {"Account": [
        {"_ref": "bjork", "Name": "Björk AB"},
        {"_ref": "sumava", "Name": "Šumava s.r.o."},
        {"_ref": "romashka", "Name": "ООО «Ромашка»"},
        {"_ref": "other", "Name": "Bjork Consulting AB", "Website": "bjork-consulting.test"},
    ]}})
    before = len(live(sf_emulator.records("Account")))
    config = _config(sf_emulator, tmp_path, store_config)
    run = run_target(config, messages("prospects", [
        _person("p1", "Bjork"), _person("p2", "Sumava", country="CZ"), _person("p3", "Romashka", country="RU"),
        _person("p4", "Zeta Works")]))
    assert _account_of(sf_emulator, "p1") == refs["bjork"]
    assert _account_of(sf_emulator, "p2") == refs["sumava"]
    assert _account_of(sf_emulator, "p3") == refs["romashka"]
    # Only the company the org does not hold got a new Account.
    accounts = live(sf_emulator.records("Account"))
    assert len(accounts) == before + 1 and {a["Name"] for a in accounts} >= {"Zeta Works"}
    section = run.report["account_index"]
    # First run: the Composite call of the run's describes also counts the Accounts, reads the newest
    # SystemModstamp and reads them all (6,000 in that call, 10,000 a later one): no call of the
    # index's own; the candidates' Id reads ride with the lookups.
    assert section["mode"] == "full_query" and section["refresh_calls"] == 0
    assert section["org_accounts"] == before and section["matches_via_index"] == 3
    assert (f"account index: full_query, 0 call(s), {before} Accounts read, 0 removed, {before} indexed; "
            "3 linked through it") in caplog.text  # the run summary the target logs
    audited = {a["key"]: a for a in run.report["match_audit"] if a.get("found_by") == "account_index"}
    assert {k: (a["outcome"], a["record_id"], a["score"]) for k, a in audited.items()} == {
        "email:p1@gmail.com": ("index_match", refs["bjork"], 100.0),
        "email:p2@gmail.com": ("index_match", refs["sumava"], 100.0),
        "email:p3@gmail.com": ("index_match", refs["romashka"], 100.0)}
    store = open_store(config, Path(config["output_dir"]) / "links.sqlite", _org_id(run))
    try:
        assert store.account_index_count() == before
        found = {(rid, key) for rid, key, _ in store.account_index_find(["bjork", "romashka", "sumava"])}
        assert found == {(refs["bjork"], "bjork"), (refs["romashka"], "romashka"), (refs["sumava"], "sumava")}
        assert store.account_index_find([], ["bjork-consulting.test"])[0][0] == refs["other"]
        assert store.get_meta("account_index.since")
    finally:
        store.close()


def test_later_runs_read_only_changes_and_drop_deleted_or_vanished_accounts(sf_emulator, tmp_path, store_config):
    refs = sf_emulator.seed({"records": {"Account": [
        {"_ref": "bjork", "Name": "Björk AB"}, {"_ref": "sumava", "Name": "Šumava s.r.o."},
        *[{"_ref": f"filler{i}", "Name": f"Filler {i} GmbH"} for i in range(30)]]}})
    config = _config(sf_emulator, tmp_path, store_config)
    first = run_target(config, messages("prospects", [_person("p1", "Bjork")]))
    assert _account_of(sf_emulator, "p1") == refs["bjork"]

    # Between runs: a rename, a delete, a new Account, all through the API as a user would.
    s = sf_emulator.session()
    base = f"{sf_emulator.api_url}/sobjects/Account"
    s.patch(f"{base}/{refs['sumava']}", json={"Name": "Vltava s.r.o."}).raise_for_status()
    s.delete(f"{base}/{refs['bjork']}").raise_for_status()
    capek = s.post(base, json={"Name": "Čapek a.s."}).json()["id"]
    org = _org_id(first)
    store = open_store(config, Path(config["output_dir"]) / "links.sqlite", org)
    try:
        # An Account the index holds but the org no longer has (purged from the recycle bin long ago).
        store.account_index_put([(VANISHED, "zetaworks", None, "2020-01-01T00:00:00.000+0000")])
    finally:
        store.close()
    sf_emulator.reset_stats()
    run = run_target(config, messages("prospects", [
        _person("p2", "Capek", country="CZ"), _person("p3", "Vltava"), _person("p4", "Bjork"),
        _person("p5", "Zeta Works")]))
    assert _account_of(sf_emulator, "p2") == capek
    assert _account_of(sf_emulator, "p3") == refs["sumava"]
    assert _account_of(sf_emulator, "p4") not in (refs["bjork"], None)  # a new Account, not the deleted one
    section = run.report["account_index"]
    # A later run: the describes' Composite call also reads (queryAll from the watermark) the
    # changes and deletions.
    assert section["mode"] == "incremental" and section["refresh_calls"] == 0
    assert section["removed"] == 2  # the deleted Björk (IsDeleted) and the vanished one (its Id read nothing)
    store = open_store(config, Path(config["output_dir"]) / "links.sqlite", org)
    try:
        keys = {key: rid for rid, key, _ in store.account_index_find(["bjork", "sumava", "vltava", "capek",
                                                                      "zetaworks"])}
        assert keys == {"vltava": refs["sumava"], "capek": capek}
    finally:
        store.close()
    # A rerun: its people are found by their external id, no Account lookup runs, so the index is
    # not even refreshed; nothing is written.
    sf_emulator.reset_stats()
    again = run_target(config, messages("prospects", [_person("p2", "Capek", country="CZ")]))
    assert "account_index" not in again.report
    assert sf_emulator.stats()["records_written"] == 0


def test_full_read_through_a_bulk_query_job(sf_emulator, tmp_path):
    sf_emulator.settings(bulk_processing_delay_ms=0)
    refs = sf_emulator.seed({"records": {"Account": [{"_ref": "m", "Name": "Müller Anlagenbau GmbH"},
                                                     {"_ref": "r", "Name": "Ромашка"}]}})
    config = _config(sf_emulator, tmp_path, {}, account_index="bulk", bulk_poll_seconds=0.05)
    sf_emulator.reset_stats()
    run = run_target(config, messages("prospects", [_person("p1", "Romashka"), _person("p2", "Muller Anlagenbau")]))
    assert _account_of(sf_emulator, "p1") == refs["r"]
    assert _account_of(sf_emulator, "p2") == refs["m"]
    section = run.report["account_index"]
    kinds = sf_emulator.stats()["by_kind"]
    assert section["mode"] == "full_bulk"
    assert kinds.get("bulk_query_create") == 1 and kinds.get("bulk_query_results") == 1
    # The count, the job, its status read(s) and its one result set.
    assert section["refresh_calls"] == 1 + 1 + kinds["bulk_query_status"] + 1


def test_paged_full_read_when_the_org_pages_in_smaller_batches(sf_emulator, tmp_path):
    sf_emulator.settings(query_batch_size=500)
    names = [f"Kunde {i:04d} GmbH" for i in range(2300)]
    refs = sf_emulator.seed({"records": {"Account": [{"_ref": f"a{i}", "Name": n} for i, n in enumerate(names)]
                                         + [{"_ref": "z", "Name": "Żabka sp. z o.o."}]}})
    config = _config(sf_emulator, tmp_path, {}, account_index="query")
    run = run_target(config, messages("prospects", [_person("p1", "Zabka")]))
    assert _account_of(sf_emulator, "p1") == refs["z"]
    section = run.report["account_index"]
    assert section["rows_read"] == 2301 and section["accounts_indexed"] == 2301
    store = open_store(config, Path(config["output_dir"]) / "links.sqlite", _org_id(run))
    try:
        assert store.account_index_count() == 2301
        assert store.get_meta("account_index.full") == ""  # finished: nothing to resume
    finally:
        store.close()


def test_index_off_leaves_the_diacritics_case_to_the_in_lookups(sf_emulator, tmp_path):
    refs = sf_emulator.seed({"records": {"Account": [{"_ref": "b", "Name": "Björk AB"}]}})
    config = _config(sf_emulator, tmp_path, {}, account_index="off")
    run = run_target(config, messages("prospects", [_person("p1", "Bjork"), _person("p2", "Björk")]))
    assert _account_of(sf_emulator, "p2") == refs["b"]
    assert _account_of(sf_emulator, "p1") != refs["b"]  # what the index is for
    assert "account_index" not in run.report


def test_the_cheaper_full_read_is_chosen_by_the_org_size():
    assert full_read_calls(2_480) == {"query": 1, "bulk": 3}
    assert choose_mode("auto", 2_480) == "query"
    assert choose_mode("auto", 30_000) == "query"      # 3 paged calls, 3 Bulk calls: paged (no polling)
    assert choose_mode("auto", 50_000) == "bulk"       # 5 paged calls, 3 Bulk calls
    assert full_read_calls(3_000_000) == {"query": 300, "bulk": 32}
    assert choose_mode("query", 3_000_000) == "query" and choose_mode("bulk", 10) == "bulk"
    assert index_key("ООО «Ромашка»") == index_key("Romashka") == "romashka"
    assert index_key("Björk AB") == index_key("BJORK") and index_key("Šumava s.r.o.") == "sumava"


def test_store_methods_on_both_backends(tmp_path, store_config):
    store = open_store(store_config, tmp_path / "links.sqlite", "00DA00000000001AAA")
    other = open_store(store_config, tmp_path / "links.sqlite", "00DB00000000001AAA")
    try:
        store.account_index_put([(f"001A{i:014d}", "acme" if i < 60 else f"k{i}", "acme.test" if i % 2 else None,
                                  f"2026-01-01T00:00:{i % 60:02d}.000+0000") for i in range(70)])
        store.account_index_put([("001A00000000000000", "renamed", None, "2026-02-01T00:00:00.000+0000")])
        assert store.account_index_count() == 70 and other.account_index_count() == 0
        acme = store.account_index_find(["acme"])
        assert len(acme) == 50  # at most PER_VALUE candidates per key: the most recently modified
        assert store.account_index_find(["renamed"]) == [("001A00000000000000", "renamed", None)]
        assert len(store.account_index_find([], ["acme.test"])) == 35
        assert store.account_index_delete(["001A00000000000000", "001A00000000000001"]) == 2
        assert store.account_index_count() == 68 and store.account_index_find(["renamed"]) == []
        store.account_index_clear()
        assert store.account_index_count() == 0
    finally:
        store.close()
        other.close()


def test_a_killed_paged_full_read_resumes_after_the_last_account_stored(sf_emulator, tmp_path):
    accounts = [{"_ref": f"a{i}", "Name": f"Kunde {i:03d} GmbH"} for i in range(300)]
    refs = sf_emulator.seed({"records": {"Account": [*accounts, {"_ref": "z", "Name": "Żabka sp. z o.o."}]}})
    ordered = sorted(refs.values())
    config = _config(sf_emulator, tmp_path, {}, account_index="query")
    # What a run killed after its first page of the full read leaves: that page in the index and
    # its progress mark (the watermark it started from, the last Id stored).
    first = run_target(_config(sf_emulator, tmp_path / "probe", {}, account_index="off"),
                       messages("prospects", [_person("p0", "Probe")]))
    org = _org_id(first)
    store = open_store(config, Path(config["output_dir"]) / "links.sqlite", org)
    try:
        store.account_index_put([(rid, f"done{i}", None, None) for i, rid in enumerate(ordered[:200])])
        store.put_meta("account_index.full", f"2026-01-01T00:00:00.000+0000|{ordered[199]}")
    finally:
        store.close()
    run = run_target(config, messages("prospects", [_person("p1", "Zabka")]))
    assert _account_of(sf_emulator, "p1") == refs["z"]
    section = run.report["account_index"]
    # The read goes on after the last Id stored, without counting the org again: one call.
    assert section["mode"] == "full_query" and section["refresh_calls"] == 1
    assert section["rows_read"] == len(ordered) - 200 + 1  # the rest, and the probe's new Account
    store = open_store(config, Path(config["output_dir"]) / "links.sqlite", org)
    try:
        assert store.account_index_count() == len(ordered) + 1
        assert store.get_meta("account_index.since") == "2026-01-01T00:00:00.000+0000"
        assert store.get_meta("account_index.full") == ""
    finally:
        store.close()


def test_search_result_badges_find_the_account_through_the_index(sf_emulator, tmp_path):
    import json

    refs = sf_emulator.seed({"records": {"Account": [{"_ref": "b", "Name": "Björk AB"}]}})
    config = _config(sf_emulator, tmp_path, {}, object_mode="lead", batch_size_rows=1)
    results = [{"id": f"r{i}", "search_id": "s1", "first_name": "Ann", "last_name": f"Lee {i}",
                "email": f"r{i}@gmail.com", "company_name": "Bjork", "created_at": STAMP, "updated_at": STAMP}
               for i in range(3)]
    sf_emulator.reset_stats()
    run = run_target(config, messages("search_results", results))
    badges = [json.loads(x) for x in (Path(config["output_dir"]) / "badges.jsonl").read_text().splitlines()]
    assert {(b["result_id"], b["exists"], b["object_type"], b["record_id"]) for b in badges} == {
        (f"r{i}", True, "Account", refs["b"]) for i in range(3)}
    section = run.report["account_index"]
    assert section["mode"] == "full_query" and section["matches_via_index"] == 3
