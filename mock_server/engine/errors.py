"""What the engine refuses, as exceptions the server layer maps to HTTP statuses."""

from __future__ import annotations

from civitai_mock.mock_server.engine.accounts import InsufficientBuzz


class NotFound(Exception):
    """No such workflow, step or blob for this tenant."""


class BlobRefused(Exception):
    """A blob that may not be handed out: an expired or tampered signed URL, withheld content (403)."""


class UpgradeRefused(InsufficientBuzz):
    """Allowing mature content needs yellow Buzz the tenant does not have (the guide's 400)."""


class Conflict(Exception):
    """The workflow's state blocks this change (e.g. updating a step that already started)."""
