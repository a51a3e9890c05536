"""A create body's images: each `promptImage` URI checked and turned into a render `Frame`.

The API takes three kinds of URI: a `runway://` upload (POST /v1/uploads), a `data:` URI, and an
https URL. The first two carry their bytes, so they are decoded now and a bad image fails the
create, as upstream; a URL is only checked here and fetched when the task renders (`render`).
Every refusal is an `images.ImageProblem` whose code is one of the API's issue messages.
"""

from __future__ import annotations

from collections.abc import Callable

from app import images
from app.simulator.render import Frame, shrink_for_video, upright

# A `runway://` URI from POST /v1/uploads, turned into the uploaded bytes (None: unknown or expired).
UploadResolver = Callable[[str], bytes | None]
UPLOAD_SCHEME = "runway://"
# The order frames are handed to the renderer in, whatever order the body listed them in.
FRAME_ORDER = {"first": 0, "last": 1}


def no_uploads(uri: str) -> bytes | None:
    """The resolver for a simulator without an upload store: every `runway://` URI is unknown."""
    return None


def load_frame(uri: str, position: str, label: str, uploads: UploadResolver) -> Frame:
    """The frame `uri` gives at `position`; raises ImageProblem where the API would refuse it."""
    if uri.startswith(UPLOAD_SCHEME):
        raw = uploads(uri)
        if raw is None:
            raise images.ImageProblem("upload_unknown")
        return decode_frame(raw, position, label)
    if uri[:5].lower() != "data:":
        problem = images.check_image_url(uri)
        if problem is not None:
            raise problem
        return Frame(position=position, label=label, url=uri)
    if len(uri) > images.DATA_URI_MAX_BYTES:
        max_mb = images.DATA_URI_MAX_BYTES / 1024 / 1024
        raise images.ImageProblem("data_uri_too_large", size_mb=len(uri) / 1024 / 1024, max_mb=max_mb)
    _, raw = images.parse_data_uri(uri)
    return decode_frame(raw, position, label)


def decode_frame(raw: bytes, position: str, label: str) -> Frame:
    """A frame from image bytes, upright; raises ImageProblem when the API would refuse them."""
    image = upright(images.open_image(raw))
    width, height = image.size
    if not images.RATIO_MIN <= width / height <= images.RATIO_MAX:
        raise images.ImageProblem("image_ratio", width=width, height=height, ratio=f"{width / height:.2f}")
    if max(width, height) > images.SIDE_MAX:
        raise images.ImageProblem("image_side_too_big", width=width, height=height, max=images.SIDE_MAX)
    return Frame(position=position, label=label, image=image)


def frames_for_render(frames: list[Frame], ratio: str, max_side: int) -> list[Frame]:
    """The accepted frames first to last, each decoded image shrunk to what the video needs."""
    frames.sort(key=lambda frame: FRAME_ORDER[frame.position])
    for frame in frames:
        if frame.image is not None:
            frame.image = shrink_for_video(frame.image, ratio, max_side)
    return frames
