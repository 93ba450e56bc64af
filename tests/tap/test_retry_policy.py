"""The wait policy on its own: Retry-After parsing and bounded exponential backoff."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
import requests

from tap_andsend import retry
from tap_andsend.client import api_base, format_timestamp


def _response(status: int, headers: dict[str, str] | None = None) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.headers.update(headers or {})
    return response


class _HTTPFailure(Exception):
    def __init__(self, response: requests.Response) -> None:
        super().__init__("failure")
        self.response = response


def test_retry_after_seconds_and_http_date() -> None:
    assert retry.retry_after_seconds(_response(429, {"Retry-After": "7"})) == 7.0
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    later = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert retry.retry_after_seconds(_response(429, {"Retry-After": later}), now=now) == 30.0
    assert retry.retry_after_seconds(_response(429, {"Retry-After": "soon"})) is None
    assert retry.retry_after_seconds(_response(429)) is None
    assert retry.retry_after_seconds(None) is None


def test_429_waits_at_least_retry_after() -> None:
    exc = _HTTPFailure(_response(429, {"Retry-After": "2"}))
    waits = [retry.wait_seconds(exc, attempt) for attempt in range(1, 20)]
    assert all(2.0 <= w <= 3.0 for w in waits), waits


def test_exponential_backoff_grows_jitters_and_is_bounded() -> None:
    assert retry.exponential_delay(1, rng=lambda: 0.0) == pytest.approx(retry.BASE_DELAY_SECONDS / 2)
    assert retry.exponential_delay(3, rng=lambda: 1.0) == pytest.approx(retry.BASE_DELAY_SECONDS * 4)
    assert retry.exponential_delay(50, rng=lambda: 1.0) == retry.MAX_DELAY_SECONDS
    exc = _HTTPFailure(_response(503))
    assert len({round(retry.wait_seconds(exc, 4), 6) for _ in range(20)}) > 1  # jittered


def test_wait_generator_protocol_of_backoff() -> None:
    gen = retry.wait_generator()
    gen.send(None)  # backoff primes the generator before the first failure
    exc = _HTTPFailure(_response(429, {"Retry-After": "1"}))
    assert gen.send(exc) >= 1.0
    first_5xx = gen.send(_HTTPFailure(_response(500)))
    assert 0 < first_5xx <= retry.MAX_DELAY_SECONDS


def test_api_base_and_timestamp_format() -> None:
    assert api_base("http://127.0.0.1:8001") == "http://127.0.0.1:8001/v1"
    assert api_base("http://127.0.0.1:8001/v1/") == "http://127.0.0.1:8001/v1"
    stamp = datetime(2026, 3, 1, 10, 0, 0, 123456, tzinfo=timezone.utc)
    assert format_timestamp(stamp) == "2026-03-01T10:00:00.123456Z"
    assert format_timestamp(stamp.replace(tzinfo=None)) == "2026-03-01T10:00:00.123456Z"


def test_503_retry_after_and_429_rate_limit_reset_are_honoured() -> None:
    assert retry.wait_seconds(_HTTPFailure(_response(503, {"Retry-After": "3"})), 1) >= 3.0
    assert retry.wait_seconds(_HTTPFailure(_response(429, {"X-RateLimit-Reset": "4"})), 1) >= 4.0
    assert retry.wait_seconds(_HTTPFailure(_response(503)), 1) <= retry.BASE_DELAY_SECONDS
