"""Prepared frames on disk, content-addressed so a re-rendered form can refer to them by name."""

from __future__ import annotations

import base64
from pathlib import Path

from app.files import write_atomically
from app.storage.interfaces import FRAME_REF_PATTERN, MIME_BY_EXTENSION


class FrameStore:
    """Prepared frames, content-addressed so a re-rendered form can refer to them by name."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def save(self, data: bytes, sha256: str, extension: str) -> str:
        ref = f"{sha256}.{extension}"
        path = self.folder / ref
        if not path.exists():
            write_atomically(path, data)
        return ref

    def path(self, ref: str) -> Path | None:
        """The file for a ref, or None when the ref is malformed or unknown."""
        if not FRAME_REF_PATTERN.match(ref):
            return None
        path = self.folder / ref
        return path if path.is_file() else None

    def remove(self, ref: str) -> None:
        """Delete a stored frame (a malformed or unknown ref is ignored)."""
        path = self.path(ref)
        if path is not None:
            path.unlink(missing_ok=True)

    def data_uri(self, ref: str) -> str:
        """The frame as the data URI that goes upstream; FileNotFoundError when it is not stored."""
        path = self.path(ref)
        if path is None:
            raise FileNotFoundError(ref)
        return f"data:{self.mime(ref)};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"

    @staticmethod
    def mime(ref: str) -> str:
        return MIME_BY_EXTENSION[ref.rsplit(".", 1)[1]]
