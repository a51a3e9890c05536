"""The simulator's storage face: the upload URL that takes a file, and the signed output links.

Like the real API's presigned storage POST and CDN, these take no API key (the signed fields or
query are the permission) and answer errors as the storage service does, in S3's XML shape,
never in the API's JSON.
"""

from __future__ import annotations

import uuid

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from app.simulator.http import simulator_for
from app.simulator.uploads import UploadRefused

# Room for the multipart framing and the signed fields around an uploaded file.
UPLOAD_OVERHEAD_BYTES = 64 * 1024
TASK_ID_LENGTH = 36


def storage_error(status: int, code: str, message: str) -> Response:
    """An error as the storage service words it: S3's XML `<Error>` document."""
    body = f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>\n'
    return Response(body, status_code=status, media_type="application/xml")


def is_task_id(value: str) -> bool:
    """Whether `value` is a task id exactly as the simulator writes them (a lowercase UUID)."""
    if len(value) != TASK_ID_LENGTH:
        return False
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


async def receive_upload(request: Request) -> Response:
    """Take the file for an upload slot: multipart fields plus `file`, no API key, size-bounded."""
    uploads = simulator_for(request).uploads
    declared = request.headers.get("content-length", "")
    if not declared.isdigit():
        return storage_error(411, "MissingContentLength", "You must provide the Content-Length HTTP header.")
    if int(declared) > uploads.max_bytes + UPLOAD_OVERHEAD_BYTES:
        return storage_error(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size")
    try:
        async with request.form(max_files=1, max_fields=20, max_part_size=uploads.max_bytes) as form:
            fields = {key: value for key, value in form.items() if isinstance(value, str)}
            file = form.get("file")
            if file is None or isinstance(file, str):
                return storage_error(400, "InvalidArgument", "POST requires exactly one file upload per request.")
            data = await file.read(uploads.max_bytes + 1)
        await run_in_threadpool(uploads.receive, fields, data)
    except UploadRefused as exc:
        return storage_error(exc.status, exc.code, exc.message)
    except HTTPException as exc:
        # Starlette's multipart parser refuses a malformed or oversized form with a 400.
        return storage_error(400, "MalformedPOSTRequest", str(exc.detail))
    return Response(status_code=204)


async def download_output(request: Request) -> Response:
    """Serve a rendered video to anyone holding a valid, unexpired signed URL."""
    simulator = simulator_for(request)
    name: str = request.path_params["name"]
    task_id = name.removesuffix(".mp4")
    if not name.endswith(".mp4") or not is_task_id(task_id):
        return storage_error(404, "NoSuchKey", "The specified key does not exist.")
    denied = simulator.signer.refusal(name, request.query_params.get("exp", ""), request.query_params.get("sig", ""))
    if denied is not None:
        return storage_error(403, "AccessDenied", denied)
    path = await run_in_threadpool(simulator.output_file, task_id)
    if path is None:
        return storage_error(404, "NoSuchKey", "The specified key does not exist.")
    return FileResponse(path, media_type="video/mp4")
