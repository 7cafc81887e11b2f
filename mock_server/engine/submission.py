"""Turning a validated submission into a stored workflow: outcomes, ids, plans. Pure functions, no lock."""

from __future__ import annotations

import ipaddress
import posixpath
import random
from dataclasses import replace
from typing import Any
from urllib.parse import unquote, urlsplit

from civitai_mock.contracts.cost import step_cost
from civitai_mock.contracts.image import FILE_EXTENSIONS, ImageInput
from civitai_mock.contracts.outcomes import SUCCEED, Outcome, OutcomeError, parse_directives
from civitai_mock.contracts.paths import CONTROL_PREFIX
from civitai_mock.contracts.timespan import (
    DEFAULT_STEP_TIMEOUT_SECONDS,
    format_timespan,
    parse_timespan,
)
from civitai_mock.contracts.validation import ContractViolation, Submission
from civitai_mock.contracts.workflow import MAX_STEPS
from civitai_mock.mock_server.engine import lifecycle
from civitai_mock.mock_server.engine.ids import IdFactory
from civitai_mock.mock_server.engine.records import NO_TIPS, NONE_LISTED, NOTHING, StepRecord, WorkflowRecord

LOOPBACK_NAMES = ("localhost",)
#: The names of unnamed steps ("$0", "$1", …), made once: a record holds these strings, not copies.
UNNAMED: tuple[str, ...] = tuple(f"${index}" for index in range(MAX_STEPS))
HTTP_REFUSED = ("Callback URLs must use https (plain http is accepted for loopback hosts only, when the fake "
                "runs locally; `serve --no-http-callbacks` refuses those too)")


def callback_problem(url: str, allow_http: bool) -> str | None:
    """Why a callback URL is refused, or None. Parsed, not matched as text: user information, ports,
    IDNA hosts and percent-encoded paths cannot smuggle a request past the loopback rule or into
    the fake's own control API."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        return HTTP_REFUSED
    if "@" in parts.netloc:
        return "Callback URLs must not carry user information (user:password@)"
    try:
        host, _ = parts.hostname, parts.port
        host = host.encode("idna").decode("ascii") if host else host
    except (ValueError, UnicodeError):
        return "The callback URL's host or port is not valid"
    if not host:
        return "The callback URL has no host"
    if posixpath.normpath("/" + unquote(parts.path).lstrip("/")).startswith(CONTROL_PREFIX):
        return "Callbacks may not call the fake's own control API (/_mock)"
    if scheme == "https":
        return None
    if allow_http and _is_loopback(host):
        return None
    return HTTP_REFUSED


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_callbacks(submission: Submission, allow_http: bool) -> None:
    """400 with the path of every callback URL the fake will not call."""
    if not submission.template.callbacks:
        return
    errors = {f"callbacks[{index}].url": [problem]
              for index, callback in enumerate(submission.template.callbacks)
              if (problem := callback_problem(callback.url, allow_http)) is not None}
    if errors:
        raise ContractViolation(errors)


def forced_outcomes(submission: Submission) -> list[Outcome | None]:
    """The outcome each step's prompt directives force (None where there are none); 400 for bad ones."""
    found: list[Outcome | None] = []
    for index, step in enumerate(submission.steps):
        try:
            found.append(parse_directives(step.input.prompt))
        except OutcomeError as exc:
            raise ContractViolation({f"steps[{index}].input.prompt": [str(exc)]}) from None
    return found


def takes_queued(forced: Outcome | None) -> bool:
    """A step takes the next queued outcome unless its prompt forces an ending of its own."""
    return forced is None or forced.kind == "succeed"


def assign(forced: list[Outcome | None], queued: list[Outcome]) -> list[Outcome]:
    """Each step's ending: the next of the ``queued`` outcomes for every step that takes one, combined
    with what its prompt forces."""
    if not queued and forced.count(None) == len(forced):  # the common case: nothing forced, nothing queued
        return [SUCCEED] * len(forced)
    taken = iter(queued)
    return [combine(one, next(taken, None) if takes_queued(one) else None) for one in forced]


def combine(forced: Outcome | None, queued: Outcome | None) -> Outcome:
    """A queued ending, refined by the prompt's timing / content directives."""
    if queued is not None and forced is not None:
        queued = replace(queued, runtime=forced.runtime if forced.runtime is not None else queued.runtime,
                         nsfw_level=forced.nsfw_level or queued.nsfw_level)
    return queued or forced or SUCCEED


def step_timeout(template_timeout: str | None) -> float:
    """Seconds a step may run: its ``timeout`` or the default."""
    return parse_timespan(template_timeout) if template_timeout else DEFAULT_STEP_TIMEOUT_SECONDS


def tip_rates(submission: Submission) -> dict[str, float]:
    """The tip rates a submission asks for (0 when it names none)."""
    tips = submission.template.tips
    return {"civitai": tips.civitai, "creators": tips.creators} if tips else NO_TIPS


def step_prices(submission: Submission) -> list[int]:
    """Buzz each step costs (what its record's ``price`` says), known before anything is drawn for it."""
    return [step_cost(step.input) for step in submission.steps]


def build_record(tenant: str, submission: Submission, outcomes: list[Outcome], order: list[str],
                 transactions: list[dict[str, Any]], now: float, ids: IdFactory,
                 rng: random.Random, scale: float = 1.0, prices: list[int] | None = None,
                 tips: dict[str, float] | None = None) -> WorkflowRecord:
    """A new workflow record with a drawn plan for every step (``prices``: the steps' prices, and
    ``tips``: the tip rates, when already known; computed from the submission otherwise).

    A step that waits on other steps gets a draft plan (drawn as if its dependencies ended at 0);
    ``dependencies.compose`` turns it into its plan once the record is complete.
    """
    template = submission.template
    steps = []
    for index, (step, outcome) in enumerate(zip(submission.steps, outcomes)):
        timeout = step_timeout(step.template.timeout)
        parsed = step.input
        extension = FILE_EXTENSIONS[parsed.output_format] if isinstance(parsed, ImageInput) else "mp4"
        draft = lifecycle.plan_step(parsed, outcome, 0.0, timeout, rng, scale) if step.depends_on else None
        # in field order, by position: the records are built for every submit, and naming 18 and 19
        # keywords costs more than building them (tests/test_engine_edges.py checks each field's source)
        steps.append(StepRecord(
            step.template.name or UNNAMED[index],  # name
            step.echo or parsed.to_json(),  # input
            step.template.priority or "normal",  # priority
            format_timespan(timeout),  # timeout
            step.template.retries,  # retries
            step.template.metadata or NOTHING,  # metadata
            ids.uuid(),  # job_id (ids and the plan are drawn in this order)
            ids.blob_id(extension),  # blob_id
            outcome.nsfw_level or "pg",  # nsfw_level
            outcome,  # outcome
            draft or lifecycle.plan_step(parsed, outcome, now, timeout, rng, scale),  # plan
            step.type_,  # type_
            tuple(step.depends_on),  # depends_on
            draft,  # draft
            None,  # errors
            None,  # _parsed: the model is not kept (see StepRecord)
            None,  # _resolved
            prices[index] if prices is not None else None,  # _price
        ))
    return WorkflowRecord(
        ids.workflow_id(now),  # id
        tenant,  # tenant
        0,  # seq
        now,  # created
        steps,  # steps
        transactions,  # transactions
        template.metadata or NOTHING,  # metadata
        template.tags or NONE_LISTED,  # tags
        template.arguments or NOTHING,  # arguments
        [c.to_json() for c in template.callbacks] if template.callbacks else NONE_LISTED,  # callbacks
        tips if tips is not None else tip_rates(submission),  # tips
        template.experimental,  # experimental
        template.allow_mature_content,  # allow_mature_content
        template.upgrade_mode or "manual",  # upgrade_mode
        order,  # currencies
        template.ephemeral,  # ephemeral
        template.external_id,  # external_id
        template.nsfw_level,  # nsfw_ceiling
    )


def replan(record: WorkflowRecord, index: int, rng: random.Random, scale: float = 1.0) -> None:
    """Draw a new ending for step ``index`` after its input changed (queue times stay)."""
    step = record.steps[index]
    step.plan = lifecycle.replan_step(step.plan, step.parsed_input(), step.outcome, record.created,
                                      parse_timespan(step.timeout), rng, scale)
    record.plans_changed()
