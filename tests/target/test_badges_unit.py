"""Unit tests for badge planning and the badges file (target_salesforce_andsend.badges)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import jsonschema

from target_salesforce_andsend import badge_plan, badges
from target_salesforce_andsend.normalize import keep_latest
from tests.target._activities_support import BADGE_SCHEMA


@dataclass
class FakeMatch:  # only the attributes badge_for reads
    object_type: str
    record_id: str
    record: dict = field(default_factory=dict)


def result(**kw):
    base = {"id": "r1", "search_id": "s1", "prospect_id": "p1", "email": "Ann@Acme.de"}
    base.update(kw)
    return base


def link(rid: str) -> str:
    return f"https://org.example/{rid}"


def test_badge_found_and_not_found_match_schema():
    found = badge_plan.badge_for(result(), FakeMatch("Contact", "003A"), record_link=link,
                             checked_at="2026-01-01T00:00:00Z")
    assert found == {
        "result_id": "r1", "search_id": "s1", "prospect_key": "p1", "exists": True, "crm": "salesforce",
        "object_type": "Contact", "record_id": "003A", "record_url": "https://org.example/003A",
        "checked_at": "2026-01-01T00:00:00Z", "owner": None, "do_not_contact": None,
        "lead_status": None, "last_modified_at": None,
    }
    grey = badge_plan.badge_for(result(prospect_id=None), None, record_link=link, checked_at="2026-01-01T00:00:00Z")
    assert grey["exists"] is False and grey["object_type"] is None and grey["record_url"] is None
    assert grey["prospect_key"] == "email:ann@acme.de"
    for b in (found, grey):
        jsonschema.validate(b, BADGE_SCHEMA)


def test_person_key_fields_normalise_domain():
    f = badge_plan.person_key_fields(result(company_domain=None, company_website="https://www.Acme.de/about"))
    assert f["domain"] == "acme.de" and f["key"] == "s1\x1fr1"


def test_dedupe_latest_keeps_last():
    out = keep_latest([result(email="a@x.io"), result(id="r2"), result(email="b@x.io")], badge_plan.result_key)
    assert [r["id"] for r in out] == ["r2", "r1"] and out[1]["email"] == "b@x.io"


def test_merge_badges_file_rewrites_per_result(tmp_path):
    path = tmp_path / "out" / "badges.jsonl"
    b1 = badge_plan.badge_for(result(), None, record_link=link, checked_at="t1")
    b2 = badge_plan.badge_for(result(id="r2"), None, record_link=link, checked_at="t1")
    badges.merge_badges_file(path, [b1, b2])
    b1_new = badge_plan.badge_for(result(), FakeMatch("Lead", "00QA"), record_link=link, checked_at="t2")
    badges.merge_badges_file(path, [b1_new])
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert [(x["result_id"], x["exists"]) for x in lines] == [("r1", True), ("r2", False)]
    # a torn trailing line from a killed run is tolerated and replaced
    with path.open("a") as fh:
        fh.write('{"result_id": "r3", "sea')
    badges.merge_badges_file(path, [b2])
    assert len(path.read_text().splitlines()) == 2


def test_lookup_memory_is_bounded_and_keeps_the_recently_used():
    from target_salesforce_andsend.matching import LookupMemory

    memory = LookupMemory(max_values=3)
    for value in ("a", "b", "c"):
        memory.put("Account", "Name", value, [{"Id": value}])
    assert memory.rows("Account", "Name", "a") == [{"Id": "a"}]  # used: now the most recent
    memory.put("Account", "Name", "d", [])
    assert len(memory) == 3
    assert not memory.known("Account", "Name", "b")  # the least recently used went first
    assert memory.known("Account", "Name", "a") and memory.known("Account", "Name", "d")
    memory.clear()
    assert len(memory) == 0


def test_badge_carries_owner_and_do_not_contact():
    link = lambda rid: f"https://org.example/{rid}"  # noqa: E731
    match = FakeMatch("Lead", "00QA", {"OwnerId": "005A", "HasOptedOutOfEmail": True})
    owners = {"005A": {"id": "005A", "name": "Ann Owner", "email": "ann@acme.test"}}
    found = badge_plan.badge_for(result(), match, record_link=link, checked_at="2026-01-01T00:00:00Z", owners=owners,
                             do_not_contact=lambda m: bool(m.record.get("HasOptedOutOfEmail")))
    assert found["owner"] == owners["005A"] and found["do_not_contact"] is True
    jsonschema.validate(found, BADGE_SCHEMA)
    queue = badge_plan.badge_for(result(), FakeMatch("Lead", "00QB", {"OwnerId": "00GQ"}), record_link=link,
                             checked_at="t", owners={"00GQ": None})
    assert queue["owner"] == {"id": "00GQ", "name": None, "email": None} and queue["do_not_contact"] is None
