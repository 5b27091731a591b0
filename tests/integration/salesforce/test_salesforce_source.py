"""The Salesforce source read through the Source interface, with the real simple-salesforce
client, against the HTTPS stand-in; batches are COPYed and merged into a real PostgreSQL."""

from datetime import timedelta

import pytest

from handlers.contracts.batch import Bounds
from handlers.errors import TerminalError
from tests.integration.salesforce.harness import org_rows, run_batch, source_spec
from tests.standins.salesforce.org import EXPIRED_SESSION, LIMIT_EXCEEDED

pytestmark = pytest.mark.postgres

COMPARED = ("Name", "NumberOfEmployees", "Description", "SystemModstamp")


def test_an_initial_load_through_rest_matches_the_org(org, reader_for, merge_table):
    org.insert_many("Account", 4500)
    tricky = org.insert(
        "Account", {"Name": 'Acme, "the" company', "Description": "line one\nline two"}
    )
    reader = reader_for(rest_chunk_rows=2000)

    bounds = reader.bounds("Account", None)
    batch, _ = run_batch(reader, bounds)
    table = merge_table(reader.columns("Account"))
    table.load(batch)

    assert table.rows(*COMPARED) == org_rows(org, *COMPARED)
    assert table.rows("Description")[tricky] == ("line one\nline two",)
    assert batch.rows == 4501 and len(batch.chunks) == 3
    assert org.calls["bulk_create"] == 0
    assert org.calls["query_more"] == 2  # 4,501 records are three pages of 2,000


def test_a_large_object_goes_through_bulk_in_several_pages_after_several_polls(
    org, reader_for, merge_table
):
    org.insert_many("Account", 2500)
    org.bulk_polls_to_complete = 3
    reader = reader_for(source_spec(bulk_threshold=1000), bulk_page_records=1000)

    batch, _ = run_batch(reader, reader.bounds("Account", None))
    table = merge_table(reader.columns("Account"))
    table.load(batch)

    assert table.rows(*COMPARED) == org_rows(org, *COMPARED)
    assert org.calls["bulk_create"] == 1
    assert org.calls["bulk_poll"] == 3
    assert org.calls["bulk_results"] == 3
    assert len(batch.chunks) == 3
    assert [wait.delay_seconds for wait in batch.waits] == [5, 10, 20]


def test_records_changed_at_the_window_edge_reach_the_next_batch(org, reader_for, merge_table):
    edge = org.now
    first_ids = org.insert_many("Account", 10, at=edge - timedelta(seconds=30))
    org.insert("Account", {"Name": "at the edge"}, at=edge)
    reader = reader_for()
    first = reader.bounds("Account", None)
    batch, _ = run_batch(reader, first)
    table = merge_table(reader.columns("Account"))
    table.load(batch)

    # changes committed after the read, stamped within the batch's last second
    org.update("Account", first_ids[0], {"Name": "renamed at the edge"}, at=edge)
    org.insert(
        "Account", {"Name": "late in the edge second"}, at=edge + timedelta(milliseconds=700)
    )
    second = reader_for().bounds("Account", first.upper)
    batch, _ = run_batch(reader_for(), second)
    table.load(batch)

    assert second.lower == first.upper and second.lower_inclusive
    assert table.rows(*COMPARED) == org_rows(org, *COMPARED)
    assert table.rows("Name")[first_ids[0]] == ("renamed at the edge",)


def test_records_deleted_in_the_window_are_deleted_in_the_warehouse(org, reader_for, merge_table):
    ids = org.insert_many("Account", 20)
    reader = reader_for()
    first = reader.bounds("Account", None)
    batch, _ = run_batch(reader, first)
    table = merge_table(reader.columns("Account"))
    table.load(batch)

    org.tick(60)
    org.delete("Account", ids[3])
    org.delete("Account", ids[7])
    org.update("Account", ids[9], {"Name": "still here"})
    second = reader.bounds("Account", first.upper)
    batch, _ = run_batch(reader, second)
    table.load(batch)

    assert sorted(key for (key,) in batch.deleted) == sorted([ids[3], ids[7]])
    assert table.rows(*COMPARED) == org_rows(org, *COMPARED)


def test_flagged_deletes_stay_as_rows_with_is_deleted_true(org, reader_for, merge_table):
    ids = org.insert_many("Account", 5)
    org.tick()
    org.delete("Account", ids[1])
    reader = reader_for(source_spec(account={"deletes": "flag"}))

    batch, _ = run_batch(reader, reader.bounds("Account", None))
    table = merge_table(reader.columns("Account"))
    table.load(batch)

    assert batch.deleted == []
    assert table.rows("IsDeleted") == org_rows(org, "IsDeleted", include_deleted=True)
    assert table.rows("IsDeleted")[ids[1]] == (True,)


def test_an_expired_session_is_renewed_once_and_the_batch_completes(org, reader_for, merge_table):
    org.insert_many("Account", 3000)
    reader = reader_for()
    bounds = reader.bounds("Account", None)
    org.expire_sessions()

    batch, _ = run_batch(reader, bounds)
    table = merge_table(reader.columns("Account"))
    table.load(batch)

    assert org.calls["login"] == 2
    assert table.rows(*COMPARED) == org_rows(org, *COMPARED)


def test_a_session_rejected_right_after_renewal_fails_the_batch_with_advice(org, reader_for):
    org.insert_many("Account", 3)
    reader = reader_for()
    bounds = reader.bounds("Account", None)
    org.fail_next("query", EXPIRED_SESSION, times=2)

    with pytest.raises(TerminalError, match="API Enabled"):
        run_batch(reader, bounds)
    assert org.calls["login"] == 2


def test_the_api_budget_pauses_mid_batch_and_the_next_delivery_completes_it(
    org, reader_for, merge_table
):
    org.insert_many("Account", 10_000)
    org.api_max = 100
    org.api_used = 44  # describe, the newest cursor, COUNT() and 3 pages reach 50
    spec = source_spec(api_budget_percent=50, bulk_threshold=100_000)
    reader = reader_for(spec, rest_chunk_rows=2000)
    bounds = reader.bounds("Account", None)

    paused, position = run_batch(reader, bounds, stop_on_wait=lambda wait: True)
    assert paused.waits[-1].delay_seconds == 900
    assert paused.rows == 6000
    assert org.api_used == 50  # nothing new was started once the budget was reached

    org.api_used = 0  # a day later, the rolling 24-hour window has freed the requests
    rest, _ = run_batch(reader_for(spec, rest_chunk_rows=2000), bounds, position=position)
    table = merge_table(reader.columns("Account"))
    table.load(paused)
    table.load(rest)

    assert paused.rows + rest.rows == 10_000  # no gap, and nothing read twice
    assert table.rows(*COMPARED) == org_rows(org, *COMPARED)


def test_the_api_budget_pauses_a_bulk_read_between_result_pages(org, reader_for, merge_table):
    org.insert_many("Account", 3000)
    org.api_max = 100
    org.api_used = 44  # describe, newest cursor, COUNT(), job, poll, first page reach 50
    org.bulk_polls_to_complete = 1
    spec = source_spec(api_budget_percent=50, bulk_threshold=1000)
    reader = reader_for(spec, bulk_page_records=1000)
    bounds = reader.bounds("Account", None)

    paused, position = run_batch(
        reader, bounds, stop_on_wait=lambda wait: wait.delay_seconds == 900
    )
    assert paused.rows == 1000 and position["locator"]

    org.api_used = 0
    rest, _ = run_batch(reader_for(spec, bulk_page_records=1000), bounds, position=position)
    table = merge_table(reader.columns("Account"))
    table.load(paused)
    table.load(rest)

    assert org.calls["bulk_create"] == 1  # the same job's results, resumed by locator
    assert paused.rows + rest.rows == 3000
    assert table.rows(*COMPARED) == org_rows(org, *COMPARED)


def test_request_limit_exceeded_is_a_pause_not_a_failure(org, reader_for, merge_table):
    org.insert_many("Account", 5000)
    reader = reader_for(rest_chunk_rows=2000)
    bounds = reader.bounds("Account", None)
    org.fail_next("query_more", LIMIT_EXCEEDED)

    batch, _ = run_batch(reader, bounds)
    table = merge_table(reader.columns("Account"))
    table.load(batch)

    assert [wait.delay_seconds for wait in batch.waits] == [900]
    assert batch.rows == 5000
    assert table.rows(*COMPARED) == org_rows(org, *COMPARED)


def test_a_bulk_query_timeout_is_retried_on_smaller_windows(org, reader_for, merge_table):
    start = org.now
    for minute in range(40):
        org.insert_many("Account", 50, at=start + timedelta(minutes=minute))
    org.bulk_timeout_above = 600
    org.bulk_polls_to_complete = 1
    reader = reader_for(source_spec(bulk_threshold=100))

    batch, _ = run_batch(reader, reader.bounds("Account", None))
    table = merge_table(reader.columns("Account"))
    table.load(batch)

    assert org.calls["bulk_create"] > 4  # 2,000 records need windows of at most 600
    assert batch.rows == 2000
    assert table.rows(*COMPARED) == org_rows(org, *COMPARED)


def test_a_spec_field_the_object_lacks_is_a_terminal_error_naming_it(reader_for):
    reader = reader_for(source_spec(account={"fields": ["Id", "Name", "Revenue__c"]}))

    with pytest.raises(TerminalError, match=r"no field Revenue__c .*fix the spec"):
        reader.columns("Account")


def test_a_field_the_server_refuses_is_a_terminal_error_saying_what_to_fix(org, reader_for):
    org.insert_many("Account", 3)
    reader = reader_for()
    bounds = reader.bounds("Account", None)
    org.fail_next("query", (400, "INVALID_FIELD", "No such column 'Industry' on entity 'Account'."))

    with pytest.raises(TerminalError, match=r"Industry.*field-level read access"):
        run_batch(reader, bounds)


def test_an_object_the_user_cannot_see_is_a_terminal_error(reader_for):
    reader = reader_for(source_spec(account={"name": "Invoice__c"}))

    with pytest.raises(TerminalError, match=r"Invoice__c is not available.*read permission"):
        reader.columns("Invoice__c")


def test_wrong_credentials_are_a_terminal_error_without_the_secret(standin):
    from handlers.sources.salesforce import SalesforceReader

    secret = {**standin.password_secret(), "password": "wrong-password-123"}
    reader = SalesforceReader(source_spec(), secret)
    try:
        with pytest.raises(TerminalError, match=r"INVALID_LOGIN.*check the credentials") as error:
            reader.columns("Account")
    finally:
        reader.close()
    assert "wrong-password-123" not in str(error.value)


def test_compound_fields_are_flattened_into_their_parts(org, reader_for, merge_table):
    org.insert("Account", {"Name": "Acme", "BillingCity": "Lyon", "BillingPostalCode": "69001"})
    spec = source_spec(
        account={
            "fields": ["Id", "Name", "BillingAddress", "SystemModstamp"],
            "compound_fields": "flatten",
        }
    )
    reader = reader_for(spec)

    names = [column.name for column in reader.columns("Account")]
    batch, _ = run_batch(reader, reader.bounds("Account", None))
    table = merge_table(reader.columns("Account"))
    table.load(batch)

    assert names == [
        "Id",
        "Name",
        "BillingStreet",
        "BillingCity",
        "BillingPostalCode",
        "SystemModstamp",
    ]
    assert list(table.rows("BillingCity", "BillingStreet").values()) == [("Lyon", None)]


def test_a_full_refresh_object_has_no_bounds_and_reads_everything(org, reader_for, merge_table):
    org.insert_many("Account", 30)
    reader = reader_for(source_spec(account={"cursor": None}))

    bounds = reader.bounds("Account", "2026-01-01T00:00:00Z")
    batch, _ = run_batch(reader, bounds)

    assert bounds == Bounds()
    assert batch.rows == 30


@pytest.mark.parametrize(("threshold", "expected"), [(10_000, 10), (1000, 9)], ids=["rest", "bulk"])
def test_a_batch_of_10000_records_costs_a_handful_of_api_requests(
    org, reader_for, threshold, expected
):
    org.insert_many("Account", 10_000)
    org.bulk_polls_to_complete = 2
    spec = source_spec(
        bulk_threshold=threshold, account={"fields": ["Id", "Name", "SystemModstamp"]}
    )

    bounds = reader_for(spec).bounds("Account", None)
    batch, _ = run_batch(reader_for(spec), bounds)

    # REST: 2 describes, newest cursor, COUNT(), 5 pages, deleted ids;
    # Bulk: 2 describes, newest cursor, COUNT(), job, 2 polls, 1 results page, deleted ids.
    assert batch.rows == 10_000
    assert org.api_calls() == expected
