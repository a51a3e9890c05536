"""How the console answers with a media file it holds: a task's video read in large chunks or handed
to nginx (CONSOLE_ACCEL_REDIRECT), a poster for the gallery, a video for API clients, and the media
under a share link with a short public cache; a task's stored frames.

Range requests work in every case (Starlette's FileResponse, or nginx itself), so players can seek.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

from fastapi.responses import FileResponse, PlainTextResponse, Response
from starlette.types import Message, Receive, Scope, Send

# Short, so a revoked link stops working in shared caches soon too.
SHARED_MEDIA_CACHE = "public, max-age=300"
# A poster never changes for its video, nor a stored frame; only the viewer's browser may keep them.
PRIVATE_MEDIA_CACHE = "private, max-age=86400"
VIDEO_TYPE = "video/mp4"


class StoredFileResponse(FileResponse):
    """A file the console stores (a cached video, a poster, a frame), read 256 KiB at a time (Starlette's
    64 KiB means 4× the thread hops per file). The cache or a delete may let the file go between the
    handler finding it and this reading it: that is answered 404, as a file already gone is, never 500."""

    chunk_size = 256 * 1024

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def send_and_note(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await super().__call__(scope, receive, send_and_note)
        except (FileNotFoundError, RuntimeError):
            # Starlette words a vanished file as a RuntimeError; anything else is still an error.
            if started or os.path.exists(self.path):
                raise
            await PlainTextResponse("Not Found", status_code=404)(scope, receive, send)


def accel_redirect(prefix: str, path: Path, filename: str, disposition: str) -> Response:
    """An empty answer naming the file for nginx to send (X-Accel-Redirect), headers and Range included."""
    return Response(
        status_code=200,
        media_type=VIDEO_TYPE,
        headers={
            "X-Accel-Redirect": prefix + quote(path.name),
            "Content-Disposition": f'{disposition}; filename="{filename}"',
        },
    )


def task_video(path: Path, task_id: str, *, download: bool, accel_prefix: str | None) -> Response:
    """A task's video as runway-{id}.mp4, to play inline or to save; sent by nginx when it is set up to."""
    filename = f"runway-{task_id}.mp4"
    disposition = "attachment" if download else "inline"
    if accel_prefix:
        return accel_redirect(accel_prefix, path, filename, disposition)
    return StoredFileResponse(path, media_type=VIDEO_TYPE, filename=filename, content_disposition_type=disposition)


def poster(path: Path) -> Response:
    """A task's poster frame for the gallery's cards."""
    return StoredFileResponse(path, media_type="image/jpeg", headers={"Cache-Control": PRIVATE_MEDIA_CACHE})


def frame(path: Path, media_type: str) -> Response:
    """A task's stored frame, for its page."""
    return StoredFileResponse(path, media_type=media_type, headers={"Cache-Control": PRIVATE_MEDIA_CACHE})


def api_video(path: Path, task_id: str) -> Response:
    """A task's video for an API client, named as the task page's download is."""
    filename = f"runway-{task_id}.mp4"
    return StoredFileResponse(path, media_type=VIDEO_TYPE, filename=filename, content_disposition_type="inline")


def shared_media(path: Path, media_type: str = VIDEO_TYPE) -> Response:
    """A file under a share link (video, poster, frame): cacheable by anyone, briefly."""
    return StoredFileResponse(path, media_type=media_type, headers={"Cache-Control": SHARED_MEDIA_CACHE})
