"""The only code in the target that speaks HTTP to Salesforce.

``SalesforceClient`` (session, retries, quota, call counting), ``Writer`` (Collections / Bulk 2.0),
``soql.quote`` (the one literal-escaping function) and the exceptions they raise.
"""

from .auth import Authenticator, Token, choose_flow, resolve_login_url
from .client import SalesforceClient
from .errors import (
    AuthenticationError,
    ConfigurationError,
    QuotaExhausted,
    SalesforceAPIError,
    SalesforceError,
    TransportError,
)
from .quota import QuotaGovernor
from .results import WriteResult
from .writer import Writer

__all__ = [
    "AuthenticationError",
    "Authenticator",
    "ConfigurationError",
    "QuotaExhausted",
    "QuotaGovernor",
    "SalesforceAPIError",
    "SalesforceClient",
    "SalesforceError",
    "Token",
    "TransportError",
    "WriteResult",
    "Writer",
    "choose_flow",
    "resolve_login_url",
]
