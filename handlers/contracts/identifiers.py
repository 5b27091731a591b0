"""Strict patterns for every name that a spec lets into SQL, SOQL or an AWS resource name.

A name that passes these patterns is still always quoted when composed into a statement;
the patterns exist so that a typo or an injection attempt is refused at load time, with a
message, long before anything runs.
"""

import re
from typing import Annotated

from pydantic import AfterValidator

# PostgreSQL and Redshift identifiers: up to 63 bytes. Mixed case, spaces and reserved words
# are allowed because every identifier is quoted; quotes, semicolons, dots and control
# characters are not, so nothing can close the quoting or start another statement.
SQL_IDENTIFIER = re.compile(r"[A-Za-z_](?:[A-Za-z0-9_$ ]{0,61}[A-Za-z0-9_$])?")

# Salesforce API names: letters, digits and underscores, starting with a letter; custom
# objects and fields end in __c (and friends), which the pattern admits.
SALESFORCE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,79}")

# Connector names become parts of AWS resource names (SQS allows 80 characters, Lambda 64),
# so they are short, lowercase and hyphenated.
CONNECTOR_NAME = re.compile(r"[a-z][a-z0-9-]{0,30}[a-z0-9]")

# Secrets Manager names and ARNs.
# https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_CreateSecret.html
SECRET_REFERENCE = re.compile(
    r"(arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:)?[A-Za-z0-9/_+=.@-]{1,512}"
)


def _matching(pattern: re.Pattern[str], expected: str):  # type: ignore[no-untyped-def]
    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            raise ValueError(f"{value!r} is not a valid name; expected {expected}")
        return value

    return check


SqlIdentifier = Annotated[
    str,
    AfterValidator(
        _matching(
            SQL_IDENTIFIER,
            "letters, digits, '_', '$' or inner spaces, starting with a letter or '_',"
            " at most 63 characters",
        )
    ),
]
SalesforceName = Annotated[
    str,
    AfterValidator(
        _matching(
            SALESFORCE_NAME,
            "a Salesforce API name: letters, digits and '_', starting with a letter",
        )
    ),
]
ConnectorName = Annotated[
    str,
    AfterValidator(
        _matching(
            CONNECTOR_NAME,
            "2 to 32 lowercase letters, digits or '-', starting with a letter",
        )
    ),
]
SecretReference = Annotated[
    str,
    AfterValidator(
        _matching(
            SECRET_REFERENCE,
            "the name or ARN of a Secrets Manager secret, such as 'reef/shop-db'",
        )
    ),
]
