"""Reef's command line, and the cdktf app that `cdktf synth` and `cdktf deploy` run.

cdktf runs this file with no arguments (see cdktf.json); it then synthesizes the stacks of
the environment named by REEF_ENV. With arguments, it is the `reef` command line.
"""

import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from generator import console
from generator.errors import InvalidInput
from generator.schema import connector_schema
from generator.specs import load_specs
from handlers.contracts.spec import ConnectorSpec

app = typer.Typer(
    name="reef",
    help="Move data from operational systems into a warehouse on AWS Lambda.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def valid_specs() -> dict[str, ConnectorSpec]:
    """Every connector spec by name, or the exit 2 that lists every problem."""
    try:
        return load_specs()
    except InvalidInput as invalid:
        raise console.invalid_input(invalid) from None


def spec_named(connector: str, specs: dict[str, ConnectorSpec]) -> ConnectorSpec:
    """The spec of `connector`, or the exit 2 that names the known connectors."""
    if connector not in specs:
        known = ", ".join(sorted(specs)) or "(none)"
        raise console.invalid(f"no connector named {connector!r}; expected one of: {known}")
    return specs[connector]


@app.command()
def validate(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="spec files or folders; default: the connectors folder"),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Check connector specs and report every problem as file:line: field: message."""
    try:
        specs = load_specs(paths)
    except InvalidInput as invalid:
        if json_output:
            problems = [
                {**dataclasses.asdict(problem), "file": str(problem.file)}
                for problem in invalid.problems
            ]
            console.result_json({"valid": False, "problems": problems})
        raise console.invalid_input(invalid) from None
    if json_output:
        console.result_json({"valid": True, "connectors": sorted(specs), "problems": []})
        return
    typer.echo(f"{len(specs)} connector spec{'s' if len(specs) != 1 else ''} valid")


@app.command()
def schema() -> None:
    """Print the JSON Schema of connector specs (the committed copy is schema/)."""
    typer.echo(json.dumps(connector_schema(), indent=2, sort_keys=True))


@app.command()
def synth(
    env: Annotated[str, typer.Option("--env", help="environment: environments/<ENV>.yaml")],
    out: Annotated[
        Path | None, typer.Option("--out", help="output folder; default: cdktf.out")
    ] = None,
) -> None:
    """Write the core stack and one stack per connector of an environment (cdktf.out/)."""
    from generator.app import DEFAULT_OUTDIR, synthesize
    from generator.layer import LayerBuildError

    try:
        outdir = synthesize(env, out or DEFAULT_OUTDIR)
    except InvalidInput as invalid:
        raise console.invalid_input(invalid) from None
    except LayerBuildError as error:
        raise console.fail(str(error)) from None
    console.result(f"stacks of {env} written to {outdir}")


@app.command()
def deploy(
    env: Annotated[str, typer.Option("--env", help="environment: environments/<ENV>.yaml")],
    stacks: Annotated[
        list[str] | None, typer.Argument(help="stacks to deploy; default: all of them")
    ] = None,
) -> None:
    """Deploy an environment's stacks with the pinned cdktf-cli (`cdktf deploy --auto-approve`)."""
    import time

    from generator.deploy import DeployError
    from generator.deploy import deploy as cdktf_deploy
    from generator.environments import load_environment
    from generator.local.errors import LocalError
    from generator.local.services import running_state

    try:
        environment = load_environment(env)
        extra = None
        if environment.emulator:
            # synthesize against, and deploy into, the emulator that `local up` started
            state = running_state()
            extra = {**state.aws_variables(), "REEF_EMULATOR_ENDPOINT": state.emulator.endpoint}
        started = time.monotonic()
        cdktf_deploy(environment, stacks or [], extra)
    except InvalidInput as invalid:
        raise console.invalid_input(invalid) from None
    except (DeployError, LocalError) as error:
        raise console.fail(str(error)) from None
    console.log(f"deployed {env} in {time.monotonic() - started:.0f} s")


@app.command()
def trigger(
    connector: Annotated[str, typer.Argument(help="the connector whose schedule fires")],
    env: Annotated[str, typer.Option("--env", help="environment")] = "local",
    timelabel: Annotated[
        str | None, typer.Option("--timelabel", help="the tick's time, ISO 8601; default: now")
    ] = None,
) -> None:
    """Fire a connector's schedule now, with the event its EventBridge rule sends."""
    from datetime import UTC, datetime

    from generator.environments import load_environment
    from generator.local.errors import LocalError
    from generator.local.runtime import LocalRuntime
    from generator.local.services import running_state
    from generator.trigger import trigger_remotely

    try:
        tick = datetime.fromisoformat(timelabel).astimezone(UTC) if timelabel else None
    except ValueError:
        raise console.invalid(
            f"--timelabel {timelabel!r} is not ISO 8601, such as 2024-05-01T10:15:00Z"
        ) from None
    try:
        environment = load_environment(env)
        if environment.emulator is None:
            console.result(f"invoked, request {trigger_remotely(environment, connector, tick)}")
            return
        state = running_state()
        invocation = LocalRuntime(state.emulator.endpoint, state.region, state.account).trigger(
            connector, tick
        )
    except InvalidInput as invalid:
        raise console.invalid_input(invalid) from None
    except LocalError as error:
        raise console.fail(str(error)) from None
    if not invocation.ok:
        raise console.fail(f"{invocation.function} failed: {invocation.error}")
    console.result(
        f"{invocation.function} ran in {invocation.seconds:.1f} s;"
        " `python main.py local run --until-idle` moves the rest"
    )


@app.command()
def new(
    source: Annotated[str, typer.Argument(help="kind of source: postgres, salesforce or kinesis")],
    name: Annotated[str, typer.Argument(help="connector name, such as shop-orders")],
    out: Annotated[
        Path | None, typer.Option(help="folder to write NAME.yaml in; default: connectors/")
    ] = None,
) -> None:
    """Write a commented connector spec from a template; it validates as written."""
    from generator.operations.new import SOURCE_KINDS, NewSpecError, write_spec
    from generator.specs import connectors_dir

    if source not in SOURCE_KINDS:
        raise console.invalid(
            f"unknown source {source!r}; expected one of: postgres, salesforce, kinesis"
        )
    try:
        path = write_spec(source, name, out or connectors_dir())  # type: ignore[arg-type]
    except NewSpecError as refused:
        raise console.invalid(str(refused)) from None
    console.result(str(path))
    console.log(f"wrote {path}; edit it, then run `python main.py validate {path}`")


@app.command()
def cost(
    connector: Annotated[str, typer.Argument(help="connector name")],
    rows_per_day: Annotated[int, typer.Option(min=0, help="rows the source adds or changes a day")],
    row_bytes: Annotated[int, typer.Option(min=1, help="average bytes of one row")] = 200,
    env: Annotated[str, typer.Option(help="environment whose Lambda settings apply")] = "local",
    json_output: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Estimate a connector's monthly AWS cost, line by line, from its schedule and settings."""
    from generator.environments import load_environment
    from generator.operations.cost import EXCLUDED, estimate

    spec = spec_named(connector, valid_specs())
    try:
        environment = load_environment(env)
    except InvalidInput as invalid:
        raise console.invalid_input(invalid) from None
    result = estimate(spec, environment, rows_per_day, row_bytes)
    if json_output:
        console.result_json(result.as_json())
        return
    rows = [
        [line.service, line.item, line.quantity, line.unit, f"{line.monthly_usd:.4f}", line.note]
        for line in result.lines
    ]
    console.table(
        ["service", "item", "quantity", "unit", "usd_month", "note"],
        rows,
        title=f"{connector} in {env}: about ${result.total_usd:.2f} a month",
    )
    console.result(f"total\t{result.total_usd:.2f} USD a month")
    console.log(
        f"us-east-1 list prices read {result.prices_read_on}"
        " (generator/pricing/aws-prices.yaml); prices change. Not included: "
        + ", ".join(EXCLUDED)
        + "."
    )


@app.command()
def graph(
    env: Annotated[str, typer.Option(help="environment to draw")] = "local",
    out: Annotated[
        Path | None, typer.Option(help="SVG file to write, PNG beside it; default docs/flows-ENV")
    ] = None,
    dot_only: Annotated[bool, typer.Option("--dot", help="print the DOT text only")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="print the files as JSON")] = False,
) -> None:
    """Draw the environment's flows (sources, topics, queues, functions, stores) as SVG and PNG."""
    from generator.environments import check_overrides, load_environment
    from generator.operations.graph import GraphvizMissing, flows_dot, render

    try:
        specs = load_specs()
        environment = load_environment(env)
        check_overrides(environment, specs)
    except InvalidInput as invalid:
        raise console.invalid_input(invalid) from None
    text = flows_dot(environment, specs)
    if dot_only:
        console.result(text.rstrip("\n"))
        return
    target = out or Path(__file__).resolve().parent / "docs" / f"flows-{env}.svg"
    try:
        written = render(text, target)
    except GraphvizMissing as missing:
        raise console.fail(str(missing)) from None
    if json_output:
        console.result_json({"connectors": sorted(specs), "files": [str(p) for p in written]})
    else:
        for path in written:
            console.result(str(path))


@app.command()
def explain(
    connector: Annotated[str, typer.Argument(help="the connector's name, as in its spec")],
    env: Annotated[
        str | None, typer.Option("--env", help="environment: environments/<ENV>.yaml")
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Print, per unit, the extraction query and the load statements that would run."""
    from generator.environments import check_overrides, load_environment
    from generator.operations.explain import explain_connector, explain_units

    specs = valid_specs()
    spec = spec_named(connector, specs)
    if env is not None:
        try:
            check_overrides(load_environment(env), specs)
        except InvalidInput as invalid:
            raise console.invalid_input(invalid) from None
    if json_output:
        console.result_json({"connector": connector, "units": explain_units(spec)})
        return
    typer.echo(explain_connector(spec), nl=False)


@app.command()
def status(
    connector: Annotated[
        str | None, typer.Argument(help="the connector's name; default: every connector")
    ] = None,
    env: Annotated[str, typer.Option("--env", help="environment")] = "local",
    json_output: Annotated[bool, typer.Option("--json", help="stable JSON for scripts")] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, help="batches per unit")] = 5,
) -> None:
    """Show per unit the newest batches: state, rows, bytes, durations and error."""
    from generator.environments import load_environment
    from generator.local.services import use_emulator
    from generator.operations.status import (
        StatusUnavailable,
        collect_status,
        render_json,
        render_text,
    )

    specs = valid_specs()
    if connector is not None:
        chosen = [spec_named(connector, specs)]
    else:
        chosen = [specs[name] for name in sorted(specs)]
    try:
        environment = load_environment(env)
    except InvalidInput as invalid:
        raise console.invalid_input(invalid) from None
    use_emulator(environment)
    try:
        found = collect_status(environment, chosen, limit)
    except StatusUnavailable as unavailable:
        raise console.fail(str(unavailable)) from None
    typer.echo(render_json(found) if json_output else render_text(found), nl=not json_output)


@app.command()
def diff(
    env: Annotated[str, typer.Option("--env", help="environment: environments/<ENV>.yaml")],
    stacks: Annotated[
        list[str] | None, typer.Argument(help="stacks to plan; default: all of them")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="synthesis folder; default: cdktf.out")
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Plan each stack with Terraform and summarize it; exit 3 when anything would change."""
    from generator.app import DEFAULT_OUTDIR, synthesize
    from generator.deploy import terraform_variables
    from generator.environments import load_environment
    from generator.layer import LayerBuildError
    from generator.local.errors import LocalError
    from generator.local.services import running_state
    from generator.operations.diff import (
        DiffFailed,
        exit_code_of,
        plan_stack,
        stacks_in,
        synthesize_with,
    )
    from generator.provider import EMULATOR_ENDPOINT_VARIABLE

    try:
        environment = load_environment(env)
        extra: dict[str, str] = {}
        if environment.emulator:
            # plan against the emulator that `local up` started, as `deploy` does
            state = running_state()
            extra = {
                **state.aws_variables(),
                EMULATOR_ENDPOINT_VARIABLE: state.emulator.endpoint,
            }
        outdir = synthesize_with(extra, lambda: synthesize(env, out or DEFAULT_OUTDIR))
        chosen = stacks_in(outdir / "stacks", stacks or [])
    except InvalidInput as invalid:
        raise console.invalid_input(invalid) from None
    except ValueError as unknown:
        raise console.invalid(str(unknown)) from None
    except (LayerBuildError, LocalError) as error:
        raise console.fail(str(error)) from None
    variables = terraform_variables(environment, extra)
    plans = []
    with console.progress("planning", len(chosen)) as advance:
        for stack in chosen:
            console.log(f"planning {stack}")
            try:
                plans.append(plan_stack(outdir / "stacks" / stack, variables))
            except DiffFailed as failed:
                raise console.fail(str(failed)) from None
            advance()
    code = exit_code_of(plans, console.EXIT_CHANGES)
    if json_output:
        console.result_json({"environment": env, "stacks": [p.as_json() for p in plans]})
    else:
        console.table(
            ["stack", "add", "change", "destroy"],
            [[p.stack, len(p.add), len(p.change), len(p.destroy)] for p in plans],
            title=f"plan of {env}",
        )
        for plan in plans:
            for verb, addresses in (("+", plan.add), ("~", plan.change), ("-", plan.destroy)):
                for address in sorted(addresses):
                    console.log(f"{plan.stack}: {verb} {address}")
    raise typer.Exit(code)


def _deployed(env: str) -> "tuple[Any, Any]":
    """The environment and its deployed resources, or the exit for a bad environment."""
    from generator.environments import load_environment
    from generator.local.services import use_emulator
    from generator.operations.trace import Deployed

    try:
        environment = load_environment(env)
    except InvalidInput as invalid:
        raise console.invalid_input(invalid) from None
    use_emulator(environment)
    return environment, Deployed.of(environment)


@app.command()
def trace(
    batch_id: Annotated[str, typer.Argument(help="a batch id, as `status` shows it")],
    env: Annotated[str, typer.Option("--env", help="environment")] = "local",
    json_output: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Show one batch's timeline (scheduled, chunks, extracted, loaded or failed) and queues."""
    from generator.operations.trace import Refused, Unavailable, render_text, trace_batch

    _, deployed = _deployed(env)
    try:
        document = trace_batch(deployed, batch_id)
    except Refused as refused:
        raise console.invalid(str(refused)) from None
    except Unavailable as unavailable:
        raise console.fail(str(unavailable)) from None
    if json_output:
        console.result_json(document)
        return
    batch = document["batch"]
    console.table(
        ["at", "event", "details"],
        render_text(document),
        title=f"{batch['connector']}/{batch['unit']} {batch_id}: {batch['state']}",
    )
    for queue in document["queues"]:
        found = f", {queue['batch_messages']} of this batch" if queue["dead_letter"] else ""
        console.log(
            f"{queue['queue']}: {queue['visible']} visible, {queue['in_flight']} in flight,"
            f" {queue['delayed']} delayed{found}"
        )
        for error in queue.get("errors", []):
            console.log(f"  dead-lettered because: {error}")


@app.command()
def backfill(
    connector: Annotated[str, typer.Argument(help="connector name")],
    *,
    unit: Annotated[str, typer.Option("--unit", help="the unit (table or object) to backfill")],
    start: Annotated[str, typer.Option("--from", help="range start, ISO 8601, inclusive")],
    end: Annotated[str, typer.Option("--to", help="range end, ISO 8601, in the past")],
    env: Annotated[str, typer.Option("--env", help="environment")] = "local",
    slice_minutes: Annotated[
        int | None, typer.Option(min=1, help="minutes per batch; default: the schedule's period")
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Schedule batches for a past cursor range, oldest first; the watermark is left alone."""
    from datetime import UTC, datetime

    from generator.operations import backfill as backfilling
    from generator.operations.trace import Refused, Unavailable

    moments = []
    for option, text in (("--from", start), ("--to", end)):
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise console.invalid(
                f"{option} {text!r} is not ISO 8601, such as 2024-05-01T10:15:00Z"
            ) from None
        moments.append(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
    spec = spec_named(connector, valid_specs())
    environment, deployed = _deployed(env)
    now = datetime.now(UTC)
    try:
        planned = backfilling.plan(
            spec,
            unit,
            start=moments[0],
            end=moments[1],
            now=now,
            schedule=backfilling.schedule_in_force(spec, environment.overrides),
            slice_minutes=slice_minutes,
        )
        with console.progress(f"backfilling {unit}", len(planned)) as advance:
            batches = backfilling.schedule(deployed, spec, unit, planned, now=now, advance=advance)
    except Refused as refused:
        raise console.invalid(str(refused)) from None
    except Unavailable as unavailable:
        raise console.fail(str(unavailable)) from None
    rows = [[b.timelabel, b.batch_id, b.bounds.lower, b.bounds.upper] for b in batches]
    if json_output:
        console.result_json(
            {
                "connector": connector,
                "unit": unit,
                "batches": [
                    {"timelabel": t, "batch_id": i, "lower": lo, "upper": up}
                    for t, i, lo, up in rows
                ],
            }
        )
    else:
        console.table(["timelabel", "batch_id", "lower", "upper"], rows)
    console.log(f"scheduled {len(batches)} backfill batches of {connector}/{unit}")


@app.command()
def redrive(
    connector: Annotated[str, typer.Argument(help="connector name")],
    queue: Annotated[
        str | None, typer.Option("--queue", help="extract or load; default: both")
    ] = None,
    env: Annotated[str, typer.Option("--env", help="environment")] = "local",
    json_output: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Move dead-lettered messages back to their queue; FAILED batches may then run again."""
    from datetime import UTC, datetime

    from generator.operations.redrive import redrive as move_back
    from generator.operations.trace import QUEUE_KINDS, Unavailable

    if queue is not None and queue not in QUEUE_KINDS:
        raise console.invalid(f"--queue {queue!r}: expected extract or load")
    spec_named(connector, valid_specs())  # an unknown connector is refused before AWS
    _, deployed = _deployed(env)
    kinds = (queue,) if queue else QUEUE_KINDS
    try:
        results = move_back(deployed, connector, kinds, datetime.now(UTC))
    except Unavailable as unavailable:
        raise console.fail(str(unavailable)) from None
    if json_output:
        console.result_json({"connector": connector, "queues": [r.as_json() for r in results]})
        return
    for result in results:
        console.result(f"{result.queue} -> {result.to}: {result.moved} moved")
        if result.retried:
            console.log(f"  set back to run again: {', '.join(sorted(set(result.retried)))}")
        if result.unreadable:
            console.warn(f"  {result.unreadable} messages name no batch; moved as they were")


def _add_local_commands() -> None:
    from generator.local.commands import local_app

    app.add_typer(local_app, name="local")


_add_local_commands()


def cdktf_app() -> None:
    """What `cdktf synth` runs: the stacks of the environment in REEF_ENV (default local)."""
    from generator.app import synthesize

    try:
        synthesize(os.environ.get("REEF_ENV", "local"))
    except InvalidInput as invalid:
        raise SystemExit(console.invalid_input(invalid).exit_code) from None


if __name__ == "__main__":
    if len(sys.argv) == 1 and os.environ.get("CDKTF_OUTDIR"):
        cdktf_app()
    else:
        app()
