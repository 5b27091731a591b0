"""The stand-in's HTTPS server: Salesforce's login, REST and Bulk API 2.0 wire formats.

simple-salesforce always speaks https, so the server has a self-signed certificate for
127.0.0.1; clients trust it through REQUESTS_CA_BUNDLE. Responses follow the published
formats: the SOAP login() response and LoginFault, the OAuth token response and its error
JSON, REST query pages with nextRecordsUrl, the limits resource, the Sforce-Limit-Info
header, Bulk API 2.0 query job info and CSV result pages with Sforce-Locator and
Sforce-NumberOfRecords.
"""

import ipaddress
import json
import re
import ssl
import threading
import time
from datetime import UTC, datetime, timedelta
from html import unescape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tests.standins.salesforce import soql
from tests.standins.salesforce.org import (
    EXPIRED_SESSION,
    LIMIT_EXCEEDED,
    Org,
    csv_value,
    json_value,
    locator,
    offset_of,
)

_DATA = re.compile(r"^/services/data/v(?P<version>\d+\.\d)/(?P<rest>.*)$")
_ORG_ID = "00D000000000001EAA"
_USER_ID = "005000000000001AAA"


def write_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate and key for 127.0.0.1, as PEM files in `folder`."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "standin.crt", folder / "standin.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class StandIn:
    """A running stand-in: `url` to log in at, `org` to arrange and inspect."""

    def __init__(self, org: Org, cert: Path, key: Path) -> None:
        self.org = org
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.org = org  # type: ignore[attr-defined]
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self._server.server_address[1]}"
        self._server.base_url = self.url  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> "StandIn":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def password_secret(self) -> dict[str, str]:
        username, (password, token) = next(iter(self.org.users.items()))
        return {
            "username": username,
            "password": password,
            "security_token": token,
            "login_url": self.url,
        }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    @property
    def org(self) -> Org:
        return self.server.org  # type: ignore[attr-defined,no-any-return]

    @property
    def base_url(self) -> str:
        return self.server.base_url  # type: ignore[attr-defined,no-any-return]

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read the org's counters instead."""

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_PATCH(self) -> None:
        self._route("PATCH")

    def do_DELETE(self) -> None:
        self._route("DELETE")

    # plumbing
    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        self._send(status, body, "application/json;charset=UTF-8", headers)

    def _error(self, failure: tuple[int, str, str]) -> None:
        status, code, message = failure
        self._json(status, [{"message": message, "errorCode": code}], self._usage())

    def _usage(self) -> dict[str, str]:
        return {"Sforce-Limit-Info": f"api-usage={self.org.api_used}/{self.org.api_max}"}

    def _route(self, method: str) -> None:
        url = urlparse(self.path)
        body = self._body()
        try:
            if url.path.startswith("/services/Soap/u/"):
                self._soap_login(body)
            elif url.path == "/services/oauth2/token":
                self._token(body)
            elif (match := _DATA.match(url.path)) is not None:
                self._data(method, match.group("version"), match.group("rest"), url.query, body)
            else:
                self._json(
                    404,
                    [
                        {
                            "errorCode": "NOT_FOUND",
                            "message": "The requested resource does not exist",
                        }
                    ],
                )
        except soql.SoqlError as exc:
            self._error((400, exc.code, exc.message))

    # logins
    def _soap_login(self, body: bytes) -> None:
        self.org.calls["login"] += 1
        text = body.decode()
        username = _element(text, "username")
        password = _element(text, "password")
        expected = self.org.users.get(username)
        if expected is None or password != expected[0] + expected[1]:
            self._send(500, _login_fault().encode(), "text/xml;charset=UTF-8")
            return
        token = self.org.new_session()
        version = self.path.rstrip("/").rsplit("/", 1)[-1]
        response = _login_response(self.base_url, version, token)
        self._send(200, response.encode(), "text/xml;charset=UTF-8")

    def _token(self, body: bytes) -> None:
        self.org.calls["login"] += 1
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        grant = form.get("grant_type")
        if grant == "refresh_token":
            accepted = (
                form.get("client_id") == self.org.consumer_key
                and form.get("client_secret") == self.org.consumer_secret
                and form.get("refresh_token") in self.org.refresh_tokens
            )
            refused = "expired access/refresh token"
        elif grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            accepted = self._valid_assertion(form.get("assertion", ""))
            refused = "invalid assertion"
        else:
            self._json(
                400,
                {
                    "error": "unsupported_grant_type",
                    "error_description": "grant type not supported",
                },
            )
            return
        if not accepted:
            self._json(400, {"error": "invalid_grant", "error_description": refused})
            return
        token = self.org.new_session()
        self._json(
            200,
            {
                "access_token": token,
                "instance_url": self.base_url,
                "id": f"{self.base_url}/id/{_ORG_ID}/{_USER_ID}",
                "token_type": "Bearer",
                "issued_at": str(int(time.time() * 1000)),
                "scope": "api",
            },
        )

    def _valid_assertion(self, assertion: str) -> bool:
        if self.org.jwt_public_key is None:
            return False
        try:
            claims = jwt.decode(
                assertion, self.org.jwt_public_key, algorithms=["RS256"], audience=self.base_url
            )
        except jwt.PyJWTError:
            return False
        return claims.get("iss") == self.org.consumer_key and claims.get("sub") in self.org.users

    # the REST and Bulk API
    def _data(self, method: str, version: str, rest: str, query: str, body: bytes) -> None:
        kind = _kind(method, rest)
        self.org.calls[kind] += 1
        token = (self.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
        if token not in self.org.sessions:
            self._error(EXPIRED_SESSION)
            return
        with self.org.lock:
            if self.org.api_used >= self.org.api_max:
                self._error(LIMIT_EXCEEDED)
                return
            self.org.api_used += 1
        failure = self.org.take_failure(kind)
        if failure is not None:
            self._error(failure)
            return
        params = {k: v[0] for k, v in parse_qs(query).items()}
        handler = getattr(self, f"_{kind}")
        handler(version, rest, params, body)

    def _describe(self, version: str, rest: str, params: dict[str, str], body: bytes) -> None:
        name = rest.split("/")[1]
        sobject = self.org.objects.get(name)
        if sobject is None:
            self._error((404, "NOT_FOUND", "The requested resource does not exist"))
            return
        fields = [f.describe() for f in sobject.fields]
        self._json(200, {"name": name, "queryable": True, "fields": fields}, self._usage())

    def _limits(self, version: str, rest: str, params: dict[str, str], body: bytes) -> None:
        daily = {"Max": self.org.api_max, "Remaining": self.org.api_max - self.org.api_used}
        payload = {
            "DailyApiRequests": daily,
            "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000},
        }
        self._json(200, payload, self._usage())

    def _query(self, version: str, rest: str, params: dict[str, str], body: bytes) -> None:
        include_deleted = rest.startswith("queryAll")
        parsed, rows = self.org.run(params.get("q", ""), include_deleted)
        if parsed.is_count:
            self._json(200, {"totalSize": len(rows), "done": True, "records": []}, self._usage())
            return
        records = [_rest_record(parsed, row, version) for row in rows]
        cursor_id = f"01g{len(self.org.cursors):015d}"
        with self.org.lock:
            self.org.cursors[cursor_id] = records
        self._page(version, "queryAll" if include_deleted else "query", cursor_id, 0)

    def _query_more(self, version: str, rest: str, params: dict[str, str], body: bytes) -> None:
        endpoint, tail = rest.split("/", 1)
        cursor_id, offset = tail.rsplit("-", 1)
        if cursor_id not in self.org.cursors:
            self._error((400, "INVALID_QUERY_LOCATOR", "invalid query locator"))
            return
        self._page(version, endpoint, cursor_id, int(offset))

    def _page(self, version: str, endpoint: str, cursor_id: str, offset: int) -> None:
        records = self.org.cursors[cursor_id]
        end = offset + self.org.rest_page_size
        page: dict[str, Any] = {"totalSize": len(records), "done": end >= len(records)}
        if end < len(records):
            page["nextRecordsUrl"] = f"/services/data/v{version}/{endpoint}/{cursor_id}-{end}"
        page["records"] = records[offset:end]
        self._json(200, page, self._usage())

    def _bulk_create(self, version: str, rest: str, params: dict[str, str], body: bytes) -> None:
        request = json.loads(body or b"{}")
        operation = request.get("operation")
        if operation not in ("query", "queryAll"):
            self._error((400, "INVALIDJOB", f"operation {operation!r} is not a query"))
            return
        job = self.org.start_job(request.get("query", ""), operation)
        self._json(200, _job_info(job, version), self._usage())

    def _bulk_poll(self, version: str, rest: str, params: dict[str, str], body: bytes) -> None:
        job_id = rest.split("/")[2]
        if job_id not in self.org.jobs:
            self._error((404, "NOT_FOUND", "The requested resource does not exist"))
            return
        job = self.org.poll_job(job_id)
        self._json(200, _job_info(job, version), self._usage())

    def _bulk_results(self, version: str, rest: str, params: dict[str, str], body: bytes) -> None:
        job = self.org.jobs.get(rest.split("/")[2])
        if job is None or job.state != "JobComplete":
            self._error((400, "INVALIDJOB", "the job is not complete"))
            return
        offset = offset_of(params["locator"]) if params.get("locator") else 0
        size = int(params.get("maxRecords") or 50_000)
        size = min(size, self.org.bulk_page_size or size)
        page = job.rows[offset : offset + size]
        end = offset + len(page)
        lines = [_csv_line(job.query.fields)]
        lines += [_csv_line([row.get(name) for name in job.query.fields]) for row in page]
        text = "".join(lines)
        headers = {
            **self._usage(),
            "Sforce-Locator": locator(end) if end < len(job.rows) else "null",
            "Sforce-NumberOfRecords": str(len(page)),
        }
        self._send(200, text.encode(), "text/csv", headers)


def _csv_line(values: list[Any]) -> str:
    # Bulk API 2.0 quotes every value; a null is an empty, unquoted field.
    fields = ['"' + csv_value(v).replace('"', '""') + '"' if v is not None else "" for v in values]
    return ",".join(fields) + "\n"


def _kind(method: str, rest: str) -> str:
    if rest.startswith("sobjects/") and rest.endswith("/describe"):
        return "describe"
    if rest.rstrip("/") == "limits":
        return "limits"
    if rest.rstrip("/") in ("query", "queryAll"):
        return "query"
    if rest.startswith(("query/", "queryAll/")):
        return "query_more"
    if rest.rstrip("/") == "jobs/query" and method == "POST":
        return "bulk_create"
    if rest.startswith("jobs/query/") and rest.endswith("/results"):
        return "bulk_results"
    if rest.startswith("jobs/query/"):
        return "bulk_poll"
    return "unknown"


def _rest_record(parsed: soql.Query, row: dict[str, Any], version: str) -> dict[str, Any]:
    attributes = {
        "type": parsed.obj,
        "url": f"/services/data/v{version}/sobjects/{parsed.obj}/{row['Id']}",
    }
    return {"attributes": attributes, **{name: json_value(row.get(name)) for name in parsed.fields}}


def _job_info(job: Any, version: str) -> dict[str, Any]:
    info: dict[str, Any] = {
        "id": job.id,
        "operation": job.operation,
        "object": job.obj,
        "createdById": _USER_ID,
        "createdDate": "2026-01-05T09:00:00.000+0000",
        "systemModstamp": "2026-01-05T09:00:00.000+0000",
        "state": job.state,
        "concurrencyMode": "Parallel",
        "contentType": "CSV",
        "apiVersion": float(version),
        "jobType": "V2Query",
        "lineEnding": "LF",
        "columnDelimiter": "COMMA",
        "numberRecordsProcessed": len(job.rows),
        "retries": 0,
        "totalProcessingTime": 0,
    }
    if job.error:
        info["errorMessage"] = job.error
    return info


def _element(text: str, name: str) -> str:
    match = re.search(rf"<(?:\w+:)?{name}>(.*?)</(?:\w+:)?{name}>", text, re.DOTALL)
    if not match:
        return ""
    return unescape(match.group(1))


def _login_response(base_url: str, version: str, token: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"'
        ' xmlns="urn:partner.soap.sforce.com"'
        ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        "<soapenv:Body><loginResponse><result>"
        f"<metadataServerUrl>{base_url}/services/Soap/m/{version}/{_ORG_ID}</metadataServerUrl>"
        "<passwordExpired>false</passwordExpired><sandbox>false</sandbox>"
        f"<serverUrl>{base_url}/services/Soap/u/{version}/{_ORG_ID}</serverUrl>"
        f"<sessionId>{token}</sessionId><userId>{_USER_ID}</userId>"
        f"<userInfo><organizationId>{_ORG_ID}</organizationId></userInfo>"
        "</result></loginResponse></soapenv:Body></soapenv:Envelope>"
    )


def _login_fault() -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"'
        ' xmlns:sf="urn:fault.partner.soap.sforce.com"'
        ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        "<soapenv:Body><soapenv:Fault><faultcode>sf:INVALID_LOGIN</faultcode>"
        "<faultstring>INVALID_LOGIN: Invalid username, password, security token; or user"
        ' locked out.</faultstring><detail><sf:LoginFault xsi:type="sf:LoginFault">'
        "<sf:exceptionCode>INVALID_LOGIN</sf:exceptionCode><sf:exceptionMessage>Invalid"
        " username, password, security token; or user locked out.</sf:exceptionMessage>"
        "</sf:LoginFault></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    )
