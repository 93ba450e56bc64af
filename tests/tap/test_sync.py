"""tap-andsend against the Andsend emulator over real HTTP: content, incremental state, pagination."""

from __future__ import annotations

import contextlib
import io
from collections import Counter

from tap_andsend.schemas import STREAM_NAMES
from tap_andsend.tap import TapAndsend

from .tap_runs import TapOutput, catalog_for, list_all, run_in_process, stream_validators


def _config(emu, **extra) -> dict:
    return {"api_url": emu.base_url, "api_key": emu.api_key, "page_size": 100, **extra}


def test_full_sync_emits_every_record_valid_and_denormalised(andsend_emulator) -> None:
    emu = andsend_emulator
    out = run_in_process(_config(emu))

    validators = stream_validators()
    for stream in STREAM_NAMES:
        expected = {r["id"] for r in list_all(emu.base_url, emu.api_key, stream)}
        emitted = out.ids(stream)
        assert expected, f"emulator has no {stream}"
        assert len(emitted) == len(set(emitted)), f"{stream}: duplicates in a run without changes"
        assert set(emitted) == expected, stream
        for record in out.records[stream]:
            errors = [
                f"{'.'.join(map(str, e.path))}: {e.message}" for e in validators[stream].iter_errors(record)
            ]
            assert not errors, (stream, record["id"], errors)

    emails = {u["id"]: u["email"] for u in list_all(emu.base_url, emu.api_key, "users")}
    purchased = [p for p in out.records["prospects"] if p["purchased_by_user_id"]]
    assert purchased
    for p in out.records["prospects"]:
        assert p["purchased_by_user_email"] == emails.get(p["purchased_by_user_id"]), p["id"]
    for tp in out.records["touchpoints"]:
        assert tp["user_email"] == emails.get(tp["user_id"]), tp["id"]

    # One sorted bookmark per stream, at the greatest updated_at emitted.
    bookmarks = out.final_state["bookmarks"]
    for stream in STREAM_NAMES:
        assert bookmarks[stream]["replication_key"] == "updated_at"
        assert bookmarks[stream]["replication_key_value"] == max(r["updated_at"] for r in out.records[stream])
        assert "progress_markers" not in bookmarks[stream]


def test_user_lookup_is_one_extra_pass_per_run(andsend_emulator) -> None:
    emu = andsend_emulator
    emu.reset_stats()
    out = run_in_process(_config(emu), streams=["prospects"])
    assert any(p["purchased_by_user_email"] for p in out.records["prospects"])
    by_path = emu.stats()["by_path"]
    users = len(list_all(emu.base_url, emu.api_key, "users"))
    assert users <= 100  # so one page of 100 is one pass
    assert by_path.get("/v1/users") == 1
    assert by_path["/v1/prospects"] == -(-len(out.ids("prospects")) // 100)


def test_second_run_with_state_emits_only_what_changed(andsend_emulator) -> None:
    emu = andsend_emulator
    first = run_in_process(_config(emu))
    state = first.final_state

    touched = emu.activity(new_purchases=4, edited_prospects=6, new_touchpoints=5, new_search_results=3)
    changed_prospects = set(touched["new_purchases"]) | set(touched["edited_prospects"])
    assert changed_prospects and touched["new_touchpoints"] and touched["new_search_results"]

    emu.reset_stats()
    second = run_in_process(_config(emu), state=state)

    def boundary_ids(stream: str) -> set[str]:
        # updated_since is inclusive: records stamped exactly at the old bookmark come again.
        mark = state["bookmarks"][stream]["replication_key_value"]
        return {r["id"] for r in first.records[stream] if r["updated_at"] == mark}

    expected = {
        "prospects": changed_prospects,
        "touchpoints": set(touched["new_touchpoints"]),
        "search_results": set(touched["new_search_results"]),
        "users": set(),
        "campaigns": set(),
    }
    for stream, changed in expected.items():
        got = set(second.ids(stream))
        assert changed <= got, (stream, changed - got)
        assert got - changed <= boundary_ids(stream), (stream, got - changed)
    # And it was cheap: one page per stream for prospects (plus the users lookup).
    assert emu.stats()["by_path"]["/v1/prospects"] == 1
    # The new bookmark covers the changes.
    assert second.final_state["bookmarks"]["prospects"]["replication_key_value"] == max(
        r["updated_at"] for r in second.records["prospects"]
    )


def test_pagination_holds_while_records_change_between_pages(andsend_emulator) -> None:
    """Purchases and edits land between page fetches; nothing is skipped, final versions win."""
    emu = andsend_emulator
    pages = Counter()
    touched: list[dict[str, list[str]]] = []

    def change_between_pages(stream: str, response) -> None:
        if stream == "prospects" and response.status_code == 200 and "/v1/prospects" in response.url:
            pages["prospects"] += 1
            if pages["prospects"] <= 4:  # while the pass is still in progress
                touched.append(emu.activity(new_purchases=3, edited_prospects=5))

    out = run_in_process(_config(emu, page_size=50), streams=["prospects"], on_response=change_between_pages)
    assert len(touched) == 4

    final = {r["id"]: r for r in list_all(emu.base_url, emu.api_key, "prospects")}
    emitted = out.records["prospects"]
    assert {r["id"] for r in emitted} == set(final), "a record was skipped"
    last_seen = {r["id"]: r for r in emitted}  # later versions overwrite earlier ones
    for pid, record in final.items():
        assert last_seen[pid]["updated_at"] == record["updated_at"], pid
        assert last_seen[pid]["status"] == record["status"], pid
    # Only records changed during the pass may appear twice.
    changed = {pid for t in touched for ids in t.values() for pid in ids}
    repeats = {pid for pid, n in Counter(r["id"] for r in emitted).items() if n > 1}
    assert repeats <= changed
    # Emitted in API order, so the SDK's sort check and the bookmark hold.
    stamps = [r["updated_at"] for r in emitted]
    assert stamps == sorted(stamps)


def test_purchased_only_filters_prospects(andsend_emulator) -> None:
    emu = andsend_emulator
    out = run_in_process(_config(emu, purchased_only=True), streams=["prospects"])
    every = list_all(emu.base_url, emu.api_key, "prospects")
    purchased = {p["id"] for p in every if p["purchased"]}
    assert 0 < len(purchased) < len(every)
    assert set(out.ids("prospects")) == purchased
    assert all(p["purchased_by_user_email"] for p in out.records["prospects"] if p["purchased_by_user_id"])


def test_start_date_and_later_bookmark(andsend_emulator) -> None:
    emu = andsend_emulator
    every = sorted(r["updated_at"] for r in list_all(emu.base_url, emu.api_key, "prospects"))
    start = every[len(every) // 2]
    out = run_in_process(_config(emu, start_date=start), streams=["prospects"])
    assert sorted(r["updated_at"] for r in out.records["prospects"]) == [u for u in every if u >= start]

    # A bookmark later than start_date wins.
    later = every[(3 * len(every)) // 4]
    state = {"bookmarks": {"prospects": {"replication_key": "updated_at", "replication_key_value": later}}}
    out = run_in_process(_config(emu, start_date=start), state=state, streams=["prospects"])
    assert sorted(r["updated_at"] for r in out.records["prospects"]) == [u for u in every if u >= later]


def test_deselected_properties_and_stream_maps_are_honoured(andsend_emulator) -> None:
    emu = andsend_emulator
    config = _config(emu)
    catalog = catalog_for(config, ["prospects"])
    assert catalog is not None
    for entry in catalog["streams"]:
        for md in entry["metadata"]:
            if entry["tap_stream_id"] == "prospects" and md["breadcrumb"] == ["properties", "phone"]:
                md["metadata"]["selected"] = False
    tap = TapAndsend(config=config, catalog=catalog, parse_env_config=False)
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        tap.sync_all()
    out = TapOutput.parse(buffer.getvalue().splitlines())
    assert out.records["prospects"] and all("phone" not in r for r in out.records["prospects"])
    assert all("email" in r for r in out.records["prospects"])

    mapped = run_in_process(
        _config(emu, stream_maps={"prospects": {"__filter__": "purchased", "full_name": None}}),
        streams=["prospects"],
    )
    every = list_all(emu.base_url, emu.api_key, "prospects")
    assert set(mapped.ids("prospects")) == {p["id"] for p in every if p["purchased"]}
    assert all("full_name" not in r and "phone" in r for r in mapped.records["prospects"])
