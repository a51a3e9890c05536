"""What a task request must pass, whichever face it came in by (the web form or the Runway API):
the frame checks, the catalogue's rules and the callback URL, written once.

Each face reads its own input (form fields, a JSON body) and words the problems for its audience
(form help in the visitor's language, the API's messages), but the problems found, and the frames
and submission produced, come from here.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from anyio import CapacityLimiter, to_thread
from starlette.concurrency import run_in_threadpool

from app.catalogue import SEED_MAX, Catalogue, RuleIssue, check_request
from app.images import URL_MAX_CHARS, ImageProblem, check_image_url, parse_data_uri, prepare_image
from app.storage import FrameStore
from app.tasks import Frame, TaskSubmission

PreparedNotes = list[tuple[str, dict[str, object]]]


class FrameIntake:
    """Turns an image (bytes, a data URI, an https URL, a stored ref) into a Frame ready to send.

    Bytes are checked and made to fit the upstream's limits (prepare_image), then kept in the frame
    store; `slots` bounds how many are decoded at once, since a 12 MP photo costs ~130 MB while
    Pillow holds its pixels.
    """

    def __init__(self, frames: FrameStore, slots: CapacityLimiter | None = None) -> None:
        self.frames = frames
        self.slots = slots or CapacityLimiter(1)

    async def from_bytes(self, raw: bytes, position: str) -> tuple[Frame, PreparedNotes]:
        """Raises ImageProblem when the upstream would refuse the image even after fitting it."""
        prepared = await to_thread.run_sync(prepare_image, raw, limiter=self.slots)
        ref = await run_in_threadpool(self.frames.save, prepared.data, prepared.sha256, prepared.extension)
        return Frame(position, ref=ref, data_uri=prepared.data_uri()), prepared.notes

    async def from_data_uri(self, uri: str, position: str) -> tuple[Frame, PreparedNotes]:
        _, raw = parse_data_uri(uri)
        return await self.from_bytes(raw, position)

    @staticmethod
    def from_url(url: str, position: str) -> Frame:
        """An https image the upstream fetches itself; raises ImageProblem when it would refuse the URL."""
        problem = check_image_url(url)
        if problem:
            raise problem
        return Frame(position, url=url)

    def from_ref(self, ref: str, position: str) -> Frame:
        """A frame already in the store; raises ImageProblem("frame_ref_missing") when it is not."""
        try:
            return Frame(position, ref=ref, data_uri=self.frames.data_uri(ref))
        except FileNotFoundError:
            raise ImageProblem("frame_ref_missing") from None


def is_web_url(url: str) -> bool:
    """An http(s) URL with a host, short enough for the API: what notify_hook must be."""
    if len(url) > URL_MAX_CHARS or any(c.isspace() for c in url):
        return False
    try:
        parts = urlsplit(url)
        return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
    except ValueError:
        return False


def check_submission(
    catalogue: Catalogue,
    *,
    model: str,
    ratio: str,
    duration: int | None,
    positions: list[str],
    prompt: str,
    seed: int | None,
    notify_hook: str,
) -> list[RuleIssue]:
    """Every rule the parameters break: the catalogue's, then the callback URL's."""
    issues = check_request(
        catalogue, model=model, ratio=ratio, duration=duration, positions=positions, prompt=prompt, seed=seed
    )
    if notify_hook and not is_web_url(notify_hook):
        issues.append(RuleIssue("notify_hook", "notify_hook_invalid"))
    return issues


def make_submission(
    catalogue: Catalogue,
    *,
    model: str,
    ratio: str,
    duration: int | None,
    prompt: str,
    seed: int | None,
    watermark: bool,
    notify_hook: str,
    frames: list[Frame],
) -> TaskSubmission:
    """The submission for parameters check_submission passed; a missing seed is rolled here."""
    spec = catalogue.get(model)
    effective = spec.effective_duration(duration) if spec is not None else None
    assert spec is not None and effective is not None, "check_submission reported this"
    return TaskSubmission(
        model=spec,
        ratio=ratio,
        duration=effective,
        seed=secrets.randbelow(SEED_MAX + 1) if seed is None else seed,
        seed_rolled=seed is None,
        prompt=prompt,
        watermark=watermark,
        notify_hook=notify_hook or None,
        frames=frames,
    )
