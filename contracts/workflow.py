"""Workflow, step, job, blob, callback and problem models, named as the official schemas (events: events.py).

These models parse what the service answers (unknown fields and other step types tolerated) and
describe what the fake answers. Field names are camelCase in JSON; ``$type`` is ``type_``.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, Tag
from pydantic.alias_generators import to_camel

from civitai_mock.contracts.casing import any_case

# --- enums -----------------------------------------------------------------------------------

WorkflowStatus = Literal[
    "unassigned", "preparing", "scheduled", "processing", "succeeded", "failed", "expired", "canceled"
]
STATUSES: tuple[str, ...] = get_args(WorkflowStatus)
TERMINAL_STATUSES: frozenset[str] = frozenset({"succeeded", "failed", "expired", "canceled"})
#: Statuses that count as failures for ``excludeFailed``.
FAILED_STATUSES: frozenset[str] = frozenset({"failed", "expired", "canceled"})
#: Waiting statuses, in the order a step moves through them (it is in a queue, not yet processing).
QUEUED_STATUSES: tuple[str, ...] = STATUSES[:3]
#: Non-terminal statuses, in the order a workflow moves through them.
PROGRESSION: tuple[str, ...] = STATUSES[:4]

Priority = Literal["high", "normal", "low"]
PRIORITIES: tuple[str, ...] = get_args(Priority)
NSFWLevel = Literal["pg", "pg13", "r", "x", "xxx", "na"]
NSFW_LEVELS: tuple[str, ...] = get_args(NSFWLevel)
#: Levels in rising order (``na``, not assessed, is outside the order), and the ones that are mature.
NSFW_ORDER: tuple[str, ...] = NSFW_LEVELS[:5]
MATURE_NSFW_LEVELS: frozenset[str] = frozenset(NSFW_ORDER[2:])
Currency = Literal["yellow", "blue", "green", "fakeRed"]
CURRENCIES: tuple[str, ...] = get_args(Currency)
#: Documented default charging order when ``currencies`` is not set.
DEFAULT_CHARGING_ORDER: tuple[str, ...] = ("blue", "green", "yellow")
#: The only currency that may pay for mature content.
MATURE_CURRENCY = "yellow"
TransactionType = Literal["debit", "credit"]
UpgradeMode = Literal["manual", "automatic"]
UPGRADE_MODES: tuple[str, ...] = get_args(UpgradeMode)
WaitUntil = Literal["completion", "change"]
WAIT_UNTIL: tuple[str, ...] = get_args(WaitUntil)

CALLBACK_SCOPES: tuple[str, ...] = ("workflow", "step", "job")
CALLBACK_EVENT_TYPES: tuple[str, ...] = tuple(
    f"{scope}:{status}" for scope in CALLBACK_SCOPES for status in ("*", *STATUSES)
)
#: Documented job failure reasons (``reason`` on a failed job).
FAILURE_REASONS: tuple[str, ...] = ("no_provider_available", "blocked", "timeout", "expired", "canceled")
#: ``blockedReason`` when mature output could not be paid for in yellow (automatic upgrade).
MATURE_CONTENT_BLOCK = "MatureContent"
#: Human-readable ``output.errors`` of a failed step, per job reason (the real sample carries such prose).
FAILURE_MESSAGES: dict[str, str] = {
    "no_provider_available": "No provider is available to run this job with the given inputs. "
                             "Try again later or change the inputs.",
    "blocked": "The job was blocked by content moderation. Rework the prompt or the images.",
    MATURE_CONTENT_BLOCK: "The output is mature content and there was not enough yellow Buzz to pay for it.",
    "timeout": "The job did not finish within the step timeout.",
    "": "The job failed. Submitting the same request again may work.",
}

#: Limits from the WorkflowTemplate schema (the steps cap is the fake's own: the schema names none).
MAX_TAGS, MAX_TAG_LENGTH = 10, 200
MAX_STEPS = 100
EXTERNAL_ID_PATTERN, EXTERNAL_ID_MAX = r"^[A-Za-z0-9_-]+$", 128
#: The documented request timeout that caps ``wait``.
MAX_WAIT_SECONDS = 100
DEFAULT_QUERY_TAKE = 100

# --- parsing helpers -------------------------------------------------------------------------

_FRACTION = re.compile(r"(\.\d{6})\d+")


def _trim_fraction(value: Any) -> Any:
    """Timestamps from the service carry up to 7 fractional digits; Python keeps 6."""
    return _FRACTION.sub(r"\1", value) if isinstance(value, str) else value


Timestamp = Annotated[datetime, BeforeValidator(_trim_fraction)]


def _unique(values: list[str]) -> list[str]:
    if len(set(values)) != len(values):
        raise ValueError("tags must be unique")
    return values


#: A workflow's tags, the same rules on submit and on update: at most 10, each of 1–200 characters, none twice.
Tags = Annotated[list[Annotated[str, Field(min_length=1, max_length=MAX_TAG_LENGTH)]], Field(max_length=MAX_TAGS),
                 AfterValidator(_unique)]


class ApiModel(BaseModel):
    """Base for response models: camelCase JSON, unknown fields kept so real responses parse."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    def to_json(self) -> dict[str, Any]:
        """The model as JSON (camelCase, nulls dropped)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


# --- blobs and outputs -----------------------------------------------------------------------


class Blob(ApiModel):
    """A blob produced by a job; ``url`` is signed and expires."""

    type: str
    id: str
    available: bool
    url: str | None = None
    url_expires_at: Timestamp | None = None
    job_id: str | None = None
    nsfw_level: NSFWLevel | None = None
    blocked_reason: str | None = None


class VideoBlob(Blob):
    """A video blob: dimensions and length of the generated clip."""

    type: Literal["video"] = "video"
    width: int | None = None
    height: int | None = None
    duration: float | None = None


class VideoGenOutput(ApiModel):
    """Output of a videoGen step (``errors`` lists human-readable messages when it failed)."""

    video: VideoBlob | None = None
    additional_videos: list[VideoBlob] | None = None
    errors: list[str] | None = None


# --- jobs, steps, workflows ------------------------------------------------------------------


JobSupport = Literal["unsupported", "unavailable", "available"]


class JobQueuePosition(ApiModel):
    """Where a queued job stands (the official client's WorkflowStepJobQueuePosition)."""

    support: JobSupport
    preceding_jobs: int | None = None
    start_at: Timestamp | None = None
    complete_at: Timestamp | None = None


class StepQueuePosition(ApiModel):
    """Where a queued step stands (the schema's WorkflowStepQueuePosition)."""

    support: JobSupport
    preceding_jobs: int | None = None
    estimated_start_at: Timestamp | None = None
    estimated_complete_at: Timestamp | None = None


class WorkflowStepJob(ApiModel):
    """A unit of work of a step (real responses carry these although the schema omits them)."""

    id: str
    status: WorkflowStatus
    started_at: Timestamp | None = None
    completed_at: Timestamp | None = None
    cost: float | None = None
    estimated_progress_rate: float | None = None
    queue_position: JobQueuePosition | None = None
    reason: str | None = None
    blocked_reason: str | None = None


class WorkflowStep(ApiModel):
    """A step of any type as returned by the service."""

    type_: str = Field(alias="$type")
    name: str
    status: WorkflowStatus
    priority: Priority | None = None
    timeout: str | None = None
    retries: int | None = None
    started_at: Timestamp | None = None
    completed_at: Timestamp | None = None
    metadata: dict[str, Any] = {}
    estimated_progress_rate: float | None = None
    queue_position: StepQueuePosition | None = None
    input: dict[str, Any] | None = None
    output: dict[str, Any] | None = None
    jobs: list[WorkflowStepJob] = []


class VideoGenStep(WorkflowStep):
    """A videoGen step: Kling input echoed back, ``output.video`` once it succeeded."""

    type_: Literal["videoGen"] = Field("videoGen", alias="$type")
    input: dict[str, Any]
    output: VideoGenOutput | None = None  # type: ignore[assignment]


def _step_kind(value: Any) -> str:
    kind = value.get("$type") if isinstance(value, dict) else getattr(value, "type_", None)
    return "videoGen" if kind == "videoGen" else "other"


AnyStep = Annotated[
    Annotated[VideoGenStep, Tag("videoGen")] | Annotated[WorkflowStep, Tag("other")],
    Discriminator(_step_kind),
]


class WorkflowCallback(ApiModel):
    """A webhook registration: URL, event filters, and whether payloads are detailed."""

    url: str
    type: list[str]
    detailed: bool | None = None


class WorkflowCostTips(ApiModel):
    """Buzz tipped to Civitai and to creators."""

    civitai: int = 0
    creators: int = 0


class WorkflowTips(ApiModel):
    """Tip rates requested on submission."""

    civitai: float = 0
    creators: float = 0


class WorkflowCost(ApiModel):
    """What a workflow costs in Buzz; ``factors.base`` keeps the price after a refund."""

    base: int
    factors: dict[str, float] | None = None
    fixed: dict[str, int] | None = None
    tips: WorkflowCostTips = WorkflowCostTips()
    total: int


class TransactionInfo(ApiModel):
    """One Buzz movement on one account."""

    type: TransactionType
    amount: int
    id: str | None = None
    account_type: Currency


class TransactionSummary(ApiModel):
    """The Buzz movements of a workflow (``insufficientBuzz`` on whatif)."""

    list: list[TransactionInfo]
    insufficient_buzz: bool | None = None


class Workflow(ApiModel):
    """A whole workflow as returned by GetWorkflow / SubmitWorkflow."""

    id: str | None = None
    created_at: Timestamp
    transactions: TransactionSummary | None = None
    metadata: dict[str, Any] = {}
    status: WorkflowStatus
    started_at: Timestamp | None = None
    completed_at: Timestamp | None = None
    tags: list[str] = []
    arguments: dict[str, Any] = {}
    steps: list[AnyStep] = []
    callbacks: list[WorkflowCallback] = []
    tips: WorkflowTips = WorkflowTips()
    cost: WorkflowCost | None = None
    nsfw_level: NSFWLevel | None = None
    experimental: bool | None = None
    allow_mature_content: bool | None = None
    upgrade_mode: UpgradeMode | None = None
    currencies: list[Currency] = []
    force_refunded: bool = False
    ephemeral: bool | None = None
    external_id: str | None = None


class WorkflowPage(ApiModel):
    """One page of QueryWorkflows (the schema's CursedArrayOfTelemetryCursorAndWorkflow)."""

    next: str
    items: list[Workflow]


class UpdateWorkflowRequest(ApiModel):
    """Body of UpdateWorkflow (PUT); only camelCase names are read (``allow_mature_content`` is ignored)."""

    model_config = ConfigDict(populate_by_name=False, extra="ignore", strict=True)

    status: any_case(Literal["canceled"]) | None = None  # type: ignore[valid-type]
    metadata: dict[str, Any] | None = None
    tags: Tags | None = None
    allow_mature_content: bool | None = None
    download_priority: any_case(Priority) | None = None  # type: ignore[valid-type]


class UpdateWorkflowStepRequest(ApiModel):
    """Body of UpdateWorkflowStep (PUT): new step metadata."""

    model_config = ConfigDict(populate_by_name=False, extra="ignore", strict=True)

    metadata: dict[str, Any]


# --- problems --------------------------------------------------------------------------------


class ProblemDetails(ApiModel):
    """An RFC 7807 problem."""

    type: str | None = None
    title: str | None = None
    status: int | None = None
    detail: str | None = None
    instance: str | None = None


class ValidationProblemDetails(ProblemDetails):
    """A 400 problem with an ``errors`` map from JSON path to messages."""

    errors: dict[str, list[str]]
