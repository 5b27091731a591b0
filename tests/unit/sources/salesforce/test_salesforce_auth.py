"""The login flow is chosen from the secret's keys; a missing key is named, a value never."""

import pytest

from handlers.errors import TerminalError
from handlers.sources.salesforce.auth import credentials


def test_username_password_and_token_choose_the_soap_login_at_the_domain():
    creds = credentials({"username": "u", "password": "p", "security_token": "t"}, "test")

    assert (creds.flow, creds.login_url) == ("password", "https://test.salesforce.com")


def test_a_login_url_in_the_secret_replaces_the_domain():
    secret = {"consumer_key": "k", "consumer_secret": "s", "refresh_token": "r"}
    creds = credentials({**secret, "login_url": "https://acme.my.salesforce.com/"}, "login")

    assert (creds.flow, creds.login_url) == ("refresh_token", "https://acme.my.salesforce.com")


def test_an_incomplete_secret_names_the_keys_present_and_expected_but_no_values():
    with pytest.raises(TerminalError, match="keys present: password, username") as error:
        credentials({"username": "someone", "password": "hunter2"}, "login")

    assert "hunter2" not in str(error.value)
    assert "security_token" in str(error.value)


def test_credentials_never_show_their_values():
    creds = credentials({"username": "u", "password": "hunter2", "security_token": "t"}, "login")

    assert "hunter2" not in repr(creds)
