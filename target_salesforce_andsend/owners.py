"""Record owners: the Salesforce User whose email equals the purchasing Andsend user's email.

One batched `User.Email IN (...)` query per batch for the emails not seen yet in this run (the
answers, found or not, are cached for the run). Emails compare case-insensitively; only active
users qualify. Several users with the same email: an active one, latest modified, smallest Id.

Sandboxes: creating or refreshing a sandbox appends `.invalid` to every user's email (Salesforce
Help, "Sandbox Setup Considerations"), so a seller `ann@acme.com` is the User `ann@acme.com.invalid`
there. The lookup asks for both spellings and a User whose email ends in `.invalid` matches the
seller's real email. This is safe in production too: `.invalid` is a reserved top-level domain
(RFC 6761) that no real mailbox has. A User with the exact email wins over a `.invalid` one.

The other way (badges): `users_by_id` answers owner ids with the User's name and email, one
batched `Id IN (...)` query for the ids not seen yet in this run; owners the badges' lookups read
along with their records (`note_owners`) are not asked for.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING

from .match_rules import pick
from .normalize import normalize_email
from .salesforce.soql import chunked_in_queries

if TYPE_CHECKING:
    from .salesforce.client import SalesforceClient


SANDBOX_SUFFIX = ".invalid"


class OwnerResolver:
    def __init__(self, client: SalesforceClient):
        self.client = client
        self._cache: dict[str, str | None] = {}
        self.inactive: set[str] = set()  # emails whose only users are inactive (for the report)
        # Two touchpoints batches may resolve the same new emails at once: one asks, the other
        # waits for its answer instead of asking again.
        self._lock = threading.Lock()
        self._users: dict[str, dict[str, str | None] | None] = {}  # owner id -> {name, email} (None: a queue)

    def resolve(self, emails: Iterable[str | None]) -> dict[str, str | None]:
        wanted = {e for e in (normalize_email(x) for x in emails) if e}
        if wanted - self._cache.keys():
            with self._lock:
                self._ask(sorted(wanted - self._cache.keys()))
        return {e: self._cache.get(e) for e in wanted}

    def _ask(self, missing: list[str]) -> None:
        if missing:
            found: dict[str, list[dict]] = {}
            sandbox: dict[str, list[dict]] = {}
            prefix = "SELECT Id, Email, IsActive, LastModifiedDate FROM User WHERE"
            spellings = [*missing, *(f"{e}{SANDBOX_SUFFIX}" for e in missing)]
            for rows in self.client.query_many(list(chunked_in_queries(prefix, "Email", spellings))):
                for row in rows:
                    email = normalize_email(row.get("Email"))
                    if email and email.endswith(SANDBOX_SUFFIX):
                        sandbox.setdefault(email[: -len(SANDBOX_SUFFIX)], []).append(row)
                    elif email:
                        found.setdefault(email, []).append(row)
            for email in missing:
                rows = found.get(email, [])
                active = [r for r in rows if r.get("IsActive") in (True, "true", 1)]
                if not active:  # no User has the exact email: a sandbox copy's may
                    rows = rows + sandbox.get(email, [])
                    active = [r for r in rows if r.get("IsActive") in (True, "true", 1)]
                self._cache[email] = pick(active)["Id"] if active else None
                if rows and not active:
                    self.inactive.add(email)

    def note_owners(self, records: Iterable[dict]) -> None:
        """Owners read with their records (``Owner.Name``, ``Owner.Email``): ``users_by_id`` then
        asks nothing for them. Only User ids (prefix 005) are Users; another owner is a queue."""
        with self._lock:
            for record in records:
                owner_id, owner = record.get("OwnerId"), record.get("Owner")
                if owner_id and isinstance(owner, dict) and owner_id not in self._users:
                    self._users[owner_id] = ({"id": owner_id, "name": owner.get("Name"), "email": owner.get("Email")}
                                             if str(owner_id).startswith("005") else None)

    def users_by_id(self, owner_ids: Iterable[str | None]) -> dict[str, dict[str, str | None] | None]:
        """Owner id -> {"id", "name", "email"} of that User; None for an id that is no User (a queue)."""
        wanted = {i for i in owner_ids if i}
        with self._lock:
            missing = sorted(wanted - self._users.keys())
            if missing:
                found = {}
                for rows in self.client.query_many(list(chunked_in_queries("SELECT Id, Name, Email FROM User WHERE",
                                                                           "Id", missing))):
                    for row in rows:
                        found[row["Id"][:15]] = {"id": row["Id"], "name": row.get("Name"), "email": row.get("Email")}
                for owner_id in missing:
                    self._users[owner_id] = found.get(owner_id[:15])
            return {i: self._users.get(i) for i in wanted}

    def status(self, email: str | None) -> str:
        """`resolved`, `inactive`, `not_found` or `no_email` (after `resolve`)."""
        normalized = normalize_email(email)
        if not normalized:
            return "no_email"
        if self._cache.get(normalized):
            return "resolved"
        return "inactive" if normalized in self.inactive else "not_found"
