"""The one translation layer: every user-facing string is a key in app/locales/*.json."""

from __future__ import annotations

import json
import logging
from functools import cache
from importlib import resources

LANGUAGES: dict[str, str] = {"en": "English", "zh-CN": "中文"}
LANGUAGE_COOKIE = "lang"

log = logging.getLogger(__name__)


@cache
def load_messages() -> dict[str, dict[str, str]]:
    """Read every locale file once; they ship inside the package."""
    folder = resources.files("app").joinpath("locales")
    return {
        lang: json.loads(folder.joinpath(f"{lang}.json").read_text("utf-8")) for lang in LANGUAGES
    }


class Translator:
    """Looks a key up in one language, falling back to English, then to the key itself."""

    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in LANGUAGES else "en"
        messages = load_messages()
        self._primary = messages[self.lang]
        self._fallback = messages["en"]

    def __call__(self, key: str, **params: object) -> str:
        template = self._primary.get(key) or self._fallback.get(key)
        if template is None:
            log.warning("missing translation key %s", key)
            return key
        if not params:
            return template
        try:
            return template.format(**params)
        except (KeyError, IndexError, ValueError):
            log.warning("translation %s does not fit its parameters", key)
            return template

    def has(self, key: str) -> bool:
        return key in self._primary or key in self._fallback


def normalise_language(tag: str | None) -> str | None:
    """Map a language tag (zh, zh-Hans-CN, en-GB…) onto a supported language."""
    if not tag:
        return None
    tag = tag.strip().lower()
    if tag.startswith("zh"):
        return "zh-CN"
    if tag.startswith("en"):
        return "en"
    return None


def parse_accept_language(header: str | None) -> list[str]:
    """Supported languages from an Accept-Language header, best first."""
    if not header:
        return []
    ranked: list[tuple[float, int, str]] = []
    for index, item in enumerate(header.split(",")):
        tag, _, params = item.partition(";")
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                quality = 0.0
        lang = normalise_language(tag)
        if lang and quality > 0:
            ranked.append((-quality, index, lang))
    ranked.sort()
    seen: list[str] = []
    for _, _, lang in ranked:
        if lang not in seen:
            seen.append(lang)
    return seen


def choose_language(
    query: str | None, cookie: str | None, accept_language: str | None, default: str
) -> str:
    """The page language: an explicit ?lang=, then the cookie, then the browser's wish."""
    for candidate in (query, cookie):
        if candidate in LANGUAGES:
            return candidate
    preferred = parse_accept_language(accept_language)
    return preferred[0] if preferred else default
