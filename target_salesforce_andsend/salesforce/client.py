"""One HTTP client for Salesforce: sessions, retries, quota, call counting.

Every call the target makes to Salesforce goes through :meth:`SalesforceClient.request`, which

* adds the session (logging in lazily; a 401 ``INVALID_SESSION_ID`` renews it once, and
  concurrent threads share one renewal),
* asks the :class:`~.quota.QuotaGovernor` first and feeds it every ``Sforce-Limit-Info``,
* retries 5xx, 429, connection errors and timeouts as the :class:`~.retry_policy.RetryPolicy`
  decides (``max_retries``, exponential backoff with jitter, ``Retry-After``), except that a create
  that may already have been applied (read timeout, 500) is never re-sent: the caller says which
  requests create (``retry_ambiguous=False``),
* counts the call under its kind (the emulator's ``by_kind`` names).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlencode

import requests
from requests.adapters import HTTPAdapter

from .auth import Authenticator, Token
from .bundling import MAX_SUBREQUESTS, QueryBundler
from .errors import AuthenticationError, SalesforceAPIError, TransportError, parse_error_body
from .pool import CallPool
from .quota import QuotaGovernor
from .redact import install as install_redaction
from .redact import register_secrets
from .retry_policy import Action, RetryPolicy

if TYPE_CHECKING:
    from ..settings import Settings

log = logging.getLogger("target_salesforce_andsend.salesforce.client")

# Salesforce refuses a request line + headers over 16,384 bytes (414/431); longer SOQL goes
# through the Composite API, whose body has no such limit. Keep a margin for headers.
MAX_GET_URL_BYTES = 14_000
T = TypeVar("T")


class SalesforceClient:
    """Thread-safe; one per run (describe results are cached for the run only)."""

    def __init__(
        self,
        config: Settings | Mapping[str, Any],
        *,
        logger: logging.Logger | None = None,
        authenticator: Authenticator | None = None,
        quota: QuotaGovernor | None = None,
        read_limits_at_start: bool = True,
        pool: CallPool | None = None,
    ) -> None:
        # Whoever builds a client (the target, the mapping CLI, a script) gets secret-free logs:
        # every sensitive setting is registered and every log record in the process is redacted
        # (from the raw config too: before a setting's value is checked).
        install_redaction(config)
        from ..settings import Settings  # here: settings.py imports this package's errors

        self.settings = settings = Settings.of(config)
        self.log = logger or log
        self.api_version = settings.api_version
        self.max_concurrency = max(1, settings.max_concurrency)
        self.max_retries = max(0, settings.max_retries)
        self.timeout = settings.request_timeout
        self.backoff_base = settings.retry_backoff_seconds
        self.retry_policy = RetryPolicy(max_retries=self.max_retries, backoff_base=self.backoff_base)
        self.session = requests.Session()
        # One pool per host, big enough for max_concurrency writer threads plus the sinks' own
        # threads (singer-sdk drains sinks in parallel) without discarding connections.
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=max(10, 2 * self.max_concurrency + 4), max_retries=0)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        self.session.headers.update({
            "Accept": "application/json",
            "Sforce-Call-Options": "client=target-salesforce-andsend",
        })
        self.auth = authenticator or Authenticator(settings, session=self.session, timeout=self.timeout)
        self.quota = quota or QuotaGovernor(settings)
        self.calls: Counter[str] = Counter()
        self._calls_lock = threading.Lock()
        self._token: Token | None = None
        self._token_generation = 0
        self._token_lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._started = False
        self._read_limits_at_start = read_limits_at_start
        self._describe_cache: dict[str, dict[str, Any]] = {}
        self._describe_lock = threading.Lock()
        # The one executor for calls sent on another thread's behalf (bundled reads, later
        # pages, write chunks): twice the calls in flight, so tasks waiting on the writer's
        # governor or decoding an answer leave threads for the calls.
        self._owns_pool = pool is None
        self.pool = pool or CallPool(2 * self.max_concurrency)
        self._readers_lock = threading.Lock()
        self._bundler: QueryBundler | None = None
        # max_concurrency is a promise about the org: calls in flight, whichever thread (writer
        # chunks, reader statements, the target's lanes) sends them. Held only while sending.
        self._in_flight = threading.BoundedSemaphore(self.max_concurrency)

    def __repr__(self) -> str:
        url = self._token.instance_url if self._token else None
        return f"SalesforceClient(instance_url={url!r}, api_version={self.api_version!r}, flow={self.auth.flow!r})"

    # -- session --------------------------------------------------------------------------------

    def connect(self, *, read_limits: bool | None = None) -> bool:
        """Log in and read the org's limits (one call); done lazily by the first request.
        ``read_limits=False`` leaves the limits to :meth:`read_limits`. True if this call logged in."""
        if self._started:
            return False
        with self._start_lock:
            if self._started:
                return False
            self._ensure_token()
            self._started = True
        if self._read_limits_at_start if read_limits is None else read_limits:
            self.read_limits()
        return True

    @property
    def reads_limits_at_start(self) -> bool:
        return self._read_limits_at_start

    def read_limits(self) -> None:
        """The org's daily API figures into the quota governor: from the ``Sforce-Limit-Info``
        header of a response already received (every counted response carries it: no call
        needed), else from ``/limits`` (one call)."""
        if self.quota.daily_max is not None:
            return
        try:
            self.quota.start(self.limits())
        except SalesforceAPIError as exc:
            # Some profiles may not read /limits; every response's Sforce-Limit-Info still feeds
            # the governor, so the daily budget applies from the first call on.
            self.log.warning("Could not read Salesforce /limits (%s); using Sforce-Limit-Info headers only",
                             exc.error_code)

    def _ensure_token(self) -> tuple[Token, int]:
        with self._token_lock:
            if self._token is None:
                if self.auth.flow != "access_token":
                    self._count(self.auth.login_kind)
                self._token = self.auth.authenticate()
                self._token_generation += 1
            return self._token, self._token_generation

    def _renew(self, generation: int) -> None:
        """Replace the session refused under ``generation``; threads racing here renew once."""
        with self._token_lock:
            if generation != self._token_generation:
                return  # another thread already renewed
            self.log.info("Salesforce session expired or was revoked; logging in again (%s flow)", self.auth.flow)
            self._count(self.auth.login_kind if self.auth.flow != "access_token" else "oauth")
            self._token = self.auth.renew()
            self._token_generation += 1

    @property
    def token(self) -> Token:
        return self._ensure_token()[0]

    @property
    def instance_url(self) -> str:
        return self.token.instance_url

    # -- calls ----------------------------------------------------------------------------------

    def _count(self, kind: str) -> None:
        with self._calls_lock:
            self.calls[kind] += 1

    def calls_snapshot(self) -> dict[str, int]:
        with self._calls_lock:
            return dict(self.calls)

    def url(self, path: str) -> str:
        """Absolute URL: full URLs as given, ``/services/...`` on the instance, else relative to
        ``/services/data/vNN.0/``."""
        if path.startswith(("http://", "https://")):
            return path
        if path.startswith("/services/"):
            return self.instance_url + path
        return f"{self.instance_url}/services/data/v{self.api_version}/{path.lstrip('/')}"

    def pause_before_resend(self) -> None:
        """The first backoff wait: before a subrequest refused inside a Composite goes again alone."""
        time.sleep(self.retry_policy.backoff(0, jitter=random.random()))

    def request(
        self,
        method: str,
        path: str,
        *,
        kind: str,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        ok_statuses: tuple[int, ...] = (),
        retry_ambiguous: bool = True,
        timeout: float | None = None,
    ) -> requests.Response:
        """Send one logical call (retried as needed) and return the response.

        Raises :class:`SalesforceAPIError` for 4xx (unless in ``ok_statuses``),
        :class:`~.errors.QuotaExhausted` for our budget or ``REQUEST_LIMIT_EXCEEDED``,
        :class:`AuthenticationError` when the session cannot be renewed and
        :class:`TransportError` when retries are spent.
        """
        self.connect()
        method = method.upper()
        url = self.url(path)
        attempt = 0
        renewals = 0
        while True:
            token, generation = self._ensure_token()
            self.quota.before_call(kind)
            self._count(kind)
            send_headers = {"Authorization": f"Bearer {token.access_token}"}
            if headers:
                send_headers.update(headers)
            try:
                with self._in_flight:
                    resp = self.session.request(method, url, params=params, json=json, data=data,
                                                headers=send_headers, timeout=timeout or self.timeout)
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
                decision = self.retry_policy.classify(None, None, attempt, create=not retry_ambiguous,
                                                      not_sent=_not_sent(exc), jitter=random.random())
                if decision.retry:
                    self.log.warning("Salesforce %s %s: %s; retry %d/%d", method, _path(url),
                                     type(exc).__name__, attempt + 1, self.max_retries)
                    time.sleep(decision.wait)
                    attempt += 1
                    continue
                raise TransportError(
                    f"Salesforce {method} {_path(url)} failed after {attempt + 1} attempt(s): {type(exc).__name__}"
                    + (" (not resent: the request may have been applied)" if decision.action is Action.NOT_RESENT
                       else "")
                ) from None
            self.quota.observe(resp.headers.get("Sforce-Limit-Info"))
            status = resp.status_code
            if status < 300 or status in ok_statuses:
                return resp
            errors = parse_error_body(_json_or_none(resp))
            code = errors[0].get("errorCode") if errors else None
            decision = self.retry_policy.classify(status, code, attempt, create=not retry_ambiguous,
                                                  retry_after=resp.headers.get("Retry-After"), renewals=renewals,
                                                  jitter=random.random())
            if status == 401:
                if not self.auth.can_renew:
                    self.auth.renew()  # raises a clear AuthenticationError
                # One renewal per refused session: a session renewed for this call and then revoked
                # again (admins, token rotation) may be renewed again, but not without end.
                if decision.action is not Action.RENEW_SESSION:
                    raise AuthenticationError(
                        f"Salesforce refused {renewals + 1} sessions in a row for {method} {_path(url)} "
                        f"(HTTP 401 {code or ''}); check the user's API access.",
                        error=code, flow=self.auth.flow, status=401,
                    )
                self._renew(generation)
                renewals += 1
                continue
            if decision.action is Action.QUOTA_EXHAUSTED:
                raise self.quota.limit_exceeded(errors[0].get("message", ""))
            if decision.retry:
                self.log.warning("Salesforce %s %s answered HTTP %d; retry %d/%d", method, _path(url), status,
                                 attempt + 1, self.max_retries)
                time.sleep(decision.wait)
                attempt += 1
                continue
            if decision.action in (Action.GIVE_UP, Action.NOT_RESENT):
                raise TransportError(
                    f"Salesforce {method} {_path(url)} answered HTTP {status} {code or ''} "
                    f"after {attempt + 1} attempt(s)".rstrip()
                )
            raise SalesforceAPIError(method, url, status, errors, _json_or_none(resp))

    # -- conveniences ---------------------------------------------------------------------------

    def query_all(self, soql: str, *, include_deleted: bool = False) -> Iterator[dict[str, Any]]:
        """Every record of ``soql``, page after page (``nextRecordsUrl``).

        Statements too long for a URL go through the Composite API (one call, same results).
        """
        resource = "queryAll" if include_deleted else "query"
        page = self._first_page(resource, soql)
        while True:
            yield from page.get("records") or []
            next_url = page.get("nextRecordsUrl")
            if page.get("done", True) or not next_url:
                return
            page = self.request("GET", next_url, kind="query_more").json()

    def query(self, soql: str, *, include_deleted: bool = False) -> list[dict[str, Any]]:
        return list(self.query_all(soql, include_deleted=include_deleted))

    def query_many(self, statements: Sequence[str]) -> list[list[dict[str, Any]]]:
        """Every record of each statement, in statement order. First pages go through the
        :class:`~.bundling.QueryBundler`: up to five statements per Composite call (one counted
        call), the statements of concurrent callers sharing calls; later pages follow as
        ``query_more`` GETs, up to ``max_concurrency`` at once. Every statement finishes before the
        first failure is raised (no read is left running)."""
        statements = list(statements)
        if not statements:
            return []
        if self.pool.inside():
            return [self.query(s) for s in statements]  # already on the pool: never wait on it
        self.connect()
        futures = self._query_bundler().submit(statements)
        pages: list[dict[str, Any] | None] = []
        first_error: BaseException | None = None
        for f in futures:
            try:
                pages.append(f.result())
            except BaseException as exc:  # re-raised once every read is done
                first_error = first_error or exc
                pages.append(None)
        more = {i: self.pool.submit(self._rest_of, page) for i, page in enumerate(pages)
                if page is not None and not page.get("done", True) and page.get("nextRecordsUrl")}
        out: list[list[dict[str, Any]]] = []
        for i, page in enumerate(pages):
            rows = list((page or {}).get("records") or [])
            if i in more:
                try:
                    rows += more[i].result()
                except BaseException as exc:
                    first_error = first_error or exc
            out.append(rows)
        if first_error is not None:
            raise first_error
        return out

    def together(self, fn: Callable[..., T]) -> Callable[..., T]:
        """``fn`` (which reads through :meth:`query_many`, or returns without reading) announced
        as one of several readers started at once: their statements share Composite calls even
        when one takes longer to build its statements than the bundler's gather window. Wrap
        each reader before starting any of them."""
        return self._query_bundler().reader(fn)

    def _rest_of(self, page: dict[str, Any]) -> list[dict[str, Any]]:
        """The records of the pages after ``page`` (``nextRecordsUrl``)."""
        rows: list[dict[str, Any]] = []
        while not page.get("done", True) and page.get("nextRecordsUrl"):
            page = self.request("GET", page["nextRecordsUrl"], kind="query_more").json()
            rows += page.get("records") or []
        return rows

    def _query_bundler(self) -> QueryBundler:
        with self._readers_lock:
            if self._bundler is None:
                self._bundler = QueryBundler(self, pool=self.pool)
            return self._bundler

    def _first_page(self, resource: str, soql: str) -> dict[str, Any]:
        query_string = urlencode({"q": soql})
        if len(self.url(resource)) + 1 + len(query_string) <= MAX_GET_URL_BYTES:
            return self.request("GET", resource, kind="query", params={"q": soql}).json()
        sub_url = f"/services/data/v{self.api_version}/{resource}?{query_string}"
        body = {"allOrNone": False,
                "compositeRequest": [{"method": "GET", "url": sub_url, "referenceId": "longQuery"}]}
        resp = self.request("POST", "composite", kind="composite", json=body)
        sub = (resp.json().get("compositeResponse") or [{}])[0]
        if sub.get("httpStatusCode") != 200:
            raise SalesforceAPIError("GET", self.url(resource), int(sub.get("httpStatusCode") or 400),
                                     parse_error_body(sub.get("body")), sub.get("body"))
        return sub.get("body") or {}

    def describe(self, sobject: str) -> dict[str, Any]:
        """``/sobjects/{sobject}/describe``, fetched once per client (= per run)."""
        key = sobject.lower()
        with self._describe_lock:
            cached = self._describe_cache.get(key)
        if cached is not None:
            return cached
        result = self.request("GET", f"sobjects/{sobject}/describe", kind="describe").json()
        with self._describe_lock:
            self._describe_cache.setdefault(key, result)
            return self._describe_cache[key]

    def describe_many(self, sobjects: list[str], *, along: Sequence[Mapping[str, Any]] = (),
                      answers: list[dict[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
        """Describe several objects, the uncached ones in one Composite call (``MAX_SUBREQUESTS`` a
        call) instead of one call each; cached like :meth:`describe`. Returns those described: one
        the Composite could not answer is left out, for :meth:`describe` to raise where needed.
        ``along``: other subrequests (with their own reference ids) sent in the first call, their
        answers appended to ``answers`` in order: reads that need no describe cost no call of their own."""
        with self._describe_lock:
            missing = list(dict.fromkeys(s for s in sobjects if s.lower() not in self._describe_cache))
        extra = list(along)
        start = 0
        while missing[start:] or extra:
            part = missing[start:start + MAX_SUBREQUESTS - len(extra)]
            start += len(part)
            body = {"allOrNone": False, "compositeRequest": [
                {"method": "GET", "url": f"/services/data/v{self.api_version}/sobjects/{s}/describe",
                 "referenceId": f"describe{i}"} for i, s in enumerate(part)] + [dict(e) for e in extra]}
            subs = self.request("POST", "composite", kind="composite", json=body).json().get(
                "compositeResponse") or []
            if extra and answers is not None:
                answers.extend(subs[len(part):len(part) + len(extra)])
            extra = []
            for sobject, sub in zip(part, subs, strict=False):
                if sub.get("httpStatusCode") != 200 or not isinstance(sub.get("body"), dict):
                    continue
                with self._describe_lock:
                    self._describe_cache.setdefault(sobject.lower(), sub.get("body") or {})
        with self._describe_lock:
            return {s: self._describe_cache[s.lower()] for s in sobjects if s.lower() in self._describe_cache}

    def forget_describe(self, sobject: str | None = None) -> None:
        with self._describe_lock:
            if sobject is None:
                self._describe_cache.clear()
            else:
                self._describe_cache.pop(sobject.lower(), None)

    def limits(self) -> dict[str, Any]:
        result = self.request("GET", "limits", kind="limits").json()
        return result

    def versions(self) -> list[dict[str, Any]]:
        return self.request("GET", "/services/data/", kind="versions").json()

    def picklist_values(self, sobject: str, record_type_id: str) -> dict[str, Any]:
        """The UI API's picklist values of every picklist field of ``sobject`` for one record type."""
        return self.request("GET", f"ui-api/object-info/{sobject}/picklist-values/{record_type_id}",
                            kind="ui_api").json()

    def record_link(self, record_id: str) -> str:
        return f"{self.instance_url}/{record_id}"

    def close(self) -> None:
        with self._readers_lock:
            bundler, self._bundler = self._bundler, None
        if bundler is not None:
            bundler.close()
        if self._owns_pool:
            self.pool.close()
        self.session.close()

    def __enter__(self) -> SalesforceClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _json_or_none(resp: requests.Response) -> Any:
    try:
        return resp.json()
    except ValueError:
        return None


def _path(url: str) -> str:
    return url.split("?", 1)[0]


def _not_sent(exc: BaseException) -> bool:
    """True when the request certainly never reached the server (safe to resend anything)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        name = type(cur).__name__
        if name in ("NewConnectionError", "ConnectionRefusedError", "NameResolutionError"):
            return True
        reason = getattr(cur, "reason", None)
        if isinstance(reason, BaseException):
            cur = reason
            continue
        nxt = cur.args[0] if cur.args and isinstance(cur.args[0], BaseException) else None
        cur = nxt or cur.__cause__ or cur.__context__
    return False


__all__ = ["SalesforceClient", "register_secrets"]
