"""The local runtime: Lambda's pollers and EventBridge's schedules, over what is deployed."""

import json
import logging
import time
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3

from generator.local.errors import NotDeployed, ServiceTimeout
from generator.local.runtime.events import scheduled_event, target_event
from generator.local.runtime.invoker import Handler, Invocation, Invoker
from generator.local.runtime.kinesis import StreamPoller
from generator.local.runtime.sqs import QueuePoller
from generator.local.runtime.wiring import DeployedFunction, Wiring, read_wiring
from generator.local.state import TEST_ACCESS_KEY_ID, TEST_SECRET_ACCESS_KEY
from handlers.contracts.runtime import CONNECTOR, SCHEDULER_HANDLER
from handlers.contracts.schedule import parse_schedule

logger = logging.getLogger(__name__)

IDLE_POLL_SECONDS = 0.2
DEFAULT_RETRY_DELAY_SECONDS = 1


@dataclass
class RunSummary:
    """What a run did, per function: calls, failed calls, and records delivered and retried."""

    invocations: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    records: Counter[str] = field(default_factory=Counter)
    failed_records: Counter[str] = field(default_factory=Counter)
    discarded_records: int = 0

    def add(self, invocation: Invocation, records: int = 0, failed: int = 0) -> None:
        self.invocations[invocation.function] += 1
        self.errors[invocation.function] += 0 if invocation.ok else 1
        self.records[invocation.function] += records
        self.failed_records[invocation.function] += failed

    def lines(self) -> list[str]:
        return [
            f"{name}: {self.invocations[name]} call(s), {self.errors[name]} failed,"
            f" {self.records[name]} record(s), {self.failed_records[name]} returned for retry"
            for name in sorted(self.invocations)
        ]


class LocalRuntime:
    """Polls the deployed queues and streams and calls the handlers, one call at a time.

    `handlers` maps a function name to a callable that replaces its deployed handler, so that
    tests can drive simple handlers through the real wiring; `only_functions` limits polling
    to the mappings of those functions. `checkpoint_path` keeps the Kinesis shard positions
    between runs (Lambda keeps them in the mapping). `duplicate_deliveries` and
    `visibility_timeout_seconds` are for fault tests; see QueuePoller.
    """

    def __init__(
        self,
        endpoint: str | None,
        region: str,
        account: str,
        *,
        handlers: Mapping[str, Handler] | None = None,
        retry_delay_seconds: int = DEFAULT_RETRY_DELAY_SECONDS,
        checkpoint_path: Path | None = None,
        only_functions: Collection[str] | None = None,
        duplicate_deliveries: bool = False,
        visibility_timeout_seconds: int | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.region = region
        self.account = account
        # the emulator takes any credentials, and the machine may have none configured
        credentials = (
            {
                "aws_access_key_id": TEST_ACCESS_KEY_ID,
                "aws_secret_access_key": TEST_SECRET_ACCESS_KEY,
            }
            if endpoint
            else {}
        )
        self.session = boto3.Session(region_name=region, **credentials)
        self.sqs = self.session.client("sqs", endpoint_url=endpoint)
        self.kinesis = self.session.client("kinesis", endpoint_url=endpoint)
        self.invoker = Invoker(endpoint, region, handlers)
        self.retry_delay_seconds = retry_delay_seconds
        self.checkpoint_path = checkpoint_path
        self.only_functions = set(only_functions) if only_functions is not None else None
        self.duplicate_deliveries = duplicate_deliveries
        self.visibility_timeout_seconds = visibility_timeout_seconds
        self.checkpoints: dict[str, str] = self._load_checkpoints()
        self.summary = RunSummary()
        self.wiring = Wiring()
        self._queue_pollers: list[QueuePoller] = []
        self._stream_pollers: list[StreamPoller] = []

    def refresh(self) -> Wiring:
        """Read the deployed functions, mappings and schedules again."""
        self.wiring = read_wiring(self.session, self.endpoint)
        self._queue_pollers = [
            QueuePoller(
                m,
                self._function(m.function_name),
                sqs=self.sqs,
                invoker=self.invoker,
                retry_delay_seconds=self.retry_delay_seconds,
                region=self.region,
                duplicate_deliveries=self.duplicate_deliveries,
                visibility_timeout_seconds=self.visibility_timeout_seconds,
            )
            for m in self.wiring.queue_mappings
            if m.enabled and self._polls(m.function_name)
        ]
        self._stream_pollers = [
            StreamPoller(
                m,
                self._function(m.function_name),
                kinesis=self.kinesis,
                destinations=self._send_to,
                invoker=self.invoker,
                checkpoints=self.checkpoints,
                region=self.region,
            )
            for m in self.wiring.stream_mappings
            if m.enabled and self._polls(m.function_name)
        ]
        return self.wiring

    def poll_once(self) -> int:
        """One round over every queue and stream; the number of messages and records delivered."""
        delivered = 0
        for queue_poller in self._queue_pollers:
            outcome = queue_poller.poll()
            if outcome is not None:
                self.summary.add(
                    outcome.invocation, outcome.succeeded + outcome.failed, outcome.failed
                )
                delivered += outcome.succeeded + outcome.failed
        for stream_poller in self._stream_pollers:
            stream_poller.invocations.clear()
            read = stream_poller.poll()
            for invocation in stream_poller.invocations:
                self.summary.add(invocation)
            self.summary.discarded_records += stream_poller.discarded
            stream_poller.discarded = 0
            self.summary.records[stream_poller.function.name] += read
            delivered += read
        self._save_checkpoints()
        return delivered

    def run_until_idle(self, timeout_seconds: float = 300) -> RunSummary:
        """Poll until no mapped queue holds a message (visible, in flight or delayed) and no
        stream has unread records; ServiceTimeout when that takes longer than the timeout."""
        if not self._queue_pollers and not self._stream_pollers:
            self.refresh()
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            if self.poll_once():
                continue
            if self.is_idle():
                return self.summary
            time.sleep(IDLE_POLL_SECONDS)
        raise ServiceTimeout(
            f"the local runtime was not idle after {timeout_seconds:.0f} s; queues still hold"
            f" messages: {', '.join(self.busy_queues()) or 'none'}"
        )

    def run_forever(self, stop_after_seconds: float | None = None) -> RunSummary:
        """Poll, and fire rate schedules when they tick, until interrupted or the time is up."""
        self.refresh()
        last_tick: dict[str, datetime] = {}
        started = time.monotonic()
        while stop_after_seconds is None or time.monotonic() - started < stop_after_seconds:
            self._fire_due_schedules(last_tick)
            if not self.poll_once():
                time.sleep(IDLE_POLL_SECONDS)
        return self.summary

    def is_idle(self) -> bool:
        return not self.busy_queues() and not any(
            poller.has_unread_records() for poller in self._stream_pollers
        )

    def busy_queues(self) -> list[str]:
        busy = []
        for poller in self._queue_pollers:
            attributes = self.sqs.get_queue_attributes(
                QueueUrl=poller.mapping.queue_url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                    "ApproximateNumberOfMessagesDelayed",
                ],
            )["Attributes"]
            if any(int(value) for value in attributes.values()):
                busy.append(poller.mapping.queue_arn.rsplit(":", 1)[1])
        return busy

    def trigger(self, connector: str, time_: datetime | None = None) -> Invocation:
        """Fire the connector's schedule now: call its scheduler as its rule would."""
        if not self.wiring.functions:
            self.refresh()
        rule, function, constant_input = self._schedule_of(connector)
        event = scheduled_event(rule, self.region, self.account, time_)
        invocation = self.invoker.invoke(function, target_event(constant_input, event))
        self.summary.add(invocation)
        return invocation

    def _schedule_of(self, connector: str) -> tuple[str, DeployedFunction, str | None]:
        return find_schedule(self.wiring, connector)

    def dead_letter_counts(self) -> dict[str, int]:
        """Messages in the dead-letter queue of each mapped queue, by dead-letter queue name."""
        counts = {}
        for poller in self._queue_pollers:
            attributes = self.sqs.get_queue_attributes(
                QueueUrl=poller.mapping.queue_url, AttributeNames=["RedrivePolicy"]
            )["Attributes"]
            if "RedrivePolicy" not in attributes:
                continue
            dlq_arn = json.loads(attributes["RedrivePolicy"])["deadLetterTargetArn"]
            name, account = dlq_arn.split(":")[5], dlq_arn.split(":")[4]
            url = self.sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
            depth = self.sqs.get_queue_attributes(
                QueueUrl=url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                ],
            )["Attributes"]
            counts[name] = sum(int(value) for value in depth.values())
        return counts

    def _fire_due_schedules(self, last_tick: dict[str, datetime]) -> None:
        # Only rate() schedules tick here. cron() schedules would need a cron evaluator,
        # which Reef does not have yet; `python main.py trigger CONNECTOR` fires them by hand.
        now = datetime.now(UTC)
        for rule in self.wiring.schedules:
            schedule = (
                parse_schedule(rule.expression) if rule.expression.startswith("rate(") else None
            )
            if not rule.enabled or schedule is None:
                continue
            tick = schedule.timelabel(now)
            if last_tick.setdefault(rule.name, tick) == tick:
                continue
            last_tick[rule.name] = tick
            for target_arn, constant_input in rule.targets:
                function = self.wiring.function_by_arn(target_arn)
                if function is not None:
                    event = scheduled_event(rule.arn, self.region, self.account, tick)
                    self.summary.add(
                        self.invoker.invoke(function, target_event(constant_input, event))
                    )

    def _polls(self, function_name: str) -> bool:
        return self.only_functions is None or function_name in self.only_functions

    def _function(self, name: str) -> DeployedFunction:
        return self.wiring.functions[name]

    def _send_to(self, destination_arn: str, message: str) -> None:
        service = destination_arn.split(":")[2]
        if service == "sqs":
            name, account = destination_arn.split(":")[5], destination_arn.split(":")[4]
            url = self.sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
            self.sqs.send_message(QueueUrl=url, MessageBody=message)
        elif service == "sns":
            self.session.client("sns", endpoint_url=self.endpoint).publish(
                TopicArn=destination_arn, Message=message
            )

    def _load_checkpoints(self) -> dict[str, str]:
        if self.checkpoint_path is None or not self.checkpoint_path.exists():
            return {}
        loaded: dict[str, str] = json.loads(self.checkpoint_path.read_text())
        return loaded

    def _save_checkpoints(self) -> None:
        if self.checkpoint_path is not None:
            self.checkpoint_path.parent.mkdir(parents=True, exist_ok=True)
            self.checkpoint_path.write_text(json.dumps(self.checkpoints, indent=2, sort_keys=True))


def find_schedule(wiring: Wiring, connector: str) -> tuple[str, DeployedFunction, str | None]:
    """The schedule rule ARN, scheduler function and constant Input of a connector."""
    for rule in wiring.schedules:
        for target_arn, constant_input in rule.targets:
            function = wiring.function_by_arn(target_arn)
            if function is not None and _schedules_connector(function, connector):
                return rule.arn, function, constant_input
    known = sorted({f.environment.get(CONNECTOR, "") for f in wiring.functions.values()} - {""})
    raise NotDeployed(
        f"no schedule rule targets a scheduler of connector {connector!r};"
        f" deployed connectors: {', '.join(known) or 'none'}. Deploy its stack first"
        " (python main.py deploy --env ENV)"
    )


def _schedules_connector(function: DeployedFunction, connector: str) -> bool:
    return (
        function.environment.get(CONNECTOR) == connector and function.handler == SCHEDULER_HANDLER
    )


def summary_counts(summary: RunSummary) -> dict[str, Any]:
    """The summary as plain numbers, for printing as JSON."""
    return {
        "invocations": dict(summary.invocations),
        "errors": dict(summary.errors),
        "records": dict(summary.records),
        "returned_for_retry": dict(summary.failed_records),
    }
