"""Badges through the whole target, against both emulators.

Search results come from the Andsend emulator (the write-back only accepts real result ids); the
Salesforce org is seeded with a Lead, a Contact, Accounts and nothing for the rest, spelled
differently from Andsend (case, www/scheme, legal suffix). Checks read the badges file, the
Andsend emulator's stored badges and the report.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from tests.target._activities_support import BADGE_SCHEMA, AndsendApi, andsend_results, records
from tests.target._target_support import messages, run_target, target_config


def pick_distinct(results: list[dict], n: int, *, with_email: int) -> list[dict]:
    """n results with pairwise different companies, the first `with_email` of them with an email."""
    out: list[dict] = []
    seen: set[str] = set()
    for need_email in [True] * with_email + [False] * (n - with_email):
        for r in results:
            company = (r.get("company_domain") or "") + "|" + (r.get("company_name") or "")
            if company in seen or r in out or (need_email and not r.get("email")):
                continue
            if not r.get("company_domain") or not r.get("company_name"):
                continue
            out.append(r)
            seen.add(company)
            break
    assert len(out) == n
    return out


@pytest.fixture
def scenario(sf_emulator, andsend_emulator):
    results = andsend_results(AndsendApi(andsend_emulator.base_url, andsend_emulator.api_key), 1000)
    lead_r, contact_r, dom_r, name_r, xid_r, none_r = pick_distinct(results, 6, with_email=2)
    refs = sf_emulator.seed({"records": {
        "Lead": [{"_ref": "lead", "LastName": "L", "Company": "Other Co", "Email": lead_r["email"].upper()}],
        "Account": [
            {"_ref": "acct_c", "Name": "Unrelated Holdings"},
            {"_ref": "acct_dom", "Name": "Something Else", "Website": "HTTPS://WWW." + dom_r["company_domain"] + "/"},
            {"_ref": "acct_name", "Name": name_r["company_name"].upper().rstrip(".") + " Inc."},
        ],
        "Contact": [
            {"_ref": "con", "LastName": "C", "Email": contact_r["email"].title(),
             "AccountId": "@acct_c"},
            {"_ref": "con_x", "LastName": "X", "Andsend_Prospect_Id__c": xid_r["prospect_id"]},
        ],
    }})
    expected = {
        lead_r["id"]: ("Lead", refs["lead"]),
        contact_r["id"]: ("Contact", refs["con"]),
        dom_r["id"]: ("Account", refs["acct_dom"]),
        name_r["id"]: ("Account", refs["acct_name"]),
        xid_r["id"]: ("Contact", refs["con_x"]),
        none_r["id"]: (None, None),
    }
    return [lead_r, contact_r, dom_r, name_r, xid_r, none_r], expected


def test_badges_for_lead_contact_account_and_none(sf_emulator, andsend_emulator, scenario, tmp_path):
    chosen, expected = scenario
    config = target_config(sf_emulator, tmp_path, andsend_api_url=andsend_emulator.base_url,
                           andsend_api_key=andsend_emulator.api_key)
    andsend_emulator.reset_stats()
    run = run_target(config, messages("search_results", chosen))

    file_badges = [json.loads(x) for x in (Path(config["output_dir"]) / "badges.jsonl").read_text().splitlines()]
    stored = {b["result_id"]: b for b in andsend_emulator.badges()}
    for source in (file_badges, list(stored.values())):
        got = {b["result_id"]: (b["object_type"], b["record_id"]) for b in source}
        assert got == expected
    for b in file_badges:
        jsonschema.validate(b, BADGE_SCHEMA)
        assert b["exists"] is (b["object_type"] is not None)
        if b["exists"]:
            assert b["record_url"] == f"{sf_emulator.base_url}/{b['record_id']}"
        assert b["search_id"] == next(r["search_id"] for r in chosen if r["id"] == b["result_id"])
    counts = run.counts("search_result", role="search_results")
    assert counts == {"checked": 6, "not_found": 1, "written_back": 6}
    per_object = {obj: run.counts(obj, role="search_results").get("found", 0) for obj in ("Lead", "Contact", "Account")}
    assert per_object == {"Lead": 1, "Contact": 2, "Account": 2}
    # reads only: nothing was written to Salesforce
    assert not any(k.startswith(("collections_", "sobject_create", "sobject_update", "bulk_"))
                   for k in sf_emulator.stats()["by_kind"])
    assert len(records(sf_emulator, "Lead")) == 1
    assert run.states


def test_rerun_rewrites_badges_in_place_and_follows_changes(sf_emulator, andsend_emulator, scenario, tmp_path):
    chosen, expected = scenario
    config = target_config(sf_emulator, tmp_path, andsend_api_url=andsend_emulator.base_url,
                           andsend_api_key=andsend_emulator.api_key)
    run_target(config, messages("search_results", chosen))
    none_r = chosen[-1]
    # the person now exists in Salesforce: the rerun turns the grey badge black, in place
    ref = sf_emulator.seed({"records": {"Lead": [{"_ref": "n", "LastName": "N", "Company": none_r["company_name"],
                                                  "Andsend_Prospect_Id__c": none_r["prospect_id"]}]}})["n"]
    run_target(config, messages("search_results", chosen))
    lines = [json.loads(x) for x in (Path(config["output_dir"]) / "badges.jsonl").read_text().splitlines()]
    assert len(lines) == len(chosen)
    by_id = {b["result_id"]: b for b in lines}
    assert by_id[none_r["id"]]["exists"] is True and by_id[none_r["id"]]["record_id"] == ref
    stored = {b["result_id"]: b for b in andsend_emulator.badges()}
    assert stored[none_r["id"]]["record_id"] == ref and len(stored) == len(chosen)


def test_write_back_survives_429_and_5xx(sf_emulator, andsend_emulator, scenario, tmp_path):
    chosen, _ = scenario
    config = target_config(sf_emulator, tmp_path, andsend_api_url=andsend_emulator.base_url,
                           andsend_api_key=andsend_emulator.api_key)
    andsend_emulator.faults(rate_429=0.5, rate_5xx=0.3, retry_after_seconds=0, random_seed=5)
    run = run_target(config, messages("search_results", chosen))
    andsend_emulator.faults()
    assert {b["result_id"] for b in andsend_emulator.badges()} == {r["id"] for r in chosen}
    assert run.states


def test_write_back_refused_fails_the_run_without_state_or_key(sf_emulator, andsend_emulator, scenario, tmp_path,
                                                               caplog):
    chosen, _ = scenario
    config = target_config(sf_emulator, tmp_path, andsend_api_url=andsend_emulator.base_url,
                           andsend_api_key="wrong-key-never-logged")
    run = run_target(config, messages("search_results", chosen), expect_error=True)
    assert run.states == []
    assert "wrong-key-never-logged" not in caplog.text
    assert "wrong-key-never-logged" not in json.dumps(run.report)


def test_without_api_settings_only_the_file_is_written(sf_emulator, andsend_emulator, scenario, tmp_path):
    chosen, _ = scenario
    config = target_config(sf_emulator, tmp_path, badges_path=str(tmp_path / "custom" / "b.jsonl"))
    run_target(config, messages("search_results", chosen))
    assert len((tmp_path / "custom" / "b.jsonl").read_text().splitlines()) == len(chosen)
    assert andsend_emulator.badges() == []


def _lookup_calls(sf_emulator) -> int:
    kinds = sf_emulator.stats()["by_kind"]
    return sum(kinds.get(k, 0) for k in ("query", "query_more", "composite"))


def _copies(results: list[dict], tag: str) -> list[dict]:
    """The same people and companies, in other search results (a later batch of the same run)."""
    return [{**r, "id": f"{r['id']}-{tag}", "search_id": f"{r['search_id']}-{tag}"} for r in results]


def _strangers(n: int) -> list[dict]:
    """Search results of people and companies nobody else mentions (nothing to remember)."""
    return [{"id": f"stranger-{i}", "search_id": "strangers", "prospect_id": f"stranger-p{i}",
             "email": f"nobody{i}@stranger{i}.example", "first_name": "No", "last_name": f"Body{i}",
             "company_name": f"Stranger Works {i}", "company_domain": f"stranger{i}.example"} for i in range(n)]


def test_a_later_batch_is_answered_from_the_runs_lookups(sf_emulator, scenario, tmp_path):
    """Search results repeat people and companies across batches: a value looked up by an earlier
    batch of the run costs no second call, and gets the same badge. (Two badge batches run at
    once, so the repeat comes two batches later, after an unrelated one.)"""
    chosen, expected = scenario
    strangers = _strangers(len(chosen))
    sf_emulator.reset_stats()
    config = target_config(sf_emulator, tmp_path / "two", batch_size_rows=len(chosen))
    run_target(config, messages("search_results", chosen + strangers))
    two_batches = _lookup_calls(sf_emulator)

    sf_emulator.reset_stats()
    config = target_config(sf_emulator, tmp_path / "three", batch_size_rows=len(chosen))
    run_target(config, messages("search_results", chosen + strangers + _copies(chosen, "again")))
    assert _lookup_calls(sf_emulator) == two_batches  # the third batch asked Salesforce nothing
    badges = {b["result_id"]: (b["object_type"], b["record_id"])
              for b in map(json.loads, (Path(config["output_dir"]) / "badges.jsonl").read_text().splitlines())}
    assert {k.removesuffix("-again"): v for k, v in badges.items() if k.endswith("-again")} == expected


def test_a_result_in_two_batches_at_once_ends_as_its_later_badge(sf_emulator, scenario, tmp_path):
    """Two badge batches are checked at the same time, but written in input order: a result sent
    again in the next batch (now with the e-mail of a Lead) keeps its later, black badge."""
    chosen, expected = scenario
    grey = next(r for r in chosen if expected[r["id"]] == (None, None))
    black = next(r for r in chosen if expected[r["id"]][0] == "Lead" and r.get("email"))
    later = {**grey, "email": black["email"], "prospect_id": black.get("prospect_id")}
    second = [later] + _copies(chosen, "b")[: len(chosen) - 1]
    for attempt in range(3):  # the order must hold whichever batch finishes its lookups first
        config = target_config(sf_emulator, tmp_path / str(attempt), batch_size_rows=len(chosen))
        run_target(config, messages("search_results", chosen + second))
        badges = {b["result_id"]: b for b in map(json.loads, (Path(config["output_dir"]) / "badges.jsonl")
                                                 .read_text().splitlines())}
        assert badges[grey["id"]]["exists"] is True, attempt
        assert badges[grey["id"]]["record_id"] == expected[black["id"]][1]


def test_prospects_written_between_badge_batches_are_seen(sf_emulator, scenario, tmp_path):
    """The run's own writes make remembered lookups stale: a person bought after a first badge
    batch said "not in Salesforce" gets a black badge in the next batch."""
    from tests.target._target_support import prospect

    chosen, _ = scenario
    none_r = chosen[-1]
    bought = prospect(none_r["prospect_id"], email=None, company_name=none_r["company_name"],
                      company_domain=none_r["company_domain"])
    lines = (messages("search_results", chosen)[:-1]  # first batch (fills the sink), no STATE yet
             + messages("prospects", [bought])[:-1]
             + messages("search_results", _copies(chosen, "after"))[1:])
    config = target_config(sf_emulator, tmp_path, batch_size_rows=len(chosen))
    run_target(config, lines)
    (lead,) = [r for r in records(sf_emulator, "Lead") if r.get("Andsend_Prospect_Id__c") == none_r["prospect_id"]]
    badges = {b["result_id"]: b for b in map(json.loads, (Path(config["output_dir"]) / "badges.jsonl")
                                             .read_text().splitlines())}
    assert badges[none_r["id"]]["exists"] is False  # checked before the purchase was written
    after = badges[f"{none_r['id']}-after"]
    assert after["exists"] is True and after["record_id"] == lead["Id"]


def test_one_refused_badge_does_not_cost_the_others(sf_emulator, andsend_emulator, scenario, tmp_path):
    """A search result Andsend no longer has: its badge is refused (400 naming it), the others are
    written, the run succeeds, and the refused one is in the rejects file and the report."""
    chosen, _ = scenario
    gone = {**chosen[0], "id": "sr_gone_0001"}
    config = target_config(sf_emulator, tmp_path, andsend_api_url=andsend_emulator.base_url,
                           andsend_api_key=andsend_emulator.api_key)
    run = run_target(config, messages("search_results", [*chosen, gone]))
    assert run.states and run.report["status"] == "succeeded"
    assert {b["result_id"] for b in andsend_emulator.badges()} == {r["id"] for r in chosen}
    (reject,) = run.rejects
    assert reject["key"] == "sr_gone_0001" and reject["error_code"] == "ANDSEND_REFUSED_BADGE"
    assert "no such search result" in reject["message"] and reject["status"] == "open"
    assert run.report["counts"]["search_results"]["search_result"]["refused_by_andsend"] == 1
    assert run.report["rejects"] == 1


def test_rejects_lines_carry_their_run_and_are_resolved_when_written_later(sf_emulator, andsend_emulator, scenario,
                                                                           tmp_path):
    """The rejects file keeps every run's lines, each with its run id and status: rejected again by
    a later run, the older line is superseded; written by a later run, it is resolved. The report
    (this run's rejects, the file's lines by status) and the file agree."""
    chosen, _ = scenario
    gone = {**chosen[0], "id": "sr_gone_0002"}
    config = target_config(sf_emulator, tmp_path, andsend_api_url=andsend_emulator.base_url,
                           andsend_api_key=andsend_emulator.api_key)
    rejects_path = Path(config["output_dir"]) / "rejects.jsonl"

    def lines() -> list[tuple]:
        rows = [json.loads(x) for x in rejects_path.read_text().splitlines()]
        return [(r["key"], r["run_id"], r["status"], r.get("superseded_by_run") or r.get("resolved_by_run"))
                for r in rows]

    first = run_target(config, messages("search_results", [gone]))
    run_1 = first.report["rejects_file"]["run_id"]
    assert lines() == [("sr_gone_0002", run_1, "open", None)]
    assert first.report["rejects_file"]["by_status"] == {"open": 1} and first.report["rejects"] == 1

    second = run_target(config, messages("search_results", [gone]))
    run_2 = second.report["rejects_file"]["run_id"]
    assert run_2 != run_1
    assert lines() == [("sr_gone_0002", run_1, "superseded", run_2), ("sr_gone_0002", run_2, "open", None)]
    assert second.report["rejects_file"]["by_status"] == {"superseded": 1, "open": 1}

    # Without the write-back the badges file is the output: the result is written, the reject resolved.
    third = run_target({k: v for k, v in config.items() if not k.startswith("andsend_api")},
                       messages("search_results", [gone]))
    run_3 = third.report["rejects_file"]["run_id"]
    assert third.report["rejects"] == 0
    assert lines() == [("sr_gone_0002", run_1, "superseded", run_2), ("sr_gone_0002", run_2, "resolved", run_3)]
    assert third.report["rejects_file"]["by_status"] == {"superseded": 1, "resolved": 1}
