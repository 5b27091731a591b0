"""Each login flow of the connector's secret, against the stand-in's SOAP and OAuth endpoints."""

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from handlers.errors import TerminalError
from handlers.sources.salesforce import SalesforceReader
from tests.integration.salesforce.harness import run_batch, source_spec


def _read_all(secret):
    reader = SalesforceReader(source_spec(), secret)
    try:
        batch, _ = run_batch(reader, reader.bounds("Account", None))
        return batch.rows
    finally:
        reader.close()


def test_the_jwt_bearer_flow_logs_in_with_a_signed_assertion(standin, org):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    org.jwt_public_key = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    org.insert_many("Account", 3)
    secret = {
        "username": "reef@example.com",
        "consumer_key": org.consumer_key,
        "private_key": pem,
        "login_url": standin.url,
    }

    assert _read_all(secret) == 3
    assert org.calls["login"] == 1


def test_the_refresh_token_flow_logs_in_with_the_connected_app(standin, org):
    org.insert_many("Account", 2)
    secret = {
        "consumer_key": org.consumer_key,
        "consumer_secret": org.consumer_secret,
        "refresh_token": "refresh-1",
        "login_url": standin.url,
    }

    assert _read_all(secret) == 2


def test_a_revoked_refresh_token_is_a_terminal_error(standin, org):
    secret = {
        "consumer_key": org.consumer_key,
        "consumer_secret": org.consumer_secret,
        "refresh_token": "revoked",
        "login_url": standin.url,
    }

    with pytest.raises(TerminalError, match=r"refused the refresh_token login \(invalid_grant"):
        _read_all(secret)
