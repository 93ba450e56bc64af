"""The signed-in Salesforce org as the setup page sees it: who is connected, and describe data."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ..salesforce.client import SalesforceClient
from ..salesforce.soql import chunked_in_queries, soql

OBJECTS = ("Lead", "Contact", "Account")
CONNECTION_KEYS = ("auth_flow", "client_id", "client_secret", "refresh_token", "username", "password",
                   "security_token", "private_key", "private_key_path", "jwt_audience", "access_token",
                   "instance_url", "domain", "login_url", "api_version", "request_timeout")


def connection_settings(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k in CONNECTION_KEYS and v not in (None, "")}


@dataclass
class Org:
    """One live connection: the client, who signed in, and the describes read through it."""

    settings: dict[str, Any]            # the connection settings it was made with
    how: str                            # "oauth" (this page) or "settings" (the project's own)
    client: SalesforceClient
    instance_url: str = ""
    org_id: str = ""
    user_id: str = ""
    user_name: str = ""
    username: str = ""
    describes: dict[str, dict] = field(default_factory=dict)
    read_at: str = ""                   # when the describes were read (UTC, for the page)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def connect(cls, settings: dict[str, Any], *, how: str) -> Org:
        client = SalesforceClient({**connection_settings(settings), "max_retries": 2, "retry_backoff_seconds": 0.5},
                                  read_limits_at_start=False)
        try:
            token = client.token
            org = cls(settings=connection_settings(settings), how=how, client=client,
                      instance_url=token.instance_url, org_id=token.org_id or "", user_id=token.user_id or "")
            if org.user_id:
                rows = client.query(soql("SELECT Name, Username FROM User WHERE Id = {}", org.user_id))
                if rows:
                    org.user_name, org.username = rows[0].get("Name") or "", rows[0].get("Username") or ""
            org.refresh()
        except Exception:
            client.close()
            raise
        return org

    def refresh(self) -> dict[str, dict]:
        """Describe Lead, Contact and Account afresh (one Composite call), so a field an admin has
        just created appears at once."""
        with self._lock:
            self.client.forget_describe()
            self.describes = self.client.describe_many(list(OBJECTS))
            self.read_at = datetime.now(timezone.utc).strftime("%H:%M:%S UTC")
            return self.describes

    def user_names(self, ids: set[str]) -> dict[str, str]:
        """User Id -> "Name (Username)" in as few queries as the ids need."""
        out: dict[str, str] = {}
        for statement in chunked_in_queries("SELECT Id, Name, Username FROM User WHERE", "Id", sorted(ids)):
            for row in self.client.query(statement):
                out[row["Id"]] = f"{row.get('Name') or ''} ({row.get('Username') or ''})".strip()
                out[row["Id"][:15]] = out[row["Id"]]
        return out

    def active_user_by_email(self, email: str) -> str | None:
        rows = self.client.query(soql("SELECT Id FROM User WHERE Email = {} AND IsActive = true LIMIT 1", email))
        return rows[0]["Id"] if rows else None

    def close(self) -> None:
        self.client.close()
