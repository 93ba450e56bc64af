"""Base stream for the Andsend REST API: auth, pagination, incremental params, retries."""

from __future__ import annotations

import logging
import sys
from collections.abc import Generator, Iterable, Iterator
from datetime import datetime, timezone
from functools import cached_property
from http import HTTPStatus
from typing import Any
from urllib.parse import urlparse

import backoff
import msgspec
import requests
from singer_sdk.authenticators import BearerTokenAuthenticator
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError
from singer_sdk.helpers._util import utc_now
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.helpers.jsonpath import extract_jsonpath
from singer_sdk.helpers.types import Context
from singer_sdk.pagination import BaseAPIPaginator, JSONPathPaginator
from singer_sdk.schema.source import SchemaDirectory, StreamSchema
from singer_sdk.singerlib import RecordMessage
from singer_sdk.streams import RESTStream

from tap_andsend import retry
from tap_andsend.schemas import schemas_dir

API_PREFIX = "/v1"
DEFAULT_PAGE_SIZE = 500
DEFAULT_TIMEOUT_SECONDS = 60
DEFAULT_MAX_RETRIES = 5


class AndsendUnavailable(Exception):
    """The Andsend API could not be reached or kept failing: one clear line, naming the setting."""


RETRIABLE = (ConnectionResetError, RetriableAPIError, requests.exceptions.Timeout,
             requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError,
             requests.exceptions.ContentDecodingError)


class AndsendAuthError(FatalAPIError):
    """The API refused our credentials: retrying cannot help."""


def api_base(api_url: str) -> str:
    """``https://host[:port]`` + ``/v1``, accepting the URL with or without ``/v1`` and slashes."""
    base = api_url.strip().rstrip("/")
    if base.endswith(API_PREFIX):
        base = base[: -len(API_PREFIX)]
    return base + API_PREFIX


def format_timestamp(value: datetime) -> str:
    """RFC 3339 in UTC with a ``Z`` suffix, microseconds kept (bookmarks are exact)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


_BODY_ATTR = "_andsend_body"
_decode_json = msgspec.json.Decoder().decode


def response_body(response: requests.Response) -> Any:
    """The decoded JSON body, decoded once per response (records and cursor share it)."""
    body = response.__dict__.get(_BODY_ATTR, _BODY_ATTR)
    if body is _BODY_ATTR:
        # msgspec straight from bytes: several times faster than requests' text + json path.
        try:
            body = _decode_json(response.content)
        except msgspec.DecodeError as exc:
            raise FatalAPIError(
                f"Andsend answered {response.status_code} for {urlparse(response.url).path} "
                f"with a body that is not JSON ({exc})"
            ) from exc
        setattr(response, _BODY_ATTR, body)
    return body


class NextCursorPaginator(JSONPathPaginator):
    """``JSONPathPaginator("$.next_cursor")`` reading the body parse_response already decoded."""

    def __init__(self) -> None:
        super().__init__("$.next_cursor")

    def get_next(self, response: requests.Response) -> str | None:
        return next(extract_jsonpath(self._jsonpath, response_body(response)), None)


class AndsendStream(RESTStream[str]):
    """One list endpoint of ``/v1``: sorted by (updated_at, id), cursor-paginated."""

    primary_keys = ("id",)
    replication_key = "updated_at"
    # The API sorts by (updated_at, id), so the bookmark of the last record emitted is a
    # safe resume point: a run killed mid-stream restarts from its last STATE.
    is_sorted = True
    # Values arrive from the JSON body already as the JSON types the schemas declare (the
    # tests validate every emitted record against them), so the SDK's per-property type
    # conformance is pure overhead: about a quarter of the tap's CPU per record.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    # <stream name>.json from the shipped schemas directory.
    schema = StreamSchema(SchemaDirectory(schemas_dir()))
    # When set, list everything regardless of state/start_date (the users lookup).
    full_scan = False
    # Whether the catalog selects every property, and for which selection mask (see below).
    _all_selected = False
    _all_selected_for: object = None

    # --- request building -------------------------------------------------------------

    @property
    def url_base(self) -> str:
        return api_base(self.config["api_url"])

    @cached_property
    def authenticator(self) -> BearerTokenAuthenticator:
        return BearerTokenAuthenticator(token=self.config["api_key"])

    @cached_property
    def page_size(self) -> int:
        return int(self.config.get("page_size") or DEFAULT_PAGE_SIZE)

    @cached_property
    def STATE_MSG_FREQUENCY(self) -> int:  # type: ignore[override]
        # One STATE per full page: a killed run loses at most one page of progress.
        return self.page_size

    @property
    def timeout(self) -> int:
        return int(self.config.get("request_timeout") or DEFAULT_TIMEOUT_SECONDS)

    @cached_property
    def user_agent(self) -> str:
        configured = self.config.get("user_agent")
        if configured:
            return str(configured)
        return f"tap-andsend/{self._tap.plugin_version}"

    def get_new_paginator(self) -> BaseAPIPaginator[str]:
        return NextCursorPaginator()

    def get_url_params(self, context: Context | None, next_page_token: str | None) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": self.page_size}
        if not self.full_scan:
            start = self.get_starting_timestamp(context)
            if start is not None:
                # Sent on every page: the cursor positions within the same filtered listing.
                params["updated_since"] = format_timestamp(start)
        if next_page_token:
            params["cursor"] = next_page_token
        return params

    # --- output ---------------------------------------------------------------------------

    def _generate_record_messages(self, record: dict[str, Any]) -> Iterator[RecordMessage]:
        # Mirrors singer-sdk 0.54's Stream._generate_record_messages minus two steps that are
        # no-ops here yet cost CPU on every record (README, "Throughput"): pop_deselected_record_properties
        # when the catalog deselects nothing (every lookup would answer "selected"), and type
        # conformance, which TYPE_CONFORMANCE_LEVEL.NONE turns off anyway. Any deselection: the
        # SDK's own code path.
        mask = self.mask
        if self._all_selected_for is not mask:
            self._all_selected = all(mask.values())
            self._all_selected_for = mask
        if not self._all_selected or self.TYPE_CONFORMANCE_LEVEL is not TypeConformanceLevel.NONE:
            yield from super()._generate_record_messages(record)
            return
        for stream_map in self.stream_maps:
            mapped_record = stream_map.transform(record)
            if mapped_record is not None:  # None: filtered out by a stream map
                yield RecordMessage(
                    stream=stream_map.stream_alias,
                    record=mapped_record,
                    version=self._stream_version,
                    time_extracted=utc_now(),
                )

    # --- responses --------------------------------------------------------------------

    def parse_response(self, response: requests.Response) -> Iterable[dict]:
        # The body is {"data": [...], "next_cursor": ...}; a plain dict lookup is several
        # times cheaper per record than the SDK's JSONPath + Decimal parsing.
        body = response_body(response)
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list):
            raise FatalAPIError(
                f"Unexpected response from {urlparse(response.url).path}: no 'data' list in the body"
            )
        yield from data

    def validate_response(self, response: requests.Response) -> None:
        status = response.status_code
        if status in (HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN):
            problem = _problem_detail(response)
            what = (
                "missing or invalid"
                if status == HTTPStatus.UNAUTHORIZED
                else "not allowed to read this resource"
            )
            raise AndsendAuthError(
                f"Andsend API rejected the API key ({status} {response.reason}) for "
                f"{urlparse(response.url).path}: the api_key setting is {what}. Check the key "
                f"configured for tap-andsend (setting 'api_key' / env TAP_ANDSEND_API_KEY)."
                + (f" Server said: {problem}" if problem else "")
            )
        super().validate_response(response)

    def response_error_message(self, response: requests.Response) -> str:
        # Path only (never the query string); the problem detail, not the whole body.
        path = urlparse(response.url).path or self.path
        problem = _problem_detail(response)
        msg = f"{response.status_code} {response.reason} for {path}"
        return f"{msg}: {problem}" if problem else msg

    # --- retries ----------------------------------------------------------------------

    def log(self, message: str, *args: Any, level: int = logging.INFO, **kwargs: Any) -> None:
        # The SDK logs "An unhandled error occurred while syncing" before re-raising; for an
        # unavailable API the tap logs one line saying what to fix instead (TapAndsend.sync_all).
        if level == logging.ERROR and message.startswith("An unhandled error") and \
                isinstance(sys.exc_info()[1], AndsendUnavailable):
            level = logging.DEBUG
        super().log(message, *args, level=level, **kwargs)

    def request_decorator(self, func: Any) -> Any:
        """The SDK's retry loop, without backoff's own log lines (they print the raw urllib3
        error with the query string): ``backoff_handler`` logs each retry, and a request that
        fails for good raises :class:`AndsendUnavailable` with one clear message."""
        retrying = backoff.on_exception(self.backoff_wait_generator, RETRIABLE, max_tries=self.backoff_max_tries,
                                        on_backoff=self.backoff_handler, jitter=self.backoff_jitter, logger=None)(func)

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return retrying(*args, **kwargs)
            except RETRIABLE as exc:
                raise AndsendUnavailable(self._unavailable_message(exc)) from exc

        return call

    def _unavailable_message(self, exc: BaseException) -> str:
        host = urlparse(self.url_base).netloc or self.url_base
        if isinstance(exc, RetriableAPIError):
            cause = str(exc).split("\n", 1)[0]  # status and path only (response_error_message)
        else:
            cause = type(exc).__name__
        return (f"Andsend API at {host} failed for {self.path} after {self.backoff_max_tries()} attempt(s): "
                f"{cause}. Check the api_url setting (TAP_ANDSEND_API_URL) and the network, then rerun: "
                "the tap resumes from its last state.")

    def backoff_wait_generator(self) -> Generator[float, Any, None]:
        return retry.wait_generator()

    def backoff_jitter(self, value: float) -> float:
        # retry.wait_generator already jitters; the SDK's default would add up to 1 s more.
        return value

    def backoff_max_tries(self) -> int:
        retries = self.config.get("max_retries")
        return 1 + (DEFAULT_MAX_RETRIES if retries is None else int(retries))

    def backoff_handler(self, details: Any) -> None:
        exc = details.get("exception")
        if isinstance(exc, RetriableAPIError) and exc.response is not None:
            cause = f"HTTP {exc.response.status_code}"
        else:
            cause = type(exc).__name__ if exc is not None else "unknown error"
        self.log(
            "Retrying %s in %.2f s after attempt %d failed (%s)",
            self.path,
            details.get("wait") or 0.0,
            details.get("tries") or 0,
            cause,
            level=logging.WARNING,
        )


def _problem_detail(response: requests.Response) -> str:
    """``title: detail`` of an RFC 9457 problem body, or a short excerpt of any other body."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200].strip()
    if isinstance(body, dict):
        parts = [str(body[k]) for k in ("title", "detail") if body.get(k)]
        if parts:
            return ": ".join(parts)
    return str(body)[:200]
