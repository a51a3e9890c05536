"""A task's request written as code to run elsewhere: curl, Python with httpx, Python with the `runwayml` SDK.

Each snippet sends exactly the stored request body, with two things swapped for what only the
reader has: the key comes from the RUNWAYML_API_SECRET environment variable, and each uploaded
frame is read from a local file (named like `first-frame.png`) and sent as a base64 data URI, as
the console sent it. Frames given as https URLs stay URLs.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from typing import Any

from app.config import Settings
from app.tasks import TaskRecord, frame_ref
from app.upstream import UpstreamClient

SNIPPET_KINDS = ("curl", "httpx", "runwayml")
# Where the in-process simulator's requests are shown to go: the same simulator run on its own.
STANDALONE_SIMULATOR_URL = "http://127.0.0.1:8100"
# What the SDK itself sends as X-Runway-Version; another value must be passed to the client.
SDK_DEFAULT_VERSION = "2024-11-06"
SDK_FIELDS = {
    "promptImage": "prompt_image",
    "promptText": "prompt_text",
    "model": "model",
    "ratio": "ratio",
    "duration": "duration",
    "seed": "seed",
}
MIME_BY_EXTENSION = {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp"}
TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED")


@dataclass(frozen=True)
class FrameFile:
    """A stored frame as the snippets read it: a file name placeholder, its variable and MIME type."""

    position: str
    filename: str
    mime: str

    @property
    def variable(self) -> str:
        return f"{self.position.upper()}_FRAME"


class _Code:
    """A Python expression to write as-is inside a literal."""

    def __init__(self, source: str) -> None:
        self.source = source


def frame_files(body: dict[str, Any]) -> dict[int, FrameFile]:
    """The uploaded frames of a stored body, by their index in promptImage."""
    files = {}
    for index, image in enumerate(body.get("promptImage") or []):
        ref = frame_ref(str(image.get("uri", "")))
        if ref:
            extension = ref.rsplit(".", 1)[1]
            position = str(image.get("position") or "first")
            files[index] = FrameFile(position, f"{position}-frame.{extension}", MIME_BY_EXTENSION[extension])
    return files


def code_base_url(settings: Settings, upstream: UpstreamClient) -> str:
    """The upstream as a snippet must call it: the in-process simulator is reachable only when run on its own."""
    return STANDALONE_SIMULATOR_URL if settings.uses_simulator else upstream.base_url


def task_snippets(task: TaskRecord, settings: Settings, upstream: UpstreamClient) -> dict[str, str] | None:
    """The task's request as curl, httpx and runwayml code, or None when no request was kept."""
    body = task.request_body()
    if body is None:
        return None
    return snippets(body, base_url=code_base_url(settings, upstream), api_version=upstream.api_version)


def snippets(body: dict[str, Any], *, base_url: str, api_version: str) -> dict[str, str]:
    """The three snippets for a stored request body (frames as stored-frame references)."""
    files = frame_files(body)
    return {
        "curl": curl_snippet(body, files, base_url=base_url, api_version=api_version),
        "httpx": httpx_snippet(body, files, base_url=base_url, api_version=api_version),
        "runwayml": sdk_snippet(body, files, base_url=base_url, api_version=api_version),
    }


# --- curl ---------------------------------------------------------------------------------------------


def curl_snippet(body: dict[str, Any], files: dict[int, FrameFile], *, base_url: str, api_version: str) -> str:
    markers = {index: f"@@frame-{index}@@" for index in files}
    ascii_only = _has_lone_surrogate(json.dumps(body, ensure_ascii=False))
    text = json.dumps(_with_frames(body, markers), indent=2, ensure_ascii=ascii_only)
    # An unquoted heredoc expands $… and `…` and eats one level of backslashes: keep the JSON as it is.
    text = text.replace("\\", "\\\\").replace("$", "\\$").replace("`", "\\`")
    for index, frame in files.items():
        text = text.replace(markers[index], f"data:{frame.mime};base64,$(base64 < \"${frame.variable}\" | tr -d '\\n')")
    lines = ["# The key comes from your environment: export RUNWAYML_API_SECRET=…"]
    lines += [
        f"{frame.variable}={shlex.quote(frame.filename)}  # the {frame.position} frame, on your disk"
        for frame in files.values()
    ]
    lines += [
        " \\\n  ".join(
            [
                f"curl --fail-with-body --request POST --url {shlex.quote(base_url + '/v1/image_to_video')}",
                '--header "Authorization: Bearer $RUNWAYML_API_SECRET"',
                "--header 'Content-Type: application/json'",
                f"--header {shlex.quote('X-Runway-Version: ' + api_version)}",
                "--data @- <<JSON",
            ]
        ),
        text,
        "JSON",
        "# Then follow the task with the id it answers:",
        f'# curl {shlex.quote(base_url + "/v1/tasks/")}"$TASK_ID" -H "Authorization: Bearer $RUNWAYML_API_SECRET" '
        f"-H {shlex.quote('X-Runway-Version: ' + api_version)}",
    ]
    return "\n".join(lines) + "\n"


# --- Python ---------------------------------------------------------------------------------------------

_DATA_URI_FUNCTION = '''

MIME_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp"}


def data_uri(path: Path) -> str:
    """A local image as the base64 data URI the API takes, as the console sent it."""
    mime = MIME_TYPES[path.suffix.lower()]
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"

'''


def _frame_constants(files: dict[int, FrameFile]) -> str:
    return "".join(
        f"{frame.variable} = Path({_py_string(frame.filename)})  # the {frame.position} frame, on your disk\n"
        for frame in files.values()
    )


def httpx_snippet(body: dict[str, Any], files: dict[int, FrameFile], *, base_url: str, api_version: str) -> str:
    expressions = {index: _Code(f"data_uri({frame.variable})") for index, frame in files.items()}
    payload = _py_literal(_with_frames(body, expressions), 1)
    imports = (
        "import base64\nimport os\nimport time\nfrom pathlib import Path\n" if files else ("import os\nimport time\n")
    )
    return (
        f"{imports}\nimport httpx\n\n"
        f"BASE_URL = {_py_string(base_url)}\n"
        f"{_frame_constants(files)}"
        "POLL_SECONDS = 5\n"
        f"{_DATA_URI_FUNCTION if files else ''}\n"
        "headers = {\n"
        '    "Authorization": f"Bearer {os.environ[\'RUNWAYML_API_SECRET\']}",\n'
        f'    "X-Runway-Version": {_py_string(api_version)},\n'
        "}\n"
        "with httpx.Client(base_url=BASE_URL, headers=headers, timeout=60) as client:\n"
        f'    created = client.post("/v1/image_to_video", json={payload})\n'
        "    created.raise_for_status()\n"
        '    task_id = created.json()["id"]\n'
        "    while True:\n"
        '        answer = client.get(f"/v1/tasks/{task_id}")\n'
        "        answer.raise_for_status()\n"
        "        task = answer.json()\n"
        f'        if task["status"] in ({", ".join(_py_string(s) for s in TERMINAL)}):\n'
        "            break\n"
        "        time.sleep(POLL_SECONDS)\n"
        'print(task["status"], task.get("output") or task.get("failure"))\n'
    )


def sdk_snippet(body: dict[str, Any], files: dict[int, FrameFile], *, base_url: str, api_version: str) -> str:
    expressions = {index: _Code(f"data_uri({frame.variable})") for index, frame in files.items()}
    with_frames = _with_frames(body, expressions)
    arguments = {SDK_FIELDS[name]: value for name, value in with_frames.items() if name in SDK_FIELDS}
    extra = {name: value for name, value in with_frames.items() if name not in SDK_FIELDS}
    lines = [f"    {name}={_py_literal(value, 1)}," for name, value in arguments.items()]
    if extra:
        # Fields the SDK does not type (a relay's watermark, notify_hook) go in the body as they are.
        lines.append(f"    extra_body={_py_literal(extra, 1)},")
    version = "" if api_version == SDK_DEFAULT_VERSION else f"    runway_version={_py_string(api_version)},\n"
    imports = "import base64\nimport os\nfrom pathlib import Path\n" if files else "import os\n"
    return (
        f"{imports}\nfrom runwayml import RunwayML, TaskFailedError\n\n"
        f"{_frame_constants(files)}"
        f"{_DATA_URI_FUNCTION if files else ''}\n"
        "client = RunwayML(\n"
        f"    base_url={_py_string(base_url)},\n"
        '    api_key=os.environ["RUNWAYML_API_SECRET"],\n'
        f"{version}"
        ")\n"
        "task = client.image_to_video.create(\n" + "\n".join(lines) + "\n)\n"
        "try:\n"
        "    finished = task.wait_for_task_output()\n"
        "except TaskFailedError as error:\n"
        '    print("FAILED", error.task_details.failure)\n'
        "else:\n"
        "    print(finished.status, finished.output)\n"
    )


def _with_frames(body: dict[str, Any], replacements: dict[int, Any]) -> dict[str, Any]:
    """The body with the uploaded frames' URIs replaced (a marker, or code reading the file)."""
    images = [
        {**image, "uri": replacements[index]} if index in replacements else dict(image)
        for index, image in enumerate(body.get("promptImage") or [])
    ]
    return {**body, "promptImage": images} if "promptImage" in body else dict(body)


def _py_string(text: str) -> str:
    # JSON string escapes are Python's too; a text that cannot be UTF-8 is written in ASCII escapes.
    return json.dumps(text, ensure_ascii=_has_lone_surrogate(text))


def _has_lone_surrogate(text: str) -> bool:
    # A lone surrogate (valid in JSON, and in a Python str) cannot be encoded as UTF-8.
    return any("\ud800" <= c <= "\udfff" for c in text)


def _py_literal(value: Any, level: int) -> str:
    """A Python literal for JSON data, indented 4 spaces per level; _Code goes in as written."""
    pad, inner = "    " * level, "    " * (level + 1)
    if isinstance(value, _Code):
        return value.source
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return _py_string(value)
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{inner}{_py_string(str(k))}: {_py_literal(v, level + 1)}," for k, v in value.items()]
        return "{\n" + "\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list):
        if not value:
            return "[]"
        items = [f"{inner}{_py_literal(v, level + 1)}," for v in value]
        return "[\n" + "\n".join(items) + f"\n{pad}]"
    raise TypeError(f"not JSON data: {type(value).__name__}")
