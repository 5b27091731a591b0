"""Field selection from describe: the spec's list checked, compound fields, deletes flag."""

import pytest

from handlers.contracts.spec import SalesforceObject
from handlers.errors import TerminalError
from handlers.sources.salesforce.describe import shape

DESCRIBE = {
    "fields": [
        {"name": "Id", "type": "id", "nillable": False},
        {"name": "IsDeleted", "type": "boolean", "nillable": False},
        {"name": "Name", "type": "string"},
        {"name": "Logo", "type": "base64"},
        {"name": "BillingStreet", "type": "textarea", "compoundFieldName": "BillingAddress"},
        {"name": "BillingCity", "type": "string", "compoundFieldName": "BillingAddress"},
        {"name": "BillingAddress", "type": "address"},
        {"name": "SystemModstamp", "type": "datetime", "nillable": False},
    ]
}


def obj(**settings):
    return SalesforceObject.model_validate({"name": "Account", **settings})


def test_all_fields_skip_compound_fields_and_their_parts_and_binary_fields():
    assert shape(obj(), DESCRIBE).names == ["Id", "IsDeleted", "Name", "SystemModstamp"]


def test_flatten_replaces_a_compound_field_by_its_parts():
    chosen = shape(obj(fields=["Name", "BillingAddress"], compound_fields="flatten"), DESCRIBE)

    assert chosen.names == ["Id", "Name", "BillingStreet", "BillingCity"]


def test_the_id_is_always_read_and_flagged_deletes_add_is_deleted():
    assert shape(obj(fields=["Name"], deletes="flag"), DESCRIBE).names == [
        "Id",
        "Name",
        "IsDeleted",
    ]


def test_unknown_fields_are_named_together_in_one_error():
    with pytest.raises(TerminalError, match="no field Revenue__c, Owner visible"):
        shape(obj(fields=["Name", "Revenue__c", "Owner"]), DESCRIBE)


def test_a_cursor_that_is_not_a_datetime_field_is_refused():
    with pytest.raises(TerminalError, match="field Name is of type string, expected datetime"):
        shape(obj(cursor="Name"), DESCRIBE)


def test_columns_carry_salesforce_types_and_nullability():
    columns = shape(obj(fields=["Name"]), DESCRIBE).columns()

    assert [(c.name, c.type, c.source_type, c.nullable) for c in columns] == [
        ("Id", "id", "salesforce", False),
        ("Name", "string", "salesforce", True),
    ]
