"""What a task request must pass, whichever face it came in by (the web form or the Runway API):
the frame checks, the catalogue's rules and the callback URL, written once.

Each face reads its own input (form fields, a JSON body) and words the problems for its audience
(form help in the visitor's language, the API's messages), but the problems found, and the frames
and submission produced, come from here.
"""

from __future__ import annotations

import functools
import secrets
from urllib.parse import urlsplit

import anyio
import httpcore
from anyio import to_thread
from starlette.concurrency import run_in_threadpool

from app.catalogue import SEED_MAX, Catalogue, RuleIssue, check_request
from app.image_preparation import prepare_image
from app.images import PIXELS_MAX, ImageProblem, check_image_url, is_web_url, measure_image, parse_data_uri
from app.netguard import DEFAULT_PORTS, AsyncResolver, BlockedAddress, resolve_public
from app.pixel_budget import PixelBudget
from app.storage import FrameStore
from app.task_submission import Frame, TaskSubmission

PreparedNotes = list[tuple[str, dict[str, object]]]
# A frame URL's host is looked up when the task is checked; a resolver slower than this is not waited for.
RESOLVE_TIMEOUT_SECONDS = 5.0
DEFAULT_DECODE_BUDGET = 100_000_000


class FrameIntake:
    """Turns an image (bytes, a data URI, an https URL, a stored ref) into a Frame ready to send.

    Bytes are checked and made to fit the upstream's limits (prepare_image), then kept in the frame
    store. `budget` bounds the pixels decoded at once across requests (a decoded pixel costs 4 bytes,
    so memory, not the number of cores, is what runs out); an image over `max_pixels` is refused from
    its header. `resolver` looks up frame URL hosts (None: the system's).
    """

    def __init__(
        self,
        frames: FrameStore,
        budget: PixelBudget | None = None,
        max_pixels: int = PIXELS_MAX,
        resolver: AsyncResolver | None = None,
    ) -> None:
        self.frames = frames
        self.budget = budget or PixelBudget(DEFAULT_DECODE_BUDGET)
        self.max_pixels = max_pixels
        self.resolver = resolver

    async def from_bytes(self, raw: bytes, position: str) -> tuple[Frame, PreparedNotes]:
        """Raises ImageProblem when the upstream would refuse the image even after fitting it."""
        size = measure_image(raw, max_pixels=self.max_pixels)
        async with self.budget.hold(size.decode_cost):
            prepared = await to_thread.run_sync(functools.partial(prepare_image, raw, max_pixels=self.max_pixels))
        ref = await run_in_threadpool(self.frames.save, prepared.data, prepared.sha256, prepared.extension)
        return Frame(position, ref=ref, data_uri=prepared.data_uri()), prepared.notes

    async def from_data_uri(self, uri: str, position: str) -> tuple[Frame, PreparedNotes]:
        _, raw = parse_data_uri(uri)
        return await self.from_bytes(raw, position)

    async def from_url(self, url: str, position: str) -> Frame:
        """An https image the upstream fetches itself; raises ImageProblem when it would refuse the URL
        or when its host leads inside (by name, or by what DNS answers for it)."""
        problem = check_image_url(url) or await self._host_problem(url)
        if problem:
            raise problem
        return Frame(position, url=url)

    async def _host_problem(self, url: str) -> ImageProblem | None:
        """A URL whose host resolves to a private address (any of its answers) is refused.

        This gives a clear message at once; what protects the server is that the console never
        fetches frame URLs, and the simulator's fetch is guarded on the address it connects to.
        A lookup that fails or stalls is left to the upstream, which reports the image as unreachable.
        """
        parts = urlsplit(url)
        try:
            port = parts.port or DEFAULT_PORTS["https"]
            with anyio.fail_after(RESOLVE_TIMEOUT_SECONDS):
                await resolve_public(parts.hostname or "", port, resolver=self.resolver)
        except BlockedAddress:
            return ImageProblem("url_private_host")
        except (OSError, TimeoutError, ValueError, httpcore.ConnectError):
            return None
        return None

    def from_ref(self, ref: str, position: str) -> Frame:
        """A frame already in the store; raises ImageProblem("frame_ref_missing") when it is not."""
        try:
            return Frame(position, ref=ref, data_uri=self.frames.data_uri(ref))
        except FileNotFoundError:
            raise ImageProblem("frame_ref_missing") from None


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
