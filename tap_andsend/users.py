"""User id -> email lookup, so prospects and touchpoints carry the seller's email.

A CRM target assigns owners by email, and Andsend records only reference the user id.
The directory lists ``/v1/users`` once per run (one paginated pass, ignoring bookmarks so
unchanged users are known too) and caches it. An id not found triggers at most one more
pass per run, for users created while the run is going on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

logger = logging.getLogger(__name__)


class UserDirectory:
    """Lazily built ``{user_id: email}`` map around a function that lists every user."""

    def __init__(self, list_users: Callable[[], Iterable[dict]]) -> None:
        self._list_users = list_users
        self._emails: dict[str, str | None] | None = None
        self._refreshed_on_miss = False
        self.passes = 0

    def _load(self) -> dict[str, str | None]:
        self.passes += 1
        emails = {str(u["id"]): u.get("email") for u in self._list_users() if u.get("id") is not None}
        self._emails = emails
        return emails

    def email_for(self, user_id: str | None) -> str | None:
        if user_id is None:
            return None
        emails = self._emails if self._emails is not None else self._load()
        if user_id not in emails and not self._refreshed_on_miss:
            self._refreshed_on_miss = True
            emails = self._load()
        if user_id not in emails:
            logger.warning("Andsend user %s not found in /v1/users; its email is left empty", user_id)
            emails[user_id] = None  # warn once per id
        return emails[user_id]
