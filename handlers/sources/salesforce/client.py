"""One logged-in connection to an org: REST through simple-salesforce, Bulk API 2.0 query jobs,
the API usage Salesforce reports, and one transparent renewal of an expired session.
"""

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import requests
from simple_salesforce import Salesforce
from simple_salesforce.bulk2 import Operation, _Bulk2Client
from simple_salesforce.exceptions import SalesforceExpiredSession

from handlers.sources.salesforce import auth
from handlers.sources.salesforce.errors import translate

logger = logging.getLogger(__name__)

T = TypeVar("T")


class Usage:
    """The org's daily API requests: used and allowed, as Salesforce last reported them."""

    def __init__(self, used: int, allowed: int) -> None:
        self.used = used
        self.allowed = allowed

    def percent(self) -> float:
        return 100.0 * self.used / self.allowed if self.allowed else 100.0


class Client:
    """REST and Bulk 2.0 calls for one connector; every failure leaves as a Reef error."""

    def __init__(self, creds: auth.Credentials, api_version: str) -> None:
        self._creds = creds
        self._version = api_version
        self._http = requests.Session()
        self._http.hooks["response"].append(self._observe)
        self._sf: Salesforce | None = None
        self.usage: Usage | None = None
        self.requests = 0

    def rest(self, obj: str, doing: str, action: Callable[[Salesforce], T]) -> T:
        """Run a simple-salesforce call; a session found expired is renewed and retried once."""
        try:
            try:
                return action(self._salesforce())
            except SalesforceExpiredSession:
                logger.info("Salesforce session expired; logging in again")
                self._sf = None
                return action(self._salesforce())
        except Exception as exc:
            error = translate(exc, obj, doing)
            if error is exc:
                raise
            raise error from exc

    def query_page(self, obj: str, soql: str, include_deleted: bool) -> dict[str, Any]:
        """The first page of a REST query (or queryAll with deleted records)."""
        return self.rest(obj, "querying", lambda sf: sf.query(soql, include_deleted))

    def next_page(self, obj: str, next_records_url: str) -> dict[str, Any]:
        """The page a previous page's nextRecordsUrl points to."""
        return self.rest(
            obj, "querying", lambda sf: sf.query_more(next_records_url, identifier_is_url=True)
        )

    def describe(self, obj: str) -> dict[str, Any]:
        """The object's describe result: its fields and their types."""
        return self.rest(obj, "describing", lambda sf: getattr(sf, obj).describe())

    def limits(self) -> dict[str, Any]:
        """The org's limits resource (DailyApiRequests and friends)."""
        return self.rest("", "reading the limits of", lambda sf: sf.limits())

    def create_query_job(self, obj: str, soql: str, include_deleted: bool) -> dict[str, Any]:
        """Start a Bulk API 2.0 query job; returns its info (id, state)."""
        operation = Operation.query_all if include_deleted else Operation.query
        return self.rest(
            obj,
            "starting a bulk query of",
            lambda sf: self._bulk(sf, obj).create_job(operation, query=soql),
        )

    def query_job(self, obj: str, job_id: str) -> dict[str, Any]:
        """A Bulk API 2.0 query job's info: state, errorMessage, numberRecordsProcessed."""
        return self.rest(
            obj, "checking the bulk query of", lambda sf: self._bulk(sf, obj).get_job(job_id, True)
        )

    def query_job_results(
        self, obj: str, job_id: str, locator: str, max_records: int
    ) -> dict[str, Any]:
        """One page of a finished job's CSV results and the locator of the next page."""
        return self.rest(
            obj,
            "reading the bulk results of",
            lambda sf: dict(self._bulk(sf, obj).get_query_results(job_id, locator, max_records)),
        )

    def close(self) -> None:
        self._http.close()

    def _salesforce(self) -> Salesforce:
        if self._sf is None:
            session = auth.login(self._creds, self._version, self._http)
            # parse_float=str keeps numbers exactly as Salesforce sent them.
            self._sf = Salesforce(
                instance_url=session.instance_url,
                session_id=session.token,
                version=self._version,
                session=self._http,
                parse_float=str,
            )
        return self._sf

    def _bulk(self, sf: Salesforce, obj: str) -> _Bulk2Client:
        # simple-salesforce's Bulk 2.0 query helpers wait by sleeping; Reef waits with a
        # delayed SQS message instead, so it calls the job endpoints one at a time.
        headers = {
            "Content-Type": "application/json",
            "Authorization": "Bearer " + sf.session_id,
            "X-PrettyPrint": "1",
        }
        return _Bulk2Client(obj, sf.bulk2_url, headers, self._http)

    def _observe(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        # Salesforce reports the org's usage on every REST response, so the budget is known
        # without spending calls on the limits resource.
        # https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/headers_api_usage.htm
        if "/services/data/" in response.url:
            self.requests += 1
        header = response.headers.get("Sforce-Limit-Info")
        if not header:
            return
        usage = Salesforce.parse_api_usage(header).get("api-usage")
        if usage is not None:
            self.usage = Usage(used=usage.used, allowed=usage.total)
