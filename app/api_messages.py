"""The Runway API's own wording for errors and validation issues: one place, for the simulator and
for the console's Runway-compatible API alike.

The checks both share with the web form (`app.catalogue.check_request`, `app.images`) name each
problem by a code; the form turns a code into help in the visitor's language, the API faces into
an API message here. So an API client never reads the web form's advice
("upload an image", "leave blank"), and the console, which maps an issue to its field by the
issue's `path`, is unaffected by the wording.
"""

from __future__ import annotations

DOC_URL = "https://docs.dev.runwayml.com/api"
VALIDATION_FAILED = "Validation of body failed"
NOT_ENOUGH_CREDITS = "You do not have enough credits to run this task."
VERSION_HEADER = "X-Runway-Version"
KNOWN_VERSIONS = ("2024-11-06",)

# Issue messages by problem code; `{…}` are the code's parameters.
ISSUES: dict[str, str] = {
    # the body and its fields
    "body_not_json": "Body is not valid JSON",
    "body_not_object": "Expected object",
    "field_required": "Required",
    "field_type": "Invalid type",
    "field_unrecognized": "Unrecognized key: {name}",
    "duration_not_integer": "Expected integer",
    "seed_not_integer": "Expected integer",
    # the catalogue's rules
    "model_unknown": "Invalid model: {value!r} is not an available model",
    "ratio_not_allowed": "Invalid ratio for {model}: expected one of {allowed}",
    "duration_not_allowed": "Invalid duration for {model}: expected one of {allowed}",
    "first_frame_required": "promptImage must include an image with position 'first'",
    "position_not_allowed": "Invalid position for {model}: '{position}' is not supported",
    "position_repeated": "Only one image may have position '{position}'",
    "prompt_too_long": "String must contain at most {max} UTF-16 code unit(s); received {count}",
    "prompt_required": "promptText is required for {model}",
    "seed_range": "Number must be between 0 and {max}",
    "notify_hook_invalid": "Invalid url: expected an http or https URL of at most 2048 characters",
    # uploads
    "upload_filename": "Invalid filename: at most 255 characters, without slashes",
    "upload_type": "Invalid enum value. Expected 'ephemeral'",
    # image references
    "url_too_long": "URL must contain at most {max} character(s); received {count}",
    "url_invalid": "Invalid url",
    "url_not_https": "Invalid url: only HTTPS URLs, data URIs and runway:// upload URIs are accepted",
    "url_ip_host": "Invalid url: the host must be a domain name, not an IP address",
    "url_local_host": "Invalid url: the host must be on the public internet, not localhost",
    "url_private_host": "Invalid url: the host must be on the public internet, not a local network",
    "url_credentials": "Invalid url: credentials are not allowed in the URL",
    "upload_unknown": "Invalid upload URI: no such upload, or it has expired",
    "data_uri_invalid": "Invalid data URI: expected data:image/(jpeg|png|webp);base64,…",
    "data_uri_too_large": "Data URI is {size_mb:.1f} MB; data URIs must be at most {max_mb:.0f} MB",
    "image_empty": "Invalid asset: the image is empty",
    "image_type": "Invalid asset: unsupported image type {found}; expected JPEG, PNG or WebP",
    "image_unreadable": "Invalid asset: the image could not be decoded",
    "image_too_big": "Invalid asset: the image is larger than {max_mb:.0f} MB",
    "image_pixels": "Invalid asset: the image has more than {max} pixels",
    "image_ratio": "Invalid asset: the image is {width}x{height}; its width/height ratio ({ratio}) must be "
    "between 0.5 and 2",
    "image_side_too_big": "Invalid asset: the image is {width}x{height}; each side must be at most {max} px",
}


def issue_message(code: str, **params: object) -> str:
    """The API's message for a problem code; an unknown code still gives a readable line."""
    template = ISSUES.get(code)
    if template is None:
        return "Invalid input"
    try:
        return template.format(**params)
    except (KeyError, IndexError, ValueError):
        return template


def version_problem(value: str | None) -> str | None:
    """Why an `X-Runway-Version` value is refused, or None when it names a known version."""
    if value is None or not value.strip():
        return f"The {VERSION_HEADER} header is required. Set it to one of: {', '.join(KNOWN_VERSIONS)}."
    if value.strip() not in KNOWN_VERSIONS:
        shown = value.strip()[:40]
        return (
            f"The {VERSION_HEADER} header has an unknown version {shown!r}. "
            f"Supported versions: {', '.join(KNOWN_VERSIONS)}."
        )
    return None


DAILY_LIMIT = "You have reached the daily generation limit for {model}. Try again tomorrow."
UPLOAD_TOO_LARGE = "Your proposed upload exceeds the maximum allowed size"
