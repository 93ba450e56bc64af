"""The CRM-status resource of the Andsend emulator: PUT/GET /v1/prospects/crm-status, the control plane's
GET /__emulator__/crm-status, and outreach stopping for do-not-contact prospects."""

from __future__ import annotations

import requests


def status(pid: str, **kw) -> dict:
    base = {"prospect_id": pid, "crm": "salesforce", "object_type": "Lead", "record_id": "00Q5g0000000001EAA",
            "do_not_contact": False, "do_not_contact_reasons": [], "checked_at": "2026-01-01T00:00:00.000Z"}
    base.update(kw)
    return base


def put(emu, statuses, **kw) -> requests.Response:
    return requests.put(f"{emu.base_url}/v1/prospects/crm-status", json={"statuses": statuses, **kw},
                        headers={"Authorization": f"Bearer {emu.api_key}"}, timeout=30)


def prospect_ids(emu, n: int) -> list[str]:
    return [p["id"] for p in emu.get("/v1/prospects", purchased="true", limit=n).json()["data"]]


def test_put_upserts_reads_back_in_pages_and_skips_unknown(andsend_emulator):
    ids = prospect_ids(andsend_emulator, 5)
    resp = put(andsend_emulator, [status(i) for i in ids] + [status("no-such-prospect")])
    assert resp.status_code == 200
    assert resp.json() == {"updated": 5, "unknown_prospect_ids": ["no-such-prospect"]}
    assert put(andsend_emulator, [status(ids[0], do_not_call=True, do_not_contact=True,
                                         do_not_contact_reasons=["DoNotCall"])]).json()["updated"] == 1
    page = andsend_emulator.get("/v1/prospects/crm-status", limit=3).json()
    rest = andsend_emulator.get("/v1/prospects/crm-status", limit=3, cursor=page["next_cursor"]).json()
    assert [s["prospect_id"] for s in page["data"] + rest["data"]] == sorted(ids)
    assert rest["next_cursor"] is None
    everything = requests.get(f"{andsend_emulator.base_url}/__emulator__/crm-status", timeout=10).json()["data"]
    assert {s["prospect_id"]: s["do_not_call"] for s in everything if "do_not_call" in s} == {ids[0]: True}
    one = andsend_emulator.get("/v1/prospects/crm-status", prospect_id=ids[1]).json()["data"]
    assert [s["prospect_id"] for s in one] == [ids[1]]


def test_put_is_atomic_and_names_every_invalid_status(andsend_emulator):
    ids = prospect_ids(andsend_emulator, 2)
    resp = put(andsend_emulator, [status(ids[0]), status(ids[1], object_type="Account", shoe_size=44)])
    assert resp.status_code == 400
    names = {p["name"] for p in resp.json()["invalid_params"]}
    assert {"statuses/1/object_type", "statuses/1"} <= names
    assert andsend_emulator.get("/v1/prospects/crm-status").json()["data"] == []
    assert put(andsend_emulator, [status(ids[0])] * 1001).status_code == 400
    assert put(andsend_emulator, [], extra=1).status_code == 400


def test_no_outreach_for_do_not_contact_prospects(andsend_emulator):
    ids = prospect_ids(andsend_emulator, 200)
    blocked = set(ids[:150])
    put(andsend_emulator, [status(i, do_not_contact=True, has_opted_out_of_email=True,
                                  do_not_contact_reasons=["HasOptedOutOfEmail"]) for i in sorted(blocked)])
    touched = set(andsend_emulator.activity(new_touchpoints=300)["new_touchpoints"])
    made_for: set[str] = set()
    cursor = None
    while True:
        page = andsend_emulator.get("/v1/touchpoints", limit=1000, **({"cursor": cursor} if cursor else {})).json()
        made_for |= {tp["prospect_id"] for tp in page["data"] if tp["id"] in touched}
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(touched) == 300 and made_for and not made_for & blocked
