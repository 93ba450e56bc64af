"""The role-handler table: one handler per sink role, with the lanes and turns the ordering needs."""

from __future__ import annotations

from target_salesforce_andsend.roles import LANES, LocalRole, SalesforceRole, role_handlers
from target_salesforce_andsend.sinks import SINKS_BY_ROLE


def test_every_sink_role_has_a_handler_on_a_known_lane() -> None:
    handlers = role_handlers()
    assert set(handlers) == set(SINKS_BY_ROLE)
    lanes = {lane.name: lane for lane in LANES}
    assert {role: h.lane.name for role, h in handlers.items()} == {
        "users": "people", "prospects": "people", "touchpoints": "touchpoints",
        "search_results": "search-results", "ignore": "search-results"}
    assert all(h.lane is lanes[h.lane.name] for h in handlers.values())
    # People wait for everything before them; Tasks and badges for the people before them.
    assert handlers["prospects"].waits_for is None
    assert handlers["touchpoints"].waits_for == ("people",) == handlers["search_results"].waits_for
    # One people worker (a batch sees the people the one before it wrote); two elsewhere, in turns.
    assert lanes["people"].workers == 1 and lanes["touchpoints"].workers == 2 == lanes["search-results"].workers
    assert {role: h.turn for role, h in handlers.items() if h.turn} == {"touchpoints": "tasks",
                                                                        "search_results": "badges"}


def test_users_and_ignored_streams_need_no_salesforce() -> None:
    handlers = role_handlers()
    assert {r for r, h in handlers.items() if isinstance(h, LocalRole)} == {"users", "ignore"}
    assert {r for r, h in handlers.items() if isinstance(h, SalesforceRole)} == {"prospects", "touchpoints",
                                                                                 "search_results"}
    assert role_handlers()["users"] is not handlers["users"]  # each target keeps its own figures
