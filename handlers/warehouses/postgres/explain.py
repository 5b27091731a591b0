"""The statements a load would run, as text, for `reef explain`."""

from handlers.contracts.batch import Column
from handlers.contracts.spec import PostgresDestination, WriteMode
from handlers.sources.postgres.connection import render
from handlers.warehouses.postgres import statements
from handlers.warehouses.postgres.statements import Target


def explain_load(
    destination: PostgresDestination,
    unit: str,
    columns: list[Column],
    primary_key: list[str],
    *,
    cursor: str | None = None,
    mode: WriteMode | None = None,
) -> list[str]:
    """Every statement a load of `unit` runs, in order, for the write mode (the spec's default).

    Statements that depend on the table's state (create it, add a drifted column) are shown
    as they would run on a first load. Parameters appear as placeholders such as %(batch_id)s.
    """
    schema = destination.schema_
    target = Target(schema, unit, columns, primary_key, cursor)
    mode = mode or destination.mode
    shown = [
        statements.lock(),
        statements.create_schema(schema),
        statements.create_load_log(schema),
        statements.lock(),
        statements.claim_batch(schema),
        statements.create_table(target, with_key=mode != "append"),
        statements.create_stage(target),
        statements.copy_into_stage(target),
        statements.analyze_stage(),
    ]
    if mode == "append":
        shown.append(statements.insert_all(target))
    elif mode == "replace":
        shown.append(statements.delete_all(target))
        shown.append(
            statements.insert_latest(target, skip_kept=False)
            if primary_key
            else statements.insert_all(target)
        )
    else:
        shown += [
            statements.delete_replaced(target),
            statements.insert_latest(target, skip_kept=True),
        ]
    if primary_key:
        shown += [
            statements.create_deleted(target),
            statements.copy_into_deleted(target),
            statements.delete_deleted(target),
        ]
    return [render(statement) for statement in shown]
