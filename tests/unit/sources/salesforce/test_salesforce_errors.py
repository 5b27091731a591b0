"""Salesforce error bodies become transient or terminal Reef errors that say what to fix."""

import pytest
import requests
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceRefusedRequest

from handlers.errors import TerminalError, TransientError
from handlers.sources.salesforce.errors import ApiLimitReached, QueryTimedOut, translate


def refused(status, code, message="details"):
    kind = SalesforceRefusedRequest if status == 403 else SalesforceMalformedRequest
    return kind(
        "https://x/services/data", status, "query", [{"errorCode": code, "message": message}]
    )


def test_request_limit_exceeded_is_a_pause_not_a_failure():
    assert isinstance(
        translate(refused(403, "REQUEST_LIMIT_EXCEEDED"), "Account", "querying"), ApiLimitReached
    )


def test_a_query_timeout_is_transient():
    error = translate(refused(400, "QUERY_TIMEOUT"), "Account", "querying")

    assert isinstance(error, QueryTimedOut) and isinstance(error, TransientError)


def test_an_invalid_field_names_it_and_says_what_to_do():
    error = translate(
        refused(400, "INVALID_FIELD", "No such column 'Foo__c'"), "Account", "querying"
    )

    assert isinstance(error, TerminalError)
    assert "Foo__c" in str(error) and "field-level read access" in str(error)


def test_missing_object_permission_says_to_grant_it():
    error = translate(refused(403, "INSUFFICIENT_ACCESS"), "Invoice__c", "querying")

    assert isinstance(error, TerminalError) and "grant the user read" in str(error)


@pytest.mark.parametrize("exc", [requests.ConnectionError("reset"), requests.Timeout("slow")])
def test_network_failures_are_transient(exc):
    assert isinstance(translate(exc, "Account", "querying"), TransientError)
