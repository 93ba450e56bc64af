"""badges.merge_badges_file streams the existing file: replacement in place, appends, odd lines."""

from __future__ import annotations

import json

from target_salesforce_andsend import badges


def badge(rid: str, sid: str = "s1", checked: str = "t1", **extra: object) -> dict:
    return {"result_id": rid, "search_id": sid, "prospect_key": None, "exists": False, "crm": "salesforce",
            "object_type": None, "record_id": None, "record_url": None, "checked_at": checked, **extra}


def read(path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def test_batches_append_and_replace_in_place_across_many_merges(tmp_path):
    path = tmp_path / "badges.jsonl"
    for start in range(0, 3000, 500):
        badges.merge_badges_file(path, [badge(f"r{i}") for i in range(start, start + 500)])
    badges.merge_badges_file(path, [badge("r10", checked="t2"), badge("r2999", checked="t2"),
                                    badge("new", checked="t2")])
    rows = read(path)
    assert [r["result_id"] for r in rows] == [f"r{i}" for i in range(3000)] + ["new"]
    assert {r["result_id"] for r in rows if r["checked_at"] == "t2"} == {"r10", "r2999", "new"}


def test_keys_with_escapes_and_foreign_layouts_are_still_matched(tmp_path):
    path = tmp_path / "badges.jsonl"
    odd = badge('r"1', sid="s\\2")  # quote and backslash: escaped in the file, parsed, not pattern-read
    badges.merge_badges_file(path, [odd, badge("ümlaut", sid="s-ü")])
    with path.open("a", encoding="utf-8") as fh:  # a line written by another tool, keys in another order
        fh.write(json.dumps({"search_id": "s9", "result_id": "r9", "checked_at": "t0"}) + "\n")
        fh.write('{"result_id":"r7","search_id":"s1","check')  # torn
    badges.merge_badges_file(path, [badge('r"1', sid="s\\2", checked="t2"), badge("r9", sid="s9", checked="t2"),
                                    badge("ümlaut", sid="s-ü", checked="t2")])
    rows = read(path)
    assert [(r["result_id"], r["checked_at"]) for r in rows] == [('r"1', "t2"), ("ümlaut", "t2"), ("r9", "t2")]
