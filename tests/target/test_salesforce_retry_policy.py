"""The Salesforce retry policy, row by row: what each outcome of a request leads to."""

from __future__ import annotations

import pytest

from target_salesforce_andsend.salesforce.retry_policy import Action, Decision, RetryPolicy

POLICY = RetryPolicy(max_retries=3, backoff_base=1.0)
RETRY, RENEW, QUOTA = Action.RETRY, Action.RENEW_SESSION, Action.QUOTA_EXHAUSTED
GIVE_UP, NOT_RESENT, REFUSED, DONE = Action.GIVE_UP, Action.NOT_RESENT, Action.REFUSED, Action.DONE

# (case, status, error_code, attempt, keywords, expected decision); jitter 1.0 = the full backoff.
ROWS = [
    ("429 backs off", 429, None, 0, {}, Decision(RETRY, 1.0)),
    ("429 backs off longer each time", 429, None, 2, {}, Decision(RETRY, 4.0)),
    ("429 waits its Retry-After", 429, None, 0, {"retry_after": "7"}, Decision(RETRY, 7.0)),
    ("429 Retry-After capped", 429, None, 0, {"retry_after": "3600"}, Decision(RETRY, 60.0)),
    ("429 Retry-After below the backoff", 429, None, 2, {"retry_after": "1"}, Decision(RETRY, 4.0)),
    ("429 Retry-After not a number", 429, None, 0, {"retry_after": "soon"}, Decision(RETRY, 1.0)),
    ("429 on a create: nothing was applied", 429, None, 0, {"create": True}, Decision(RETRY, 1.0)),
    ("429 retries spent", 429, None, 3, {}, Decision(GIVE_UP)),
    ("503 backs off", 503, "SERVER_UNAVAILABLE", 0, {}, Decision(RETRY, 1.0)),
    ("503 waits its Retry-After", 503, None, 1, {"retry_after": "5"}, Decision(RETRY, 5.0)),
    ("503 on a create: nothing was applied", 503, None, 1, {"create": True}, Decision(RETRY, 2.0)),
    ("502 on a create", 502, None, 0, {"create": True}, Decision(RETRY, 1.0)),
    ("504 on a create", 504, None, 0, {"create": True}, Decision(RETRY, 1.0)),
    ("503 retries spent", 503, None, 3, {"create": True}, Decision(GIVE_UP)),
    ("500 on a read", 500, None, 0, {}, Decision(RETRY, 1.0)),
    ("500 on a create may have been applied", 500, None, 0, {"create": True}, Decision(NOT_RESENT)),
    ("500 on a create, retries spent", 500, None, 3, {"create": True}, Decision(NOT_RESENT)),
    ("500 on a read, retries spent", 500, None, 3, {}, Decision(GIVE_UP)),
    ("far past the retries", 500, None, 10, {}, Decision(GIVE_UP)),
    ("REQUEST_LIMIT_EXCEEDED stops", 403, "REQUEST_LIMIT_EXCEEDED", 0, {}, Decision(QUOTA)),
    ("other 403 refused", 403, "INSUFFICIENT_ACCESS", 0, {}, Decision(REFUSED)),
    ("INVALID_SESSION_ID renews", 401, "INVALID_SESSION_ID", 0, {}, Decision(RENEW)),
    ("401 renews again after a renewal", 401, "INVALID_SESSION_ID", 0, {"renewals": 2}, Decision(RENEW)),
    ("401 renewals spent", 401, "INVALID_SESSION_ID", 0, {"renewals": 3}, Decision(GIVE_UP)),
    ("400 refused", 400, "JSON_PARSER_ERROR", 0, {}, Decision(REFUSED)),
    ("404 refused", 404, "NOT_FOUND", 0, {}, Decision(REFUSED)),
    ("UNABLE_TO_LOCK_ROW as a call's status refused", 400, "UNABLE_TO_LOCK_ROW", 0, {}, Decision(REFUSED)),
    ("record UNABLE_TO_LOCK_ROW retried", 200, "UNABLE_TO_LOCK_ROW", 0, {}, Decision(RETRY, 1.0)),
    ("record SERVER_UNAVAILABLE retried", 200, "SERVER_UNAVAILABLE", 1, {}, Decision(RETRY, 2.0)),
    ("record REQUEST_RUNNING_TOO_LONG retried", 200, "REQUEST_RUNNING_TOO_LONG", 0, {}, Decision(RETRY, 1.0)),
    ("record UNPROCESSED retried", 200, "UNPROCESSED", 0, {}, Decision(RETRY, 1.0)),
    ("record rounds spent", 200, "UNABLE_TO_LOCK_ROW", 3, {}, Decision(GIVE_UP)),
    ("record refused for good", 201, "REQUIRED_FIELD_MISSING", 0, {}, Decision(DONE)),
    ("success", 200, None, 0, {}, Decision(DONE)),
    ("timeout on a read", None, None, 0, {}, Decision(RETRY, 1.0)),
    ("timeout on a read, retries spent", None, None, 3, {}, Decision(GIVE_UP)),
    ("timeout on a create may have been applied", None, None, 0, {"create": True}, Decision(NOT_RESENT)),
    ("refused connection on a create: never sent", None, None, 0, {"create": True, "not_sent": True},
     Decision(RETRY, 1.0)),
    ("refused connection, retries spent", None, None, 3, {"create": True, "not_sent": True}, Decision(GIVE_UP)),
    ("jitter spreads the lower half", 503, None, 1, {"jitter": 0.0}, Decision(RETRY, 1.0)),
]


@pytest.mark.parametrize(("status", "code", "attempt", "keywords", "expected"),
                         [row[1:] for row in ROWS], ids=[row[0] for row in ROWS])
def test_classify(status: int | None, code: str | None, attempt: int, keywords: dict, expected: Decision) -> None:
    assert POLICY.classify(status, code, attempt, **{"jitter": 1.0, **keywords}) == expected


def test_backoff_caps() -> None:
    policy = RetryPolicy(max_retries=20, backoff_base=1.0)
    assert policy.classify(500, None, 10, jitter=1.0) == Decision(RETRY, 60.0)
    assert policy.classify(200, "UNABLE_TO_LOCK_ROW", 10, jitter=1.0) == Decision(RETRY, 30.0)
    assert policy.classify(200, "UNABLE_TO_LOCK_ROW", 10, jitter=0.0) == Decision(RETRY, 15.0)
