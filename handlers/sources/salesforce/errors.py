"""Salesforce failures translated, in this one place, into Reef's transient and terminal errors.

Error codes are the ones the REST API documents in its error bodies
(https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/errorcodes.htm)
and the SOAP login faults. Messages name the object or field and say what to change; they
never carry a secret or a record's values.
"""

from typing import Any

import requests
from simple_salesforce.exceptions import SalesforceAuthenticationFailed, SalesforceError

from handlers.errors import TerminalError, TransientError


class ApiLimitReached(TransientError):
    """The org's API budget is spent (REQUEST_LIMIT_EXCEEDED, or above the spec's share).

    The reader turns this into a checkpoint and a long wait, not a failed batch.
    """


class QueryLocatorExpired(TransientError):
    """A REST query cursor (nextRecordsUrl) expired; the reader re-queries from its keyset."""


class QueryTimedOut(TransientError):
    """Salesforce gave up on a query; a smaller window may succeed."""


_TRANSIENT_CODES = {
    "SERVER_UNAVAILABLE",
    "UNABLE_TO_LOCK_ROW",
    "REQUEST_RUNNING_TOO_LONG",
    "TXN_SECURITY_METERING_ERROR",
    "CONCURRENT_REQUESTS_LIMIT_EXCEEDED",
}
_PERMISSION_CODES = {
    "INSUFFICIENT_ACCESS",
    "INSUFFICIENT_ACCESS_OR_READONLY",
    "API_DISABLED_FOR_ORG",
    "API_CURRENTLY_DISABLED",
    "FUNCTIONALITY_NOT_ENABLED",
}


def error_code(exc: SalesforceError) -> tuple[str, str]:
    """The first errorCode and message of a REST error body ([{errorCode, message}])."""
    content: Any = exc.content
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return str(content[0].get("errorCode", "")), str(content[0].get("message", ""))
    if isinstance(content, dict):
        return str(content.get("errorCode", "")), str(content.get("message", ""))
    return "", str(content)[:300]


def login_failed(exc: SalesforceAuthenticationFailed, how: str) -> TerminalError:
    """A refused login, with what to check for the flow that was tried."""
    return TerminalError(
        f"Salesforce refused the {how} login ({exc.code}: {exc.auth_message}); check the"
        " credentials in the connector's secret, the domain (login or test) and, for a"
        " connected app, that the user is pre-authorized"
    )


def translate(exc: Exception, obj: str, doing: str) -> Exception:
    """The Reef error for a failure while `doing` something with object `obj`."""
    if isinstance(exc, TransientError | TerminalError):
        return exc
    if isinstance(exc, SalesforceAuthenticationFailed):
        return login_failed(exc, "renewed")
    if isinstance(exc, SalesforceError):
        return _from_response(exc, obj, doing)
    if isinstance(exc, requests.Timeout | requests.ConnectionError):
        return TransientError(f"Salesforce did not answer while {doing} {obj}: {exc}")
    return exc


def _from_response(exc: SalesforceError, obj: str, doing: str) -> Exception:  # noqa: PLR0911
    code, message = error_code(exc)
    where = f"while {doing} {obj}"
    if code == "REQUEST_LIMIT_EXCEEDED":
        return ApiLimitReached(f"the org's API request limit is reached {where}: {message}")
    if code == "INVALID_QUERY_LOCATOR":
        return QueryLocatorExpired(f"the query cursor expired {where}")
    if code == "QUERY_TIMEOUT":
        return QueryTimedOut(f"Salesforce timed out the query {where}: {message}")
    if code == "INVALID_SESSION_ID":
        return TerminalError(
            f"Salesforce rejected a fresh session {where}; check that the user has the"
            " 'API Enabled' permission and that the org allows logins from this network"
        )
    if code == "INVALID_FIELD":
        return TerminalError(
            f"{message} ({where}); remove the field from the spec's 'fields' or grant the"
            " user field-level read access to it"
        )
    if code in ("INVALID_TYPE", "NOT_FOUND") or exc.status == 404:
        return TerminalError(
            f"object {obj} is not available to the connector's user ({code or exc.status}"
            f" {where}); check the object's API name and grant the user read permission"
        )
    if code in _PERMISSION_CODES or exc.status == 403:
        return TerminalError(
            f"Salesforce refused access {where} ({code}: {message}); grant the user read"
            " access to the object and the 'API Enabled' permission"
        )
    if code in _TRANSIENT_CODES or exc.status >= 500:
        return TransientError(f"Salesforce failed {where} ({code or exc.status}); will retry")
    return TerminalError(f"Salesforce refused a request {where} ({code}: {message})")
