"""``tap-andsend``: the Singer tap class and its settings."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

from singer_sdk import Tap
from singer_sdk import typing as th
from singer_sdk.exceptions import FatalAPIError

from tap_andsend.client import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_PAGE_SIZE,
    DEFAULT_TIMEOUT_SECONDS,
    AndsendUnavailable,
)
from tap_andsend.output import FastSingerWriter
from tap_andsend.streams import STREAM_TYPES, UsersStream
from tap_andsend.users import UserDirectory
from target_salesforce_andsend.salesforce.redact import install_for_plugin


class TapAndsend(Tap):
    """Singer tap for the Andsend prospecting and outreach API."""

    name = "tap-andsend"
    # The distribution that carries this tap (for --version and the default User-Agent).
    package_name = "andsend-salesforce-connectors"
    # Same Singer lines as the SDK's writer, through the stdlib's C encoder (see output.py).
    message_writer_class = FastSingerWriter

    config_jsonschema = th.PropertiesList(
        th.Property(
            "api_url",
            th.URIType,
            required=True,
            title="API URL",
            description=(
                "Base URL of the Andsend API, with or without the trailing /v1 "
                "(e.g. https://api.andsend.com, or the URL printed by `andsend-emulators andsend`)."
            ),
            examples=["https://api.andsend.com", "http://127.0.0.1:8001"],
        ),
        th.Property(
            "api_key",
            th.StringType(min_length=1),
            required=True,
            secret=True,
            title="API key",
            description="Andsend API key, sent as a Bearer token. Never logged.",
        ),
        th.Property(
            "start_date",
            th.DateTimeType,
            title="Start date",
            description=(
                "Only records updated at or after this instant are synced when a stream has no "
                "bookmark yet. Empty: everything."
            ),
        ),
        th.Property(
            "page_size",
            th.IntegerType(minimum=1, maximum=1000),
            default=DEFAULT_PAGE_SIZE,
            title="Page size",
            description="Records per API page (1-1000). A STATE message is emitted after every full page.",
        ),
        th.Property(
            "purchased_only",
            th.BooleanType,
            default=False,
            title="Purchased prospects only",
            description="Sync only purchased prospects (the ones a CRM needs) in the prospects stream.",
        ),
        th.Property(
            "request_timeout",
            th.IntegerType(minimum=1),
            default=DEFAULT_TIMEOUT_SECONDS,
            title="Request timeout",
            description="Seconds to wait for each HTTP response before retrying.",
        ),
        th.Property(
            "max_retries",
            th.IntegerType(minimum=0, maximum=20),
            default=DEFAULT_MAX_RETRIES,
            title="Max retries",
            description=(
                "Retries per request on 429 (waiting Retry-After), 5xx and connection errors "
                "(exponential backoff with jitter). 401/403 are never retried."
            ),
        ),
        th.Property(
            "user_agent",
            th.StringType,
            title="User agent",
            description="User-Agent header. Default: tap-andsend/<version>.",
        ),
    ).to_dict()

    def __init__(self, *args: object, **kwargs: object) -> None:
        # Before the SDK validates (and may quote) the config, and before any request: the API key
        # is masked in every log line, and http.client's wire debugging (print() to stdout, the
        # Singer channel) goes to the redacted log instead.
        install_for_plugin(kwargs.get("config"), env_prefix="TAP_ANDSEND_")
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._user_directory: UserDirectory | None = None

    @property
    def user_directory(self) -> UserDirectory:
        """The run's cached user id -> email map (built on first use)."""
        if self._user_directory is None:
            self._user_directory = UserDirectory(self._list_all_users)
        return self._user_directory

    def _list_all_users(self) -> Iterator[dict]:
        lister = UsersStream(tap=self)
        lister.full_scan = True
        yield from lister.request_records(context=None)

    def sync_all(self) -> None:
        try:
            super().sync_all()
        except (AndsendUnavailable, FatalAPIError) as exc:
            # One line naming what to fix. The exception still propagates (callers in-process see
            # it; the process exits 1), but the SDK's excepthook would log it again with its
            # traceback: for this one failure, the traceback goes to debug level instead.
            self.logger.error("%s", str(exc).split("\n", 1)[0])
            previous, failure = sys.excepthook, exc

            def quiet(kind: type[BaseException], value: BaseException, tb: Any) -> None:
                if value is failure:
                    self.logger.debug("Traceback of the failure above:", exc_info=(kind, value, tb))
                else:
                    previous(kind, value, tb)

            sys.excepthook = quiet
            raise

    def discover_streams(self) -> list[UsersStream]:
        return [stream_type(tap=self) for stream_type in STREAM_TYPES]  # type: ignore[misc]


if __name__ == "__main__":
    TapAndsend.cli()
