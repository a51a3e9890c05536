"""Ephemeral uploads, as `POST /v1/uploads` and its upload URL work on the real API.

`POST /v1/uploads` hands out an upload slot: a URL on the simulator itself, form `fields` signed
for that slot alone, and the `runway://` URI the file will have. The client then POSTs the fields
and the `file` as multipart to the URL, without its API key, like a presigned storage POST. The
URI names the file in create requests until it expires (`upload_ttl_seconds`, 24 h by default,
on the simulator's wall clock).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from app.files import write_atomically

URI_PREFIX = "runway://uploads/"
FILENAME_MAX_CHARS = 255
# Slots open at once (each lives a day): enough for any test run, a bound on what a loop can pile up.
MAX_OPEN_SLOTS = 10_000
_URI = re.compile(r"^runway://uploads/([0-9a-f]{32})$")


@dataclass
class Slot:
    """One upload slot; `received` once its file has arrived."""

    id: str
    filename: str
    expires: float
    received: bool = False


@dataclass(frozen=True)
class Started:
    """What `POST /v1/uploads` answers with, less the URL (which depends on the request's host)."""

    fields: dict[str, str]
    runway_uri: str


class UploadRefused(Exception):
    """The upload POST cannot be accepted; `status` and `code` say why, as a storage service would."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class TooManyUploads(Exception):
    """`MAX_OPEN_SLOTS` slots are open; wait for some to expire."""


class UploadStore:
    """Upload slots and their files under `directory`; safe to use from any thread."""

    def __init__(
        self,
        directory: Path,
        *,
        ttl_seconds: float,
        max_bytes: int,
        wall: Callable[[], float],
        max_slots: int = MAX_OPEN_SLOTS,
    ) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.ttl_seconds = ttl_seconds
        self.max_bytes = max_bytes
        self.wall = wall
        self.max_slots = max_slots
        self._key = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self._slots: dict[str, Slot] = {}

    def start(self, filename: str) -> Started:
        """A new slot for `filename`; its fields are signed so they fit this slot only."""
        slot = Slot(uuid.uuid4().hex, filename, self.wall() + self.ttl_seconds)
        with self._lock:
            self._forget_expired()
            if len(self._slots) >= self.max_slots:
                raise TooManyUploads
            self._slots[slot.id] = slot
        fields = {"key": slot.id, "expires": str(int(slot.expires)), "signature": self._sign(slot)}
        return Started(fields, URI_PREFIX + slot.id)

    def receive(self, fields: dict[str, str], data: bytes) -> None:
        """Store the file POSTed for a slot; raise UploadRefused when the form does not match one."""
        slot_id = fields.get("key", "")
        with self._lock:
            slot = self._slots.get(slot_id)
        if slot is None or not hmac.compare_digest(
            fields.get("signature", "").encode("utf-8", "replace"), self._sign(slot).encode()
        ):
            raise UploadRefused(403, "AccessDenied", "Invalid according to Policy: Policy Condition failed")
        if slot.expires <= self.wall():
            raise UploadRefused(403, "AccessDenied", "Invalid according to Policy: Policy expired.")
        if len(data) > self.max_bytes:
            raise UploadRefused(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size")
        with self._lock:
            # Claimed under the lock, so two POSTs racing for one slot cannot both land.
            if slot.received:
                raise UploadRefused(403, "AccessDenied", "This upload has already been used.")
            slot.received = True
        try:
            write_atomically(self._path(slot.id), data)
        except OSError:
            with self._lock:
                slot.received = False
            raise

    def read(self, uri: str) -> bytes | None:
        """The bytes behind a `runway://` URI, or None if it is unknown, unfilled or expired."""
        match = _URI.match(uri)
        if match is None:
            return None
        with self._lock:
            self._forget_expired()
            slot = self._slots.get(match.group(1))
        if slot is None or not slot.received:
            return None
        try:
            return self._path(slot.id).read_bytes()
        except OSError:
            return None

    def _sign(self, slot: Slot) -> str:
        return hmac.new(self._key, f"{slot.id}:{int(slot.expires)}".encode(), hashlib.sha256).hexdigest()

    def _path(self, slot_id: str) -> Path:
        return self.directory / f"{slot_id}.upload"

    def _forget_expired(self) -> None:
        now = self.wall()
        for slot_id in [key for key, slot in self._slots.items() if slot.expires <= now]:
            del self._slots[slot_id]
            self._path(slot_id).unlink(missing_ok=True)
