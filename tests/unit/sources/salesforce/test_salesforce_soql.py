"""SOQL composition: checked names, datetime literals printed by code, windows and keysets."""

import pytest

from handlers.errors import TerminalError
from handlers.sources.salesforce import soql


def test_a_select_names_fields_object_conditions_order_and_limit():
    window = soql.Window(lower="2026-01-05T09:00:00.250+0000", upper="2026-01-05T10:00:00Z")
    query = soql.select(
        "Account",
        ["Id", "Name"],
        soql.window_condition("SystemModstamp", window),
        soql.ascending("SystemModstamp", "Id"),
        limit=5,
    )

    assert query == (
        "SELECT Id, Name FROM Account WHERE SystemModstamp >= 2026-01-05T09:00:00Z"
        " AND SystemModstamp < 2026-01-05T10:00:01Z ORDER BY SystemModstamp ASC, Id ASC LIMIT 5"
    )


def test_an_open_upper_bound_excludes_its_second():
    window = soql.Window(lower=None, upper="2026-01-05T10:00:00Z", upper_open=True)

    assert soql.window_condition("SystemModstamp", window) == [
        "SystemModstamp < 2026-01-05T10:00:00Z"
    ]


@pytest.mark.parametrize("bad", ["Name, (SELECT Id FROM Contacts)", "Id FROM User --", "Na me", ""])
def test_a_name_that_is_not_an_api_name_is_refused(bad):
    with pytest.raises(TerminalError, match="not a Salesforce API name"):
        soql.select("Account", [bad])


def test_a_cursor_value_that_is_not_a_datetime_is_refused():
    with pytest.raises(TerminalError, match="not a datetime"):
        soql.datetime_literal("2026-01-05' OR Name != '")


def test_a_record_id_with_quotes_never_reaches_the_query():
    with pytest.raises(TerminalError, match="not a Salesforce record id"):
        soql.after_condition("SystemModstamp", ["2026-01-05T09:00:00Z", "001' OR Id != '"])


def test_the_keyset_continues_after_the_last_cursor_and_id():
    condition = soql.after_condition(
        "SystemModstamp", ["2026-01-05T09:00:00Z", "001000000000001AAA"]
    )

    assert condition == (
        "(SystemModstamp > 2026-01-05T09:00:00Z OR (SystemModstamp = 2026-01-05T09:00:00Z"
        " AND Id > '001000000000001AAA'))"
    )


def test_a_window_splits_into_two_halves_that_cover_it_exactly():
    window = soql.Window(lower="2026-01-05T09:00:00Z", upper="2026-01-05T09:00:09Z")

    first, second = soql.split(window)

    assert first == soql.Window("2026-01-05T09:00:00Z", "2026-01-05T09:00:05Z", upper_open=True)
    assert second == soql.Window("2026-01-05T09:00:05Z", "2026-01-05T09:00:09Z")


def test_a_single_second_cannot_be_split():
    assert soql.split(soql.Window("2026-01-05T09:00:00Z", "2026-01-05T09:00:00Z")) is None
    assert soql.split(soql.Window(None, "2026-01-05T09:00:00Z")) is None
