"""`graph`: a picture of an environment's flows, drawn from the specs with Graphviz.

The DOT text is built from the specs alone, in a fixed order, so the same specs always give
the same picture; `dot` then lays it out as SVG and PNG. Resource names follow the connector
stacks (generator/stacks): `<connector>-extract`, `<connector>-extract-dlq`, and so on.
"""

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from generator.environments import Environment
from generator.naming import resource_prefix
from handlers.contracts.spec import (
    ConnectorSpec,
    KinesisSource,
    PostgresSource,
    RedshiftDestination,
    SalesforceSource,
)

# colours by kind of resource, close to the AWS architecture icons' palette
_STYLE = {
    "source": 'shape=cylinder style=filled fillcolor="#dbe9f6"',
    "schedule": 'shape=note style=filled fillcolor="#f9d9e8"',
    "function": 'shape=box style="rounded,filled" fillcolor="#fde2c4"',
    "topic": 'shape=hexagon style=filled fillcolor="#f6d2dc"',
    "queue": 'shape=box3d style=filled fillcolor="#f3d1e6"',
    "dlq": 'shape=box3d style="filled,dashed" fillcolor="#eeeeee" fontcolor="#555555"',
    "stream": 'shape=cds style=filled fillcolor="#e4d7f5"',
    "bucket": 'shape=folder style=filled fillcolor="#d6eed2"',
    "table": 'shape=cylinder style=filled fillcolor="#d3e3f9"',
    "warehouse": 'shape=cylinder style=filled fillcolor="#c9e7ee" penwidth=2',
}


# book-keeping edges do not shape the layout: they would drag every function towards the table
_LEDGER_EDGE = 'style=dotted color="#6d8fb3" arrowhead=none constraint=false'


class GraphvizMissing(Exception):
    """The `dot` program is not installed."""


@dataclass
class _Dot:
    lines: list[str] = field(default_factory=list)

    def node(self, node_id: str, kind: str, label: str, indent: str = "  ") -> None:
        self.lines.append(f'{indent}"{node_id}" [label="{_escape(label)}" {_STYLE[kind]}];')

    def edge(self, tail: str, head: str, label: str = "", extra: str = "") -> None:
        attributes = " ".join(part for part in (f'label="{label}"' if label else "", extra) if part)
        self.lines.append(f'  "{tail}" -> "{head}" [{attributes}];')


def flows_dot(environment: Environment, specs: dict[str, ConnectorSpec]) -> str:
    """The DOT text of every connector's flow in an environment."""
    prefix = resource_prefix(environment)
    bucket = f"{prefix}-staging-{environment.account}"
    table = f"{prefix}-bookkeeping"
    dot = _Dot()
    dot.lines += [
        f'digraph "reef-{environment.name}" {{',
        "  rankdir=LR; newrank=true; nodesep=0.25; ranksep=0.45;",
        f'  label="Reef flows in {environment.name} ({environment.region}):'
        ' solid edges carry messages and data; dashed edges are failures";',
        '  labelloc=t; fontname="Helvetica"; fontsize=16;',
        '  node [fontname="Helvetica" fontsize=10]; edge [fontname="Helvetica" fontsize=9];',
    ]
    dot.node(bucket, "bucket", f"S3 staging bucket\n{bucket}")
    dot.node(table, "table", f"DynamoDB book-keeping\n{table}")
    warehouses: dict[str, str] = {}
    for name in sorted(specs):
        _connector(dot, environment, specs[name], bucket, table, warehouses)
    dot.lines.append("}")
    return "\n".join(dot.lines) + "\n"


def render(dot_text: str, out: Path) -> list[Path]:
    """Render DOT text to out (.svg) and the PNG beside it; returns both paths."""
    program = shutil.which("dot")
    if program is None:
        raise GraphvizMissing(
            "Graphviz's `dot` is not installed; run `make setup` (or `apt-get install -y"
            " graphviz`), or print the DOT text with `graph --dot`"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for suffix in (".svg", ".png"):
        target = out.with_suffix(suffix)
        extra = ["-Gdpi=110"] if suffix == ".png" else []
        subprocess.run(
            [program, f"-T{suffix[1:]}", *extra, "-o", str(target)],
            input=dot_text.encode("utf-8"),
            check=True,
            capture_output=True,
        )
        written.append(target)
    return written


def _connector(  # noqa: PLR0917 - a private step of flows_dot
    dot: _Dot,
    environment: Environment,
    spec: ConnectorSpec,
    bucket: str,
    table: str,
    warehouses: dict[str, str],
) -> None:
    name = spec.name
    node = lambda role: f"{name}-{role}"  # noqa: E731 - one name rule, read at every use
    dot.lines.append(f'  subgraph "cluster_{name}" {{')
    dot.lines.append(f'    label="{name}"; style="rounded"; color="#888888"; fontsize=13;')
    inside = "    "
    enabled = environment.schedule_enabled(name)
    schedule = _schedule_in_force(environment, spec) + ("" if enabled else "\n(off here)")
    dot.node(node("schedule"), "schedule", f"EventBridge\n{node('schedule')}\n{schedule}", inside)
    dot.node(node("schedule-dlq"), "dlq", f"SQS DLQ\n{node('schedule-dlq')}", inside)
    dot.node(node("source"), "source", _source_label(spec), inside)
    dot.node(node("scheduler"), "function", f"λ {node('scheduler')}", inside)
    for event in ("scheduled", "extracted", "loaded", "failed"):
        if event == "scheduled" and isinstance(spec.source, KinesisSource):
            continue
        dot.node(node(event), "topic", f"SNS\n{node(event)}", inside)
    for queue in _queues(spec):
        dot.node(node(queue), "queue", f"SQS\n{node(queue)}", inside)
        dot.node(node(f"{queue}-dlq"), "dlq", f"SQS DLQ\n{node(f'{queue}-dlq')}", inside)
    workers = ["stream", "load"] if isinstance(spec.source, KinesisSource) else ["extract", "load"]
    for worker in workers:
        dot.node(node(f"{worker}-fn"), "function", f"λ {name}-{worker}", inside)
    if isinstance(spec.source, KinesisSource):
        dot.node(node("stream"), "stream", f"Kinesis\n{node('stream')}", inside)
        dot.node(node("stream-failures"), "dlq", f"SQS\n{node('stream-failures')}", inside)
    dot.lines.append("  }")

    warehouse = _warehouse(dot, spec, warehouses)
    dot.edge(node("schedule"), node("scheduler"), "tick")
    dot.edge(node("schedule"), node("schedule-dlq"), "undelivered", "style=dashed")
    if isinstance(spec.source, KinesisSource):
        _stream_edges(dot, name, bucket)
    else:
        _batch_edges(dot, name, bucket)
    dot.edge(node("extracted"), node("load"))
    dot.edge(node("load"), node("load-fn"))
    dot.edge(node("load"), node("load-dlq"), "poison", "style=dashed")
    dot.edge(bucket, node("load-fn"), "manifest, files")
    dot.edge(node("load-fn"), warehouse, f"{spec.destination.mode} into {spec.destination.schema_}")
    dot.edge(node("load-fn"), node("loaded"), "loaded")
    dot.edge(node("load-fn"), node("failed"), "", "style=dashed")
    for function in ("scheduler", f"{workers[0]}-fn", "load-fn"):
        dot.edge(node(function), table, "", _LEDGER_EDGE)


def _batch_edges(dot: _Dot, name: str, bucket: str) -> None:
    dot.edge(f"{name}-source", f"{name}-scheduler", "bounds", "style=dotted")
    dot.edge(f"{name}-scheduler", f"{name}-scheduled", "scheduled")
    dot.edge(f"{name}-scheduled", f"{name}-extract")
    dot.edge(f"{name}-extract", f"{name}-extract-fn")
    dot.edge(f"{name}-extract-fn", f"{name}-extract", "continuation")
    dot.edge(f"{name}-extract", f"{name}-extract-dlq", "poison", "style=dashed")
    dot.edge(f"{name}-source", f"{name}-extract-fn", "rows")
    dot.edge(f"{name}-extract-fn", bucket, "gzip chunks")
    dot.edge(f"{name}-extract-fn", f"{name}-extracted", "extracted")
    dot.edge(f"{name}-extract-fn", f"{name}-failed", "", "style=dashed")


def _stream_edges(dot: _Dot, name: str, bucket: str) -> None:
    dot.edge(f"{name}-source", f"{name}-stream", "records")
    dot.edge(f"{name}-stream", f"{name}-stream-fn", "batches")
    dot.edge(f"{name}-stream-fn", bucket, "files per timelabel")
    dot.edge(f"{name}-stream-fn", f"{name}-stream-failures", "on failure", "style=dashed")
    dot.edge(f"{name}-scheduler", f"{name}-extracted", "closed timelabels")


def _queues(spec: ConnectorSpec) -> list[str]:
    return ["load"] if isinstance(spec.source, KinesisSource) else ["extract", "load"]


def _source_label(spec: ConnectorSpec) -> str:
    source = spec.source
    if isinstance(source, PostgresSource):
        return f"PostgreSQL source\n{source.secret}\n{len(source.tables)} tables"
    if isinstance(source, SalesforceSource):
        return f"Salesforce ({source.domain})\n{source.secret}\n{len(source.objects)} objects"
    assert isinstance(source, KinesisSource)
    return f"producers\n→ table {source.table.name}"


def _warehouse(dot: _Dot, spec: ConnectorSpec, warehouses: dict[str, str]) -> str:
    destination = spec.destination
    if isinstance(destination, RedshiftDestination):
        where = destination.workgroup_name or destination.cluster_identifier
        label = f"Redshift\n{where} / {destination.database}"
    else:
        label = f"PostgreSQL warehouse\n{destination.secret}"
    node_id = "warehouse " + label.replace("\n", " ")
    if node_id not in warehouses:
        warehouses[node_id] = label
        dot.node(node_id, "warehouse", label)
    return node_id


def _schedule_in_force(environment: Environment, spec: ConnectorSpec) -> str:
    override = environment.overrides.get(spec.name)
    return override.schedule if override and override.schedule else spec.schedule


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
