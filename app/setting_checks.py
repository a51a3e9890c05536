"""The checks a setting's value passes at start-up, and the form it is kept in afterwards.

Each check returns the value as Settings keeps it, or raises ValueError with the message the one-line
start-up refusal shows after the variable's name (app/config.py, load_settings). None of them ever puts
a secret into its message.
"""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from pydantic import SecretStr

if TYPE_CHECKING:
    from app.config import Settings

TOKEN_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
TOKEN_MIN_CHARS = 16


def checked_base_url(value: str | None) -> str | None:
    """An upstream base URL without its trailing slash (None when blank); ValueError saying what is wrong."""
    if value is None or not value.strip():
        return None
    value = value.strip().rstrip("/")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(
            "must be an http:// or https:// URL such as "
            "https://api.dev.runwayml.com or https://api.openai-hk.com/runwayml"
        )
    if parts.query or parts.fragment:
        raise ValueError("must not contain a query string or fragment")
    return value


def checked_base_url_list(value: str) -> str:
    """Comma-separated base URLs, each checked, without repeats, in the operator's order."""
    urls: list[str] = []
    for item in value.split(","):
        if item.strip():
            url = checked_base_url(item)
            if url is not None and url not in urls:
                urls.append(url)
    return ",".join(urls)


def checked_media_hosts(value: str) -> str:
    from app.netguard import parse_allowed_host

    for entry in value.split(","):
        if entry.strip():
            try:
                parse_allowed_host(entry)
            except ValueError as exc:
                raise ValueError(f"{exc}; give host, host:port or a URL, comma-separated") from None
    return value


def blank_secret_is_none(value: SecretStr | None) -> SecretStr | None:
    if value is not None and not value.get_secret_value().strip():
        return None
    return value


def checked_api_tokens(value: SecretStr | None) -> SecretStr | None:
    if value is None or not value.get_secret_value().strip():
        return None
    parse_token_list(value.get_secret_value())  # raises ValueError naming the bad entry, never the token
    return value


def parse_token_list(text: str) -> dict[str, str]:
    """`name=token,name2=token2` as a dict; a ValueError names the entry at fault, never a token."""
    tokens: dict[str, str] = {}
    for number, entry in enumerate((e.strip() for e in text.split(",")), start=1):
        if not entry:
            continue
        name, sep, token = entry.partition("=")
        name, token = name.strip(), token.strip()
        if not sep or not TOKEN_NAME_PATTERN.match(name):
            raise ValueError(f"entry {number} must be name=token, the name letters, digits, '.', '_' or '-'")
        if len(token) < TOKEN_MIN_CHARS or any(c.isspace() for c in token):
            raise ValueError(f"the token for {name!r} must be at least {TOKEN_MIN_CHARS} characters, no spaces")
        if name in tokens:
            raise ValueError(f"the name {name!r} is given twice")
        tokens[name] = token
    return tokens


def checked_root_path(value: str) -> str:
    value = value.strip().rstrip("/")
    if value and not value.startswith("/"):
        raise ValueError("must start with '/', for example /runway")
    return value


def checked_trusted_proxies(value: str) -> str:
    networks = []
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        try:
            networks.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise ValueError(f"{item!r} is not an IP address or CIDR (e.g. 10.0.0.0/8)") from None
    return ",".join(networks)


def blank_is_none(value: object) -> object:
    """Before parsing: a variable set to nothing means unset."""
    return None if isinstance(value, str) and not value.strip() else value


def blank_or_zero_is_unset(value: object) -> object:
    """Before parsing: nothing, or 0, means no limit (or no choice) at all."""
    if isinstance(value, str) and not value.strip():
        return None
    if value in (0, "0"):
        return None
    return value


def checked_accel_redirect(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    value = value.strip()
    if not value.startswith("/") or "?" in value or "#" in value or ".." in value.split("/"):
        raise ValueError("must be the path of an nginx internal location, such as /_protected_videos/")
    return value if value.endswith("/") else value + "/"


def checked_language(value: str) -> str:
    from app.i18n import LANGUAGES

    if value not in LANGUAGES:
        raise ValueError(f"must be one of {', '.join(LANGUAGES)}")
    return value


def check_visitor_mode(settings: Settings) -> None:
    """CONSOLE_VISITOR_KEYS=true with settings that contradict it: each visitor spends their own key."""
    if settings.history == "shared":
        raise ValueError(
            "CONSOLE_HISTORY=shared cannot be used with CONSOLE_VISITOR_KEYS=true: each visitor's tasks "
            "run on their own key and are shown to them only"
        )
    if settings.has_server_key and not settings.visitor_keys_api:
        raise ValueError(
            "RUNWAYML_API_SECRET is set with CONSOLE_VISITOR_KEYS=true, where visitors always use their own "
            "key: remove it, or set CONSOLE_VISITOR_KEYS_API=true if API tokens should spend it"
        )
    if settings.visitor_keys_api and not settings.uses_simulator and not settings.has_server_key:
        raise ValueError(
            "CONSOLE_VISITOR_KEYS_API=true needs RUNWAYML_API_SECRET: API tokens spend the server's key, "
            "never a visitor's"
        )
