"""Jinja2 set-up: root-relative url_for, the translator in every template, message rendering."""

from __future__ import annotations

import math
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import BytecodeCache, Environment, FileSystemLoader, StrictUndefined, pass_context, select_autoescape
from jinja2.bccache import Bucket

from app import __version__
from app.config import Settings
from app.i18n import LANGUAGE_COOKIE, LANGUAGES, Translator, choose_language
from app.resources import asset_dir
from app.tasks import TaskStatus, frame_ref


def request_translator(request: Request) -> Translator:
    """The page language, chosen once per request and cached on it."""
    cached: Translator | None = getattr(request.state, "translator", None)
    if cached is None:
        lang = choose_language(
            request.query_params.get("lang"),
            request.cookies.get(LANGUAGE_COOKIE),
            request.headers.get("accept-language"),
            request.app.state.settings.default_language,
        )
        cached = request.state.translator = Translator(lang)
    return cached


@pass_context
def url_for(context: dict, name: str, /, **path_params: object) -> str:
    """A root-relative URL, so links work behind any proxy that sets the root path."""
    request: Request = context["request"]
    query = path_params.pop("_query", None)
    path = request.url_for(name, **path_params).path
    if isinstance(query, dict) and query:
        path = f"{path}?{urlencode(query)}"
    return path


@pass_context
def static_url(context: dict, path: str) -> str:
    return url_for(context, "static", path=path, _query={"v": __version__})


@pass_context
def render_message(context: dict, message: object) -> str:
    """Translate a forms.Message (or pass plain text through)."""
    key = getattr(message, "key", None)
    if key is None:
        return str(message)
    return str(context["t"](key, **getattr(message, "params", {})))


@pass_context
def currency_name(context: dict, currency: str) -> str:
    """The catalogue's currency in the page's language when we know it ("credits" → 积分)."""
    t = context["t"]
    key = f"currency.{currency}"
    return t(key) if t.has(key) else currency


def format_amount(value: float | int) -> str:
    """25.0 → 25, 0.125 → 0.13: prices without noise."""
    number = float(value)
    return str(int(number)) if number.is_integer() else f"{number:.2f}".rstrip("0").rstrip(".")


def upstream_label(settings: Settings) -> str:
    """The upstream as a page may show it: host and path, never credentials or query."""
    if settings.base_url is None:
        return "simulator"
    return base_url_label(settings.base_url)


def base_url_label(url: str) -> str:
    """An upstream base URL as a page may show it: scheme, host, port and path only."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


@dataclass(frozen=True)
class PageRefresh:
    """How often open pages ask for news of unfinished tasks (CONSOLE_PAGE_REFRESH_SECONDS): the task
    page and comparison cells at that interval, the gallery (one request for a whole page of cards)
    half as often again. Without JavaScript a page reloads instead, less often."""

    seconds: float

    @property
    def status(self) -> str:
        return f"{self.seconds:g}"

    @property
    def gallery(self) -> str:
        return f"{self.seconds * 1.5:g}"

    @property
    def reload(self) -> int:
        return math.ceil(self.seconds * 2.5)

    @property
    def gallery_reload(self) -> int:
        return math.ceil(self.seconds * 5)


def common_context(request: Request) -> dict[str, object]:
    settings: Settings = request.app.state.settings
    t = request_translator(request)
    return {
        "t": t,
        "lang": t.lang,
        "languages": LANGUAGES,
        "uses_simulator": settings.uses_simulator,
        "upstream_label": upstream_label(settings),
        "version": __version__,
        "refresh": PageRefresh(settings.page_refresh),
        # Set by app/auth.py's guard (absent on requests it did not see, e.g. the last-resort 500 page).
        "access": getattr(request.state, "access", None),
    }


class CompiledTemplates(BytecodeCache):
    """Compiled templates kept in memory for the whole process, keyed by name and source checksum.

    Each app has its own Environment, and compiling the templates is most of the cost of an app's
    first pages: a second app in one process (the test suite opens hundreds) compiles nothing again.
    An edited template has another checksum, so it is compiled afresh."""

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: Bucket) -> None:
        self._code[bucket.key] = bucket.bytecode_to_string()


COMPILED_TEMPLATES = CompiledTemplates()


def build_templates() -> Jinja2Templates:
    env = Environment(
        bytecode_cache=COMPILED_TEMPLATES,
        loader=FileSystemLoader(asset_dir("templates")),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["url_for"] = url_for
    env.globals["static_url"] = static_url
    env.filters["msg"] = render_message
    env.filters["amount"] = format_amount
    env.filters["currency"] = currency_name
    env.globals["TaskStatus"] = TaskStatus
    env.globals["frame_ref"] = frame_ref
    return Jinja2Templates(env=env, context_processors=[common_context])


def render(
    request: Request,
    name: str,
    context: dict[str, object] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(request, name, context or {}, status_code=status_code, headers=headers)


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def wants_json(request: Request) -> bool:
    """API clients (curl -H 'Accept: application/json') get JSON instead of pages."""
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def see_other(request: Request, target: str) -> Response:
    """Where a POST that ends somewhere else lands: HX-Redirect for HTMX, `{"ok": true}` for JSON, else 303."""
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": target})
    if wants_json(request):
        return JSONResponse({"ok": True})
    return RedirectResponse(target, status_code=303)
