"""state_holdback.hold_back: the pure rule behind the STATE the target emits."""

from __future__ import annotations

from datetime import datetime, timezone

from target_salesforce_andsend.state_holdback import hold_back

NOW = datetime(2026, 3, 1, tzinfo=timezone.utc)


def state(value, **more):
    return {"bookmarks": {"touchpoints": {"replication_key": "updated_at", "replication_key_value": value},
                          "prospects": {"replication_key": "updated_at", "replication_key_value": "2026-02-28"}},
            **more}


def test_bookmark_held_back_to_the_oldest_parked_touchpoint_by_time_not_text():
    parked = [({"id": "a", "updated_at": "2026-02-10T10:00:00+01:00"}, "2026-02-27T00:00:00+00:00"),
              ({"id": "b", "updated_at": "2026-02-10T09:30:00Z"}, "2026-02-27T00:00:00+00:00")]
    original = state("2026-02-20T00:00:00Z")
    out, info = hold_back(original, ["touchpoints"], parked, now=NOW, max_days=30)
    # 10:00+01:00 is 09:00Z, earlier than 09:30Z although it sorts later as text
    assert out["bookmarks"]["touchpoints"]["replication_key_value"] == "2026-02-10T10:00:00+01:00"
    assert out["bookmarks"]["prospects"] == original["bookmarks"]["prospects"]
    assert original["bookmarks"]["touchpoints"]["replication_key_value"] == "2026-02-20T00:00:00Z"  # not mutated
    assert info == {"held_back": {"touchpoints": {"bookmark": "2026-02-20T00:00:00Z",
                                                  "emitted": "2026-02-10T10:00:00+01:00", "parked": 2}}}


def test_nothing_parked_or_parked_after_the_bookmark_leaves_the_state_alone():
    original = state("2026-02-20T00:00:00Z")
    assert hold_back(original, ["touchpoints"], [], now=NOW, max_days=30) == (original, {})
    later = [({"id": "a", "updated_at": "2026-02-21T00:00:00Z"}, "2026-02-27T00:00:00+00:00")]
    out, info = hold_back(original, ["touchpoints"], later, now=NOW, max_days=30)
    assert out is original and info == {}


def test_touchpoints_parked_too_long_are_released_and_counted():
    parked = [({"id": "old", "updated_at": "2025-01-01T00:00:00Z"}, "2026-01-01T00:00:00+00:00"),
              ({"id": "new", "updated_at": "2026-02-15T00:00:00Z"}, "2026-02-28T00:00:00+00:00")]
    out, info = hold_back(state("2026-02-20T00:00:00Z"), ["touchpoints"], parked, now=NOW, max_days=30)
    assert out["bookmarks"]["touchpoints"]["replication_key_value"] == "2026-02-15T00:00:00Z"
    assert info["parked_released"] == 1


def test_other_replication_keys_and_streams_without_a_bookmark():
    parked = [({"id": "a", "seq": 5, "updated_at": "2026-01-01T00:00:00Z"}, "2026-02-28T00:00:00+00:00")]
    s = {"bookmarks": {"tp": {"replication_key": "seq", "replication_key_value": 9}}}
    out, _ = hold_back(s, ["tp", "missing"], parked, now=NOW, max_days=30)
    assert out["bookmarks"]["tp"]["replication_key_value"] == 5
    assert "missing" not in out["bookmarks"]
