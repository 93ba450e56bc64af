"""Exceptions raised by the Salesforce layer.

Messages never carry a secret: they are built from setting *names*, HTTP statuses and
Salesforce's own error codes/messages (which do not echo credentials).
"""

from __future__ import annotations

from typing import Any


class SalesforceError(Exception):
    """Base class for everything the Salesforce layer raises."""


class ConfigurationError(SalesforceError):
    """Settings are missing or contradict each other (raised before any HTTP call)."""


class AuthenticationError(SalesforceError):
    """The OAuth token endpoint refused us, or a session could not be renewed."""

    def __init__(self, message: str, *, error: str | None = None, description: str | None = None,
                 flow: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.error = error
        self.description = description
        self.flow = flow
        self.status = status


class SalesforceAPIError(SalesforceError):
    """A non-retryable error response from the REST API (4xx other than handled ones)."""

    def __init__(self, method: str, url: str, status: int, errors: list[dict[str, Any]], body: Any = None) -> None:
        self.method = method
        self.url = url
        self.status = status
        self.errors = errors
        self.body = body
        first = errors[0] if errors else {}
        code = first.get("errorCode") or first.get("statusCode") or "UNKNOWN_ERROR"
        message = first.get("message") or ""
        self.error_code: str = str(code)
        super().__init__(f"Salesforce {method} {_path_only(url)} failed with HTTP {status}: {code}: {message}")


class TransportError(SalesforceError):
    """The request could not be completed after every retry (network, timeouts, 5xx)."""


class QuotaExhausted(SalesforceError):
    """The run's API budget is spent (or Salesforce answered REQUEST_LIMIT_EXCEEDED).

    Raised *before* the call that would pass the budget, so the batch in progress is not
    half-sent; the next run resumes from the last committed state.
    """

    def __init__(self, message: str, *, used: int | None = None, limit: int | None = None,
                 setting: str | None = None) -> None:
        super().__init__(message)
        self.used = used
        self.limit = limit
        self.setting = setting


def _path_only(url: str) -> str:
    # Query strings can hold SOQL with customer data; the path is enough to say what failed.
    return url.split("?", 1)[0]


def parse_error_body(body: Any) -> list[dict[str, Any]]:
    """Normalise Salesforce error bodies (a JSON array of {message, errorCode, fields}) to a list."""
    if isinstance(body, list):
        return [e for e in body if isinstance(e, dict)]
    if isinstance(body, dict):
        if "errorCode" in body or "message" in body:
            return [body]
        if "error" in body:  # OAuth-style
            return [{"errorCode": body.get("error"), "message": body.get("error_description", "")}]
    return []
