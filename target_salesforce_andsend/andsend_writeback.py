"""Batched write-back to the Andsend API: CRM badges (`PUT /v1/search-results/badges`) and, with
``path=CRM_STATUS_PATH, member="statuses"``, the CRM status of prospects (`PUT /v1/prospects/crm-status`).

At most 1,000 items per call (the API's limit). urllib3's ``Retry`` (mounted on the session)
resends 429 and 5xx answers and connection errors, after their `Retry-After` (429, 503: seconds or
an HTTP date, capped) or with exponential backoff; both endpoints are PUTs that set a value, so a
resend never doubles anything. Other 4xx fail at once (they will not get better), except a 400
that names the badges it refuses (``invalid_params`` ``badges/<i>/...``, e.g. a search result
Andsend no longer has): those are set aside in ``refused`` with Andsend's reason and the rest of
the call is sent again, so one bad badge never costs the others. The API key only ever travels in
the `Authorization` header: it is never logged, and error messages carry the status and the problem
title/detail only.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import InvalidHeader
from urllib3.util.retry import Retry

MAX_PER_CALL = 1000
BADGES_PATH = "/v1/search-results/badges"
CRM_STATUS_PATH = "/v1/prospects/crm-status"


class WriteBackError(RuntimeError):
    """The Andsend API refused the badges or stayed unavailable after the retries."""


#: Statuses resent: throttled, or the server failed (the PUTs are idempotent).
RETRY_STATUSES = frozenset({429, *range(500, 600)})


class _Retry(Retry):
    """urllib3's ``Retry``, its waits capped at ``max_wait`` and taken through ``on_wait`` (which
    logs, counts and sleeps: tests pass their own sleep)."""

    RETRY_AFTER_STATUS_CODES = frozenset({429, 503})

    def __init__(self, *args: Any, on_wait: Callable[[float, str], None] | None = None, max_wait: float = 60.0,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.on_wait = on_wait
        self.max_wait = max_wait

    def new(self, **kw: Any) -> _Retry:
        retry = super().new(**kw)
        retry.on_wait, retry.max_wait = self.on_wait, self.max_wait
        return retry

    def sleep(self, response: Any = None) -> None:
        wait = None
        asked = response is not None and response.status in self.RETRY_AFTER_STATUS_CODES
        if asked and self.respect_retry_after_header:
            try:
                wait = self.get_retry_after(response)
            except InvalidHeader:
                wait = None
        if wait is None:
            wait = self.get_backoff_time()
        last = self.history[-1] if self.history else None
        why = (f"HTTP {last.status}" if last is not None and last.status
               else type(last.error).__name__ if last is not None and last.error is not None else "error")
        wait = min(wait, self.max_wait)
        if self.on_wait is not None:
            self.on_wait(wait, why)
        else:
            time.sleep(wait)


_BADGE_PARAM = re.compile(r"^badges/(\d+)(?:/|$)")


def _refused_indexes(resp: requests.Response, size: int) -> dict[int, str]:
    """Index in the call -> Andsend's reason, for a 400 that names individual badges."""
    if resp.status_code != 400:
        return {}
    try:
        params = resp.json().get("invalid_params") or []
    except (ValueError, AttributeError):
        return {}
    out: dict[int, str] = {}
    for param in params:
        m = _BADGE_PARAM.match(str(param.get("name", ""))) if isinstance(param, dict) else None
        if m and int(m.group(1)) < size:
            out.setdefault(int(m.group(1)), f"{param.get('name')}: {param.get('reason', '')}".strip())
    return out


def _problem_text(resp: requests.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.reason or ""
    if isinstance(body, dict):
        return " ".join(str(body.get(k)) for k in ("title", "detail") if body.get(k))
    return ""


class AndsendBadgeWriter:
    def __init__(
        self,
        api_url: str,
        api_key: str,
        *,
        logger: logging.Logger | None = None,
        timeout: float = 60.0,
        max_retries: int = 5,
        backoff_base: float = 0.5,
        max_wait: float = 60.0,
        batch_size: int = MAX_PER_CALL,
        sleep: Callable[[float], None] = time.sleep,
        path: str = BADGES_PATH,
        member: str = "badges",
    ) -> None:
        base = api_url.rstrip("/")
        # Accept the API root with or without the /v1 suffix.
        if base.endswith("/v1"):
            base = base[: -len("/v1")]
        self.url = base + path
        self.member = member
        self.what = "badge" if member == "badges" else "CRM status"  # for messages
        self.unknown_ids: list[str] = []  # items the API skipped as unknown (crm-status)
        self._session = requests.Session()
        retry = _Retry(total=max_retries, allowed_methods=frozenset({"PUT"}), status_forcelist=RETRY_STATUSES,
                       backoff_factor=backoff_base, respect_retry_after_header=True, raise_on_status=False,
                       on_wait=self._wait, max_wait=max_wait)
        self._session.mount("https://", HTTPAdapter(max_retries=retry))
        self._session.mount("http://", HTTPAdapter(max_retries=retry))
        self._session.headers["Authorization"] = f"Bearer {api_key}"
        self._session.headers["Content-Type"] = "application/json"
        self.logger = logger or logging.getLogger(__name__)
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.max_wait = max_wait
        self.batch_size = max(1, min(batch_size, MAX_PER_CALL))
        self._sleep = sleep
        self.calls = 0
        self.retries = 0
        # Badges Andsend refused one by one (badge, reason): the caller reports them.
        self.refused: list[tuple[dict, str]] = []

    def put(self, badges: Iterable[dict]) -> int:
        """Send every badge, in calls of at most 1,000; returns the count the API reports updated."""
        items = list(badges)
        updated = 0
        for start in range(0, len(items), self.batch_size):
            updated += self._put_chunk(items[start : start + self.batch_size])
        return updated

    def _wait(self, seconds: float, why: str) -> None:
        self.calls += 1  # the resend that follows
        self.retries += 1
        self.logger.warning("%s write-back: %s, retrying in %.1fs (retry %d)", self.what, why, seconds, self.retries)
        self._sleep(seconds)

    def _put_chunk(self, chunk: list[dict]) -> int:
        while True:
            self.calls += 1
            try:
                resp = self._session.put(self.url, json={self.member: chunk}, timeout=self.timeout)
            except requests.RequestException as exc:
                raise WriteBackError(f"{self.what} write-back failed: {type(exc).__name__}") from None
            if resp.status_code < 300:
                try:
                    body = resp.json()
                    self.unknown_ids.extend(str(i) for i in body.get("unknown_prospect_ids") or [])
                    return int(body.get("updated", len(chunk)))
                except (ValueError, AttributeError, TypeError):
                    return len(chunk)
            refused = _refused_indexes(resp, len(chunk))
            if refused:
                for i, reason in sorted(refused.items()):
                    self.refused.append((chunk[i], reason))
                    self.logger.warning("badge write-back: Andsend refused the badge of search result %s (%s)",
                                        chunk[i].get("result_id"), reason)
                chunk = [b for i, b in enumerate(chunk) if i not in refused]
                if not chunk:
                    return 0
                continue  # the others, without the refused ones (not a retry: nothing was written)
            # A refusal, or a 429 / 5xx still answered after the adapter's retries.
            raise WriteBackError(
                f"{self.what} write-back refused: HTTP {resp.status_code} {_problem_text(resp)}".rstrip()
            )

    def close(self) -> None:
        self._session.close()
