"""Keyset pagination while data changes underneath: nothing skipped, changed records read again."""

from __future__ import annotations

from collections import Counter

from tests.andsend_emulator.test_api import read_all


def _final_versions(emu, path: str, **params) -> dict[str, str]:
    return {r["id"]: r["updated_at"] for r in read_all(emu, path, limit=1000, **params)}


def _paged_pass_with_changes(emu, path: str, change, **params) -> tuple[list[dict], int]:
    """Read every page of ``path``, calling ``change()`` between pages; return records in order read."""
    seen: list[dict] = []
    cursor = None
    pages = 0
    while True:
        page = emu.get(path, limit=40, **params, **({"cursor": cursor} if cursor else {})).json()
        seen.extend(page["data"])
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            return seen, pages
        change(pages)


def test_prospects_edited_and_purchased_between_pages_are_never_skipped(andsend_emulator):
    before = set(_final_versions(andsend_emulator, "/v1/prospects"))
    touched: set[str] = set()

    def change(page: int) -> None:
        ids = andsend_emulator.activity(edited_prospects=4, new_purchases=3)
        touched.update(ids["edited_prospects"] + ids["new_purchases"])

    seen, pages = _paged_pass_with_changes(andsend_emulator, "/v1/prospects", change)
    assert pages > 10
    final = _final_versions(andsend_emulator, "/v1/prospects")
    assert set(final) == before  # activity changes prospects, it does not add them
    seen_ids = {r["id"] for r in seen}
    assert seen_ids == set(final), "a prospect was skipped"
    # The last version read of every record is its current version: every change was read.
    last_read = {}
    for record in seen:
        last_read[record["id"]] = record["updated_at"]
    assert last_read == final
    # Repeats happen only for records changed after they had been read.
    repeated = {i for i, n in Counter(r["id"] for r in seen).items() if n > 1}
    assert repeated and repeated <= touched
    assert len(touched) > 20


def test_new_touchpoints_during_a_pass_are_read_in_the_same_pass(andsend_emulator):
    created: list[str] = []

    def change(page: int) -> None:
        if page <= 5:
            created.extend(andsend_emulator.activity(new_touchpoints=7)["new_touchpoints"])

    seen, _ = _paged_pass_with_changes(andsend_emulator, "/v1/touchpoints", change)
    ids = [r["id"] for r in seen]
    assert len(ids) == len(set(ids))  # touchpoints never change, so never repeat
    assert set(created) <= set(ids) and len(created) == 35
    assert set(ids) == set(_final_versions(andsend_emulator, "/v1/touchpoints"))


def test_frozen_clock_in_the_past_still_moves_changed_records_behind_the_cursor(andsend_emulator):
    andsend_emulator.clock("2020-01-01T00:00:00Z")  # earlier than every generated stamp
    before = _final_versions(andsend_emulator, "/v1/prospects", purchased="true")

    def change(page: int) -> None:
        andsend_emulator.activity(edited_prospects=5)

    seen, _ = _paged_pass_with_changes(andsend_emulator, "/v1/prospects", change, purchased="true")
    final = _final_versions(andsend_emulator, "/v1/prospects", purchased="true")
    assert set(before) == set(final) == {r["id"] for r in seen}
    last_read = {r["id"]: r["updated_at"] for r in seen}
    assert last_read == final
    assert max(final.values()) > max(before.values())


def test_incremental_run_with_updated_since_returns_exactly_the_changes(andsend_emulator):
    first = read_all(andsend_emulator, "/v1/prospects", limit=1000, purchased="true")
    bookmark = max(r["updated_at"] for r in first)
    ids = andsend_emulator.activity(new_purchases=6, edited_prospects=4)
    second = read_all(andsend_emulator, "/v1/prospects", limit=100, purchased="true", updated_since=bookmark)
    changed = {r["id"] for r in second if r["updated_at"] > bookmark}
    assert changed == set(ids["new_purchases"]) | set(ids["edited_prospects"])
    # Inclusive: records stamped exactly at the bookmark come back too (de-duplicated by id downstream).
    assert {r["id"] for r in second if r["updated_at"] == bookmark} == {
        r["id"] for r in first if r["updated_at"] == bookmark
    }
    newly = {r["id"]: r for r in second if r["id"] in ids["new_purchases"]}
    assert all(p["purchased"] and p["purchased_at"] and p["purchased_by_user_id"] for p in newly.values())
