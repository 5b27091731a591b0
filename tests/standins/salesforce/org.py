"""The stand-in's in-memory org: objects, records, users, sessions, jobs and API counters.

Tests change records between batches (insert, update, delete) on the org's own clock, count
the API calls the source made per kind, and arm failures (an expired session, the daily
limit, a query timeout) that the server answers the way Salesforce does.
"""

import base64
import itertools
import secrets
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from tests.standins.salesforce import soql

# Error bodies of the REST API: a list of {message, errorCode}.
# https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/errorcodes.htm
EXPIRED_SESSION = (401, "INVALID_SESSION_ID", "Session expired or invalid")
LIMIT_EXCEEDED = (403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
QUERY_TIMEOUT = (400, "QUERY_TIMEOUT", "Your query request was running for too long.")


@dataclass
class FieldDef:
    name: str
    type: str
    nillable: bool = True
    compound: str | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.name,
            "type": self.type,
            "nillable": self.nillable,
            "compoundFieldName": self.compound,
            "length": 255 if self.type in ("string", "textarea", "picklist") else 0,
            "soapType": "xsd:" + ("dateTime" if self.type == "datetime" else "string"),
            "filterable": True,
            "sortable": self.type not in ("address", "location", "textarea"),
        }


ACCOUNT_FIELDS = [
    FieldDef("Id", "id", nillable=False),
    FieldDef("IsDeleted", "boolean", nillable=False),
    FieldDef("Name", "string", nillable=False),
    FieldDef("Industry", "picklist"),
    FieldDef("AnnualRevenue", "currency"),
    FieldDef("NumberOfEmployees", "int"),
    FieldDef("Description", "textarea"),
    FieldDef("BillingStreet", "textarea", compound="BillingAddress"),
    FieldDef("BillingCity", "string", compound="BillingAddress"),
    FieldDef("BillingPostalCode", "string", compound="BillingAddress"),
    FieldDef("BillingAddress", "address"),
    FieldDef("CreatedDate", "datetime", nillable=False),
    FieldDef("SystemModstamp", "datetime", nillable=False),
]


@dataclass
class SObject:
    name: str
    prefix: str
    fields: list[FieldDef]
    records: dict[str, dict[str, Any]] = field(default_factory=dict)

    def field(self, name: str) -> FieldDef | None:
        return next((f for f in self.fields if f.name.lower() == name.lower()), None)


@dataclass
class Job:
    id: str
    obj: str
    query: soql.Query
    text: str
    operation: str
    polls: int = 0
    state: str = "UploadComplete"
    error: str | None = None
    rows: list[dict[str, Any]] = field(default_factory=list)


class Org:
    """Everything the stand-in server knows; safe to use from test and server threads."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.objects: dict[str, SObject] = {}
        self.now = datetime(2026, 1, 5, 9, 0, 0, tzinfo=UTC)
        self.users: dict[str, tuple[str, str]] = {"reef@example.com": ("s3cret", "TOKEN123")}
        self.consumer_key = "reef-connected-app"
        self.consumer_secret = "app-secret"
        self.refresh_tokens = {"refresh-1"}
        self.jwt_public_key: bytes | None = None
        self.sessions: set[str] = set()
        self.calls: Counter[str] = Counter()
        self.api_used = 0
        self.api_max = 1_000_000
        self.rest_page_size = 2000
        # Bulk API 2.0 may answer a results page with fewer records than maxRecords asks for
        # (it sizes pages by data volume); None honours maxRecords alone.
        self.bulk_page_size: int | None = None
        self.bulk_polls_to_complete = 2
        self.bulk_timeout_above: int | None = None
        self.failures: dict[str, list[tuple[int, str, str]]] = {}
        self.cursors: dict[str, list[dict[str, Any]]] = {}
        self.jobs: dict[str, Job] = {}
        self._ids = itertools.count(1)
        self.define("Account", "001", ACCOUNT_FIELDS)

    # objects and records
    def define(self, name: str, prefix: str, fields: list[FieldDef]) -> SObject:
        with self.lock:
            self.objects[name] = SObject(name=name, prefix=prefix, fields=fields)
            return self.objects[name]

    def tick(self, seconds: float = 1.0) -> datetime:
        """Move the org's clock forward; changes are stamped with the clock."""
        with self.lock:
            self.now += timedelta(seconds=seconds)
            return self.now

    def insert(self, obj: str, values: dict[str, Any], at: datetime | None = None) -> str:
        with self.lock:
            sobject = self.objects[obj]
            record_id = f"{sobject.prefix}{next(self._ids):012d}AAA"
            stamp = at or self.now
            record = {f.name: None for f in sobject.fields if f.type not in ("address", "location")}
            record.update(values)
            record.update(Id=record_id, IsDeleted=False, CreatedDate=stamp, SystemModstamp=stamp)
            sobject.records[record_id] = record
            return record_id

    def insert_many(self, obj: str, count: int, at: datetime | None = None) -> list[str]:
        return [
            self.insert(obj, {"Name": f"Account {n}", "NumberOfEmployees": n}, at=at)
            for n in range(count)
        ]

    def update(
        self, obj: str, record_id: str, values: dict[str, Any], at: datetime | None = None
    ) -> None:
        with self.lock:
            record = self.objects[obj].records[record_id]
            record.update(values)
            record["SystemModstamp"] = at or self.now

    def delete(self, obj: str, record_id: str, at: datetime | None = None) -> None:
        """Move a record to the recycle bin: queryAll still sees it, with IsDeleted true."""
        self.update(obj, record_id, {"IsDeleted": True}, at=at)

    def live(self, obj: str) -> dict[str, dict[str, Any]]:
        """The records query (not queryAll) returns, by Id."""
        with self.lock:
            return {i: dict(r) for i, r in self.objects[obj].records.items() if not r["IsDeleted"]}

    # sessions, usage and armed failures
    def new_session(self) -> str:
        token = "00D000000000001!" + secrets.token_urlsafe(24)
        with self.lock:
            self.sessions.add(token)
        return token

    def expire_sessions(self) -> None:
        with self.lock:
            self.sessions.clear()

    def fail_next(self, kind: str, failure: tuple[int, str, str], times: int = 1) -> None:
        """The next `times` requests of `kind` answer with this (status, errorCode, message)."""
        with self.lock:
            self.failures.setdefault(kind, []).extend([failure] * times)

    def take_failure(self, kind: str) -> tuple[int, str, str] | None:
        with self.lock:
            armed = self.failures.get(kind)
            return armed.pop(0) if armed else None

    def api_calls(self) -> int:
        """Every counted REST and Bulk request (logins are not API requests)."""
        return sum(n for kind, n in self.calls.items() if kind != "login")

    # queries
    def run(self, text: str, include_deleted: bool) -> tuple[soql.Query, list[dict[str, Any]]]:
        """Parse, check and evaluate a query: (query, matching records in order)."""
        query = soql.parse(text)
        with self.lock:
            sobject = self.objects.get(query.obj)
            if sobject is None:
                raise soql.SoqlError(
                    "INVALID_TYPE",
                    f"sObject type '{query.obj}' is not supported. If you are attempting to use"
                    " a custom object, be sure to append the '__c' after the entity name.",
                )
            for name in [*query.fields, *soql.names_in(query.where), *(o[0] for o in query.order)]:
                found = sobject.field(name)
                if found is None:
                    raise soql.SoqlError(
                        "INVALID_FIELD",
                        f"No such column '{name}' on entity '{query.obj}'. If you are attempting"
                        " to use a custom field, be sure to append the '__c' after the custom"
                        " field name.",
                    )
            rows = [
                dict(r)
                for r in sobject.records.values()
                if (include_deleted or not r["IsDeleted"]) and soql.matches(query.where, r)
            ]
        for name, descending, nulls_last in reversed(query.order):
            present = [r for r in rows if r.get(name) is not None]
            absent = [r for r in rows if r.get(name) is None]
            present.sort(key=lambda r, n=name: r[n], reverse=descending)
            rows = present + absent if nulls_last else absent + present
        if query.limit is not None:
            rows = rows[: query.limit]
        return query, rows

    def start_job(self, text: str, operation: str) -> Job:
        query, _ = self.run(text, operation == "queryAll")  # refused at creation if invalid
        with self.lock:
            job_id = f"750{next(self._ids):012d}AAA"
            job = Job(id=job_id, obj=query.obj, query=query, text=text, operation=operation)
            self.jobs[job.id] = job
            return job

    def poll_job(self, job_id: str) -> Job:
        with self.lock:
            job = self.jobs[job_id]
            if job.state in ("JobComplete", "Failed", "Aborted"):
                return job
            job.polls += 1
            if job.polls < self.bulk_polls_to_complete:
                job.state = "InProgress"
                return job
            _, rows = self.run(job.text, job.operation == "queryAll")
            if self.bulk_timeout_above is not None and len(rows) > self.bulk_timeout_above:
                job.state = "Failed"
                job.error = "QUERY_TIMEOUT: Your query request was running for too long."
            else:
                job.state = "JobComplete"
                job.rows = rows
            return job


def json_value(value: Any) -> Any:
    """A stored value as REST JSON shows it."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"
    if isinstance(value, Decimal):
        return float(value)
    return value


def csv_value(value: Any) -> str:
    """A stored value as Bulk API 2.0 CSV shows it: null is an empty field."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    return str(value)


def locator(offset: int) -> str:
    return base64.b64encode(str(offset).encode()).decode().rstrip("=")


def offset_of(value: str) -> int:
    return int(base64.b64decode(value + "=" * (-len(value) % 4)).decode())
