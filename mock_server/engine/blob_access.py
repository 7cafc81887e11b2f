"""Blob access: availability (withheld mature content included), signing, signed-content checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from civitai_mock.contracts.image import ImageInput
from civitai_mock.contracts.workflow import NSFW_ORDER
from civitai_mock.mock_server.engine.core import EngineCore
from civitai_mock.mock_server.engine.errors import BlobRefused, NotFound
from civitai_mock.mock_server.engine.media import CONTENT_TYPE, image_name, image_type, media_name
from civitai_mock.mock_server.engine.records import StepRecord, WorkflowRecord, numbered_blob_id, primary_blob_id


def above_nsfw_ceiling(level: str, ceiling: str) -> bool:
    """True when ``level`` ranks above ``ceiling`` in pg < pg13 < r < x < xxx; never when either is outside
    that order (``na``, not assessed), as a workflow's own ``nsfwLevel`` ceiling reads it."""
    return level in NSFW_ORDER and ceiling in NSFW_ORDER and NSFW_ORDER.index(level) > NSFW_ORDER.index(ceiling)


@dataclass(frozen=True)
class BlobInfo:
    """A blob as routes need it: whose it is and what media it serves (a copy, read under the lock).

    ``media`` names the shipped file (``media.media_bytes``) and ``content_type`` its media type.
    """

    workflow_id: str
    tenant: str
    blob_id: str
    nsfw_level: str
    aspect_ratio: str
    seconds: int
    audio: bool
    media: str = ""
    content_type: str = CONTENT_TYPE

    @classmethod
    def of(cls, record: WorkflowRecord, step: StepRecord, number: int = 0) -> "BlobInfo":
        """The info of ``step``'s blob (its ``number``-th image for an imageGen step)."""
        parsed = step.parsed_input()
        blob_id = numbered_blob_id(step.blob_id, number)
        if isinstance(parsed, ImageInput):
            return cls(record.id, record.tenant, blob_id, step.nsfw_level, parsed.aspect_ratio, 0, False,
                       image_name(parsed.aspect_ratio, parsed.output_format), image_type(parsed.output_format))
        return cls(record.id, record.tenant, blob_id, step.nsfw_level, parsed.aspect_ratio, parsed.seconds,
                   parsed.generates_audio, media_name(parsed.aspect_ratio, parsed.seconds, parsed.generates_audio))


class BlobAccess(EngineCore):
    """GetBlob, HeadBlob, RefreshBlob and signed content URLs."""

    def _available(self, tenant: str, blob_id: str) -> tuple[WorkflowRecord, StepRecord, int]:
        now = self.now()
        primary, number = primary_blob_id(blob_id)
        owner = self.store.blob_owner(primary)
        if owner is None or owner[0] != tenant:
            raise NotFound(f"Blob '{blob_id}' was not found.")
        record = self._record(*owner)
        for step in record.steps:
            if step.blob_id == primary and self.render.step_status(record, step, now) == "succeeded" \
                    and number < step.outputs:
                if record.withholds(step):
                    raise BlobRefused(f"Blob '{blob_id}' is mature content this workflow does not allow "
                                      "(allow it with UpdateWorkflow allowMatureContent: true, paid in yellow).")
                return record, step, number
        raise NotFound(f"Blob '{blob_id}' is not available (its step has not succeeded).")

    def blob(self, tenant: str, blob_id: str) -> BlobInfo:
        """What is known of a tenant's available blob (its step succeeded), or NotFound."""
        with self.state.changing():
            return BlobInfo.of(*self._available(tenant, blob_id))

    def blob_view(self, tenant: str, blob_id: str, base_url: str | None = None) -> dict[str, Any]:
        """RefreshBlob: the blob with a freshly signed URL."""
        with self.state.changing():
            record, step, number = self._available(tenant, blob_id)
            return self.render.blob(record, step, self.clock.now(), base_url or self.config.public_url, number=number)

    def sign_blob(self, tenant: str, blob_id: str, base_url: str) -> str:
        """A freshly signed content URL for a tenant's available blob."""
        with self.state.changing():
            self._available(tenant, blob_id)
            return self.signer.sign(base_url, blob_id, tenant, self.clock.now()).url

    def signed_content(self, blob_id: str, tenant_key: str, expires: str, signature: str) -> BlobInfo:
        """The blob behind a signed content URL; ``BlobRefused`` when expired or tampered, NotFound when gone."""
        with self.state.changing():
            now = self.now()
            reason = self.signer.check(blob_id, tenant_key, expires, signature, now)
            if reason is not None:
                raise BlobRefused(reason)
            primary, number = primary_blob_id(blob_id)
            owner = self.store.blob_owner(primary)
            record = self.store.get(*owner) if owner else None
            step = next((s for s in record.steps if s.blob_id == primary), None) if record else None
            if record is None or step is None or (record.deleted and not record.ephemeral) or number >= step.outputs:
                raise NotFound(f"Blob '{blob_id}' was not found.")
            if record.withholds(step):
                raise BlobRefused(f"Blob '{blob_id}' is withheld: mature content this workflow does not allow.")
            return BlobInfo.of(record, step, number)
