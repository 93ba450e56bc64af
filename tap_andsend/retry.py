"""How long to wait before retrying a failed Andsend request.

A 429 (or 503) with ``Retry-After`` (seconds or an HTTP date) waits at least that long.
Everything else retriable (5xx, connection errors, timeouts) backs off exponentially with
jitter, bounded so a long outage ends in a clear failure rather than an endless wait.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Generator
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Any

import requests

BASE_DELAY_SECONDS = 0.5
MAX_DELAY_SECONDS = 30.0
# A Retry-After beyond this is honoured up to this bound only; the retry then meets the
# same 429 and, once retries run out, the run fails saying so instead of hanging for hours.
MAX_RETRY_AFTER_SECONDS = 900.0


def retry_after_seconds(response: requests.Response | None, *, now: datetime | None = None) -> float | None:
    """Seconds the server asked us to wait (``Retry-After``), or None when absent/unparseable."""
    if response is None:
        return None
    raw = response.headers.get("Retry-After")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    now = now or datetime.now(timezone.utc)
    return max(0.0, (when - now).total_seconds())


def exponential_delay(attempt: int, *, rng: Callable[[], float] = random.random) -> float:
    """Equal-jitter exponential backoff: half the capped exponential, plus a random other half."""
    capped = min(MAX_DELAY_SECONDS, BASE_DELAY_SECONDS * (2 ** max(0, attempt - 1)))
    return capped / 2 + rng() * capped / 2


def wait_seconds(exception: BaseException | None, attempt: int) -> float:
    """Wait before retry number ``attempt`` (1-based) after ``exception``.

    ``Retry-After`` wins whenever the server sent one (429, and 503 may carry it too); a 429
    without it falls back to ``X-RateLimit-Reset`` (seconds until the window resets).
    """
    response: Any = getattr(exception, "response", None)
    if isinstance(response, requests.Response):
        asked = retry_after_seconds(response)
        if asked is None and response.status_code == HTTPStatus.TOO_MANY_REQUESTS:
            asked = _seconds_header(response, "X-RateLimit-Reset")
        if asked is not None:
            # A little jitter on top (never below what was asked) so parallel clients spread out.
            return min(asked, MAX_RETRY_AFTER_SECONDS) + random.random() * min(1.0, 0.1 * asked + 0.05)
    return exponential_delay(attempt)


def _seconds_header(response: requests.Response, name: str) -> float | None:
    try:
        return max(0.0, float(response.headers[name]))
    except (KeyError, ValueError):
        return None


def wait_generator() -> Generator[float, BaseException | None, None]:
    """A ``backoff`` wait generator: primed with ``send(None)``, then sent each exception."""
    exception = yield 0.0
    attempt = 0
    while True:
        attempt += 1
        exception = yield wait_seconds(exception, attempt)
