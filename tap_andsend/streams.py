"""The five Andsend streams, all incremental on ``updated_at``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tap_andsend.client import AndsendStream

if TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

    from tap_andsend.tap import TapAndsend


class UsersStream(AndsendStream):
    """Andsend users (sellers): ``GET /v1/users``."""

    name = "users"
    path = "/users"


class CampaignsStream(AndsendStream):
    """Outreach campaigns: ``GET /v1/campaigns``."""

    name = "campaigns"
    path = "/campaigns"


class _WithUserEmail(AndsendStream):
    """Adds ``<email_field>`` looked up from ``<user_id_field>`` through the tap's user directory."""

    user_id_field: str
    email_field: str

    def post_process(self, row: dict[str, Any], context: Context | None = None) -> dict[str, Any] | None:
        # Keep an email the API already sent (touchpoints carry one); look up only what is missing.
        if row.get(self.email_field) is None:
            tap: TapAndsend = self._tap  # type: ignore[assignment]
            row[self.email_field] = tap.user_directory.email_for(row.get(self.user_id_field))
        return row


class ProspectsStream(_WithUserEmail):
    """Prospects: ``GET /v1/prospects`` (``purchased=true`` when ``purchased_only``)."""

    name = "prospects"
    path = "/prospects"
    user_id_field = "purchased_by_user_id"
    email_field = "purchased_by_user_email"

    def get_url_params(self, context: Context | None, next_page_token: str | None) -> dict[str, Any]:
        params = super().get_url_params(context, next_page_token)
        if self.config.get("purchased_only"):
            params["purchased"] = "true"
        return params


class SearchResultsStream(AndsendStream):
    """Results of saved prospect searches: ``GET /v1/search-results``."""

    name = "search_results"
    path = "/search-results"


class TouchpointsStream(_WithUserEmail):
    """Executed outreach steps (emails, LinkedIn actions): ``GET /v1/touchpoints``."""

    name = "touchpoints"
    path = "/touchpoints"
    user_id_field = "user_id"
    email_field = "user_email"


STREAM_TYPES: tuple[type[AndsendStream], ...] = (
    UsersStream,
    CampaignsStream,
    ProspectsStream,
    SearchResultsStream,
    TouchpointsStream,
)
