"""The user id -> email directory: one listing per run, one more only for an unknown id."""

from __future__ import annotations

from tap_andsend.users import UserDirectory


def test_lists_once_and_refreshes_once_on_a_miss() -> None:
    users = [{"id": "u1", "email": "ann@x.test"}]
    directory = UserDirectory(lambda: list(users))
    assert directory.passes == 0  # lazy: nothing listed until needed
    assert directory.email_for(None) is None and directory.passes == 0
    assert directory.email_for("u1") == "ann@x.test"
    assert directory.email_for("u1") == "ann@x.test"
    assert directory.passes == 1

    users.append({"id": "u2", "email": "bob@x.test"})  # created while the run goes on
    assert directory.email_for("u2") == "bob@x.test"
    assert directory.passes == 2
    assert directory.email_for("ghost") is None  # no third pass
    assert directory.email_for("ghost") is None
    assert directory.passes == 2
