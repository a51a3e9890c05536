"""Ephemeral uploads for API clients, as the official SDK's `uploads.create_ephemeral` uses them.

POST /v1/uploads hands out a one-time, signed upload URL on this console and a `runway://` URI;
the client posts the file there as multipart (without its token, as the SDK does); the image is
checked and fitted like a form upload and kept in the frame store; the URI then names that frame
in the token's image_to_video requests for a day. The body is counted as it arrives, so nothing
over the limit is read, and Starlette spools the file to disk past its first megabyte.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from starlette.types import Receive

from app.clock import Clock, system_clock
from app.request_limits import capped_receive
from app.storage import ApiStore, StoredUpload

UPLOAD_URI_PREFIX = "runway://console-uploads/"
UPLOAD_ID_PATTERN = re.compile(r"^[0-9a-f]{32}$")
UPLOAD_LIFETIME_SECONDS = 24 * 3600
UPLOAD_URL_SECONDS = 3600
FILENAME_MAX_CHARS = 255
# Multipart boundaries and the SDK's form fields around the file.
MULTIPART_OVERHEAD_BYTES = 64 * 1024
SIGNING_PURPOSE = "upload"


class BodyTooLarge(Exception):
    """The request body went past its limit; reading stopped there."""


def limited_receive(receive: Receive, max_bytes: int) -> Receive:
    """`receive`, raising BodyTooLarge once the body passes `max_bytes` (chunked bodies included).

    An exception of its own, not the middleware's HTTPException, so the API's handlers answer it with
    the API's own 413 error body.
    """
    return capped_receive(receive, max_bytes, BodyTooLarge)


def filename_problem(filename: object) -> str | None:
    """The issue code for a bad `filename`, or None."""
    if filename is None:
        return "field_required"
    if not isinstance(filename, str) or not filename.strip():
        return "field_type"
    if len(filename) > FILENAME_MAX_CHARS or any(c in filename for c in "/\\\x00"):
        return "upload_filename"
    return None


@dataclass(frozen=True)
class StartedUpload:
    id: str
    runway_uri: str


class ApiUploads:
    """Upload slots by token: started, filled once, resolved to a frame ref while they last."""

    def __init__(self, store: ApiStore, *, clock: Clock = system_clock) -> None:
        self._store = store
        self._clock = clock

    def start(self, owner: str, filename: str) -> StartedUpload:
        now = self._clock()
        self._store.forget_uploads(now)
        upload_id = secrets.token_hex(16)
        self._store.add_upload(StoredUpload(upload_id, owner, filename, None, now, now + UPLOAD_LIFETIME_SECONDS))
        return StartedUpload(upload_id, UPLOAD_URI_PREFIX + upload_id)

    def waiting(self, upload_id: str) -> bool:
        """Whether the slot exists, is unexpired and has no file yet."""
        upload = self._store.get_upload(upload_id) if UPLOAD_ID_PATTERN.match(upload_id) else None
        return upload is not None and upload.frame_ref is None and upload.expires_at >= self._clock()

    def fill(self, upload_id: str, frame_ref: str) -> bool:
        return self._store.fill_upload(upload_id, frame_ref)

    def frame_for(self, uri: str, owner: str) -> str | None:
        """The frame ref a `runway://` URI of `owner` names, or None (unknown, someone else's, expired, empty)."""
        upload_id = uri.removeprefix(UPLOAD_URI_PREFIX) if uri.startswith(UPLOAD_URI_PREFIX) else ""
        upload = self._store.get_upload(upload_id) if UPLOAD_ID_PATTERN.match(upload_id) else None
        if upload is None or upload.owner != owner or upload.expires_at < self._clock():
            return None
        return upload.frame_ref
