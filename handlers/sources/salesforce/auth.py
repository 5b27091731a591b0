"""Logging in to Salesforce with the credentials in the connector's secret.

Three flows, chosen by the secret's keys:
- username, password, security_token: the SOAP login() call;
- username, consumer_key, private_key: the OAuth 2.0 JWT bearer flow;
- consumer_key, consumer_secret, refresh_token: the OAuth 2.0 refresh token flow.
`login_url` (optional) replaces https://login.salesforce.com (or test.salesforce.com for a
sandbox): a My Domain login URL, or a stand-in in tests.
"""

import time
from dataclasses import dataclass
from html import escape
from typing import Any

import jwt
import requests
from simple_salesforce.exceptions import SalesforceAuthenticationFailed
from simple_salesforce.login import soap_login, token_login

from handlers.errors import TerminalError, TransientError
from handlers.sources.salesforce.errors import login_failed

_FLOWS = {
    "password": ("username", "password", "security_token"),
    "jwt": ("username", "consumer_key", "private_key"),
    "refresh_token": ("consumer_key", "consumer_secret", "refresh_token"),
}
# A JWT bearer assertion must expire within three minutes.
# https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_jwt_flow.htm
_JWT_LIFETIME_SECONDS = 180


@dataclass(frozen=True)
class Session:
    """A logged-in session: the access token and the org's instance URL."""

    token: str
    instance_url: str


@dataclass(frozen=True)
class Credentials:
    """The secret's values for one login flow; never logged, never in a message."""

    flow: str
    values: dict[str, str]
    login_url: str

    def __repr__(self) -> str:
        return f"Credentials(flow={self.flow!r}, login_url={self.login_url!r})"


def credentials(secret: dict[str, Any], domain: str) -> Credentials:
    """The login flow the secret's keys describe, or a TerminalError naming the missing keys."""
    login_url = str(secret.get("login_url") or f"https://{domain}.salesforce.com").rstrip("/")
    for flow, keys in _FLOWS.items():
        if all(secret.get(key) for key in keys):
            values = {key: str(secret[key]) for key in keys}
            return Credentials(flow=flow, values=values, login_url=login_url)
    present = ", ".join(sorted(key for key in secret if secret.get(key))) or "none"
    expected = "; or ".join(", ".join(keys) for keys in _FLOWS.values())
    raise TerminalError(
        f"the Salesforce secret has no complete set of credentials (keys present: {present});"
        f" give {expected}"
    )


def login(creds: Credentials, api_version: str, http: requests.Session) -> Session:
    """Log in with the secret's flow; a refused login is a TerminalError saying what to check."""
    try:
        if creds.flow == "password":
            token, instance = _soap(creds, api_version, http)
        elif creds.flow == "jwt":
            token, instance = _token(creds, _jwt_grant(creds), http)
        else:
            token, instance = _token(creds, _refresh_grant(creds), http)
    except SalesforceAuthenticationFailed as exc:
        raise login_failed(exc, creds.flow) from None
    except (requests.Timeout, requests.ConnectionError) as exc:
        raise TransientError(f"Salesforce login at {creds.login_url} failed: {exc}") from exc
    # simple-salesforce speaks https only; the instance is the host (and port) it returned.
    return Session(token=token, instance_url=f"https://{instance}")


def _soap(creds: Credentials, api_version: str, http: requests.Session) -> tuple[str, str]:
    # The partner WSDL login(); the security token is appended to the password.
    # https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_calls_login.htm
    values = creds.values
    body = f"""<?xml version="1.0" encoding="utf-8" ?>
<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"
    xmlns:urn="urn:partner.soap.sforce.com">
  <env:Body>
    <urn:login>
      <urn:username>{escape(values["username"])}</urn:username>
      <urn:password>{escape(values["password"] + values["security_token"])}</urn:password>
    </urn:login>
  </env:Body>
</env:Envelope>"""
    headers = {"content-type": "text/xml", "charset": "UTF-8", "SOAPAction": "login"}
    url = f"{creds.login_url}/services/Soap/u/{api_version}"
    return soap_login(url, body, headers, None, http)


def _jwt_grant(creds: Credentials) -> dict[str, str]:
    values = creds.values
    claims = {
        "iss": values["consumer_key"],
        "sub": values["username"],
        "aud": creds.login_url,
        "exp": int(time.time()) + _JWT_LIFETIME_SECONDS,
    }
    try:
        assertion = jwt.encode(claims, values["private_key"], algorithm="RS256")
    except (ValueError, TypeError) as exc:
        raise TerminalError(
            "the Salesforce secret's private_key is not a PEM RSA private key; store the"
            " key whose certificate is uploaded to the connected app"
        ) from exc
    return {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion}


def _refresh_grant(creds: Credentials) -> dict[str, str]:
    values = creds.values
    return {
        "grant_type": "refresh_token",
        "client_id": values["consumer_key"],
        "client_secret": values["consumer_secret"],
        "refresh_token": values["refresh_token"],
    }


def _token(creds: Credentials, grant: dict[str, str], http: requests.Session) -> tuple[str, str]:
    url = f"{creds.login_url}/services/oauth2/token"
    token, instance = token_login(url, grant, "", creds.values["consumer_key"], None, None, http)
    return str(token), str(instance)
