"""The guarded download of a finished task's video into the media cache (app/media.py).

Signed CDN links expire within hours, so the console downloads each result once and serves it
itself from then on. A failed download is retried on a backoff, each time from a fresh task
document (a new signed link), up to tasks.MAX_DOWNLOAD_ATTEMPTS; after that the task settles and
the page offers the original link.

What the upstream names as its output is not trusted: it is fetched only from https on a public
address, the upstream's own origin, or a host the operator lists (CONSOLE_MEDIA_HOSTS), each
redirect vetted the same way, and kept only if it is an MP4 within CONSOLE_MAX_VIDEO_MB.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlsplit

from app.backoff import Backoff
from app.files import atomic_path
from app.media import VideoStore
from app.mp4 import MP4_HEAD_BYTES, mp4_problem, starts_like_mp4
from app.netguard import DEFAULT_PORTS, NetPolicy, address_problem, blocked_cause, parse_host, url_host_problem
from app.upstream import RemoteFile, UpstreamClient
from app.upstream_errors import ErrorKind, UpstreamError

VIDEO_MAX_BYTES = 512 * 1024 * 1024
MAX_REDIRECTS = 5
# How a refused download is recorded in a task's video_error: this prefix and the reason, which
# the page shows in its own words (media.refused.<reason>).
REFUSAL_PREFIX = "refused:"
REFUSAL_REASONS = ("scheme", "not_https", "address", "redirects", "too_large", "not_mp4")


class MediaRefused(Exception):
    """The upstream's output was not fetched or not kept, for `reason` (one of REFUSAL_REASONS)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True)
class MediaPolicy:
    """Where outputs may come from, and how big they may be."""

    net: NetPolicy
    upstream_origin: str
    max_bytes: int = VIDEO_MAX_BYTES

    def url_problem(self, url: str) -> str | None:
        """Why this output URL must not be requested (a REFUSAL_REASONS entry), or None.

        The connection itself is vetted again by the guarded client, on the address it reaches.
        """
        scheme = url.partition(":")[0].lower()
        if scheme not in DEFAULT_PORTS:
            return "scheme"
        if url_host_problem(url, self.net) in ("url_invalid", "url_credentials"):
            return "address"
        parts = urlsplit(url)
        port = parts.port or DEFAULT_PORTS[scheme]
        host = parts.hostname or ""
        if self.net.trusts(host, port):
            return None
        if scheme != "https":
            return "not_https"
        parsed = parse_host(host)
        if parsed is None:
            return "address"
        if not isinstance(parsed, str):
            return "address" if address_problem(parsed) else None
        return "address" if url_host_problem(url) in ("url_local_host", "url_private_host") else None


def refusal_reason(video_error: str | None) -> str | None:
    """The reason of a refused download, from a task's video_error; None for other failures."""
    if video_error and video_error.startswith(REFUSAL_PREFIX):
        reason = video_error.removeprefix(REFUSAL_PREFIX)
        return reason if reason in REFUSAL_REASONS else None
    return None


class VideoDownloads:
    """Fetches a task's video into the store, and says when to try again if that failed."""

    def __init__(
        self, videos: VideoStore, upstream: UpstreamClient, *, retry: Backoff, policy: MediaPolicy | None = None
    ) -> None:
        self.videos = videos
        self.upstream = upstream
        self.retry = retry
        self.policy = policy or MediaPolicy(NetPolicy.build([upstream.base_url]), upstream.base_url)

    async def fetch(self, task_id: str, url: str, *, upstream: UpstreamClient | None = None) -> str:
        """Download `url` as the video of `task_id`, atomically; returns the stored file name.

        `upstream` is the client of the task's owner (a visitor's carries their key, to scrub it).
        Raises MediaRefused (the URL, a redirect, the size or the bytes are not acceptable),
        UpstreamError (the CDN failed) or OSError (our disk). Nothing is kept unless it all went well.
        """
        name = self.videos.file_name(task_id)
        client = upstream or self.upstream
        for _hop in range(MAX_REDIRECTS + 1):
            problem = self.policy.url_problem(url)
            if problem:
                raise MediaRefused(problem, client.scrub(url))
            try:
                async with client.open_file(url) as remote:
                    if remote.redirect is None:
                        await self._save(name, remote)
                        return name
                    url = remote.redirect
            except UpstreamError as error:
                blocked = blocked_cause(error)
                if blocked is not None:
                    raise MediaRefused("address", str(blocked)) from None
                raise
        raise MediaRefused("redirects", f"more than {MAX_REDIRECTS}")

    async def _save(self, name: str, remote: RemoteFile) -> None:
        limit = self.policy.max_bytes
        if remote.length is not None and remote.length > limit:
            raise MediaRefused("too_large", f"{remote.length} bytes, the limit is {limit}")
        assert remote.chunks is not None
        with atomic_path(self.videos.folder / name) as temp:
            with open(temp, "wb") as out:
                async for chunk in _checked(remote.chunks, limit):
                    out.write(chunk)
            # Checked before the rename: a file cut short or not a video is never served.
            problem = mp4_problem(temp)
            if problem:
                raise UpstreamError(ErrorKind.PROTOCOL, None, f"the downloaded video is not whole: {problem}")

    def retry_delay(self, attempts: int) -> float:
        """Seconds before the next try after `attempts` failed downloads."""
        return self.retry.delay(attempts)

    def describe(self, error: Exception, upstream: UpstreamClient | None = None) -> str:
        """A download failure as it may be stored and shown: a refusal by its reason, else the
        CDN's words with the key (the owner's, and the server's) scrubbed out."""
        if isinstance(error, MediaRefused):
            return f"{REFUSAL_PREFIX}{error.reason}"
        return (upstream or self.upstream).scrub(str(error))


async def _checked(chunks: AsyncIterator[bytes], max_bytes: int) -> AsyncIterator[bytes]:
    """The bytes as they come, refused as soon as they are not an MP4 or grow past `max_bytes`."""
    total = 0
    head = b""
    async for chunk in chunks:
        total += len(chunk)
        if total > max_bytes:
            raise MediaRefused("too_large", f"more than {max_bytes} bytes")
        if len(head) < MP4_HEAD_BYTES:
            head += chunk[:MP4_HEAD_BYTES]
            if len(head) >= MP4_HEAD_BYTES and not starts_like_mp4(head):
                raise MediaRefused("not_mp4")
        yield chunk
    if not starts_like_mp4(head):
        raise MediaRefused("not_mp4")
