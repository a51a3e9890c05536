"""Reading one image_to_video request type of the runwayml SDK: its fields, literals and field docs."""

from __future__ import annotations

import ast
import inspect
import re
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from types import ModuleType, UnionType
from typing import Any, get_args, get_origin

from app.catalogue import RATIO_PATTERN, OptionalField
from app.catalogue_facts import Facts

KNOWN_OPTIONAL_FIELDS: tuple[OptionalField, ...] = ("watermark", "notify_hook")

FALLBACK_PROMPT_MAX = 1000

_PROMPT_MAX = re.compile(r"up to\s+([\d,]+)\s+(?:characters|UTF-16 code units)", re.IGNORECASE)
_DURATION_RANGE = re.compile(r"(?:from|between)\s+(\d+)\s+(?:to|and)\s+(\d+)(?:\s+seconds)?", re.IGNORECASE)
_DEFAULT_VALUE = re.compile(r"Defaults to\s+(\d+)\b", re.IGNORECASE)


class Unusable(Exception):
    """This model cannot be offered by the console's form; the message says why."""


_REQUIRED_WRAPPERS = {typing.Required}
_NOT_REQUIRED_WRAPPERS = {typing.NotRequired}
try:  # the SDK uses typing_extensions; on 3.11 its wrappers are typing's own, but not on every version
    import typing_extensions as _te

    _REQUIRED_WRAPPERS.add(_te.Required)
    _NOT_REQUIRED_WRAPPERS.add(_te.NotRequired)
except ImportError:  # pragma: no cover - typing_extensions comes with the SDK
    pass


def _unwrap(hint: Any) -> tuple[Any, list[Any], bool | None]:
    """(bare type, Annotated metadata, required?) — None for required when no wrapper says."""
    required: bool | None = None
    metadata: list[Any] = []
    while True:
        origin = get_origin(hint)
        if origin in _REQUIRED_WRAPPERS or origin in _NOT_REQUIRED_WRAPPERS:
            required = origin in _REQUIRED_WRAPPERS
            hint = get_args(hint)[0]
        elif origin is typing.Annotated:
            hint, *extra = get_args(hint)
            metadata.extend(extra)
        else:
            return hint, metadata, required


def _literal_values(hint: Any) -> list[Any]:
    """Every Literal value in a type, through Unions."""
    origin = get_origin(hint)
    if origin is typing.Literal:
        return list(get_args(hint))
    if origin is typing.Union or origin is UnionType:
        return [value for arg in get_args(hint) for value in _literal_values(arg)]
    return []


def _admits_plain_int(hint: Any) -> bool:
    if hint is int:
        return True
    if get_origin(hint) is typing.Union or get_origin(hint) is UnionType:
        return any(_admits_plain_int(arg) for arg in get_args(hint))
    return False


def field_docs(module: ModuleType) -> dict[str, dict[str, str]]:
    """Attribute docstrings (the string under each field), which Python drops at run time."""
    try:
        tree = ast.parse(inspect.getsource(module))
    except (OSError, TypeError, SyntaxError):
        return {}
    docs: dict[str, dict[str, str]] = {}
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        fields: dict[str, str] = {}
        body = node.body
        for statement, following in zip(body, body[1:], strict=False):
            if (
                isinstance(statement, ast.AnnAssign)
                and isinstance(statement.target, ast.Name)
                and isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)
            ):
                fields[statement.target.id] = " ".join(following.value.value.split())
        docs[node.name] = fields
    return docs


@dataclass
class _Field:
    name: str  # the API's name (the alias), e.g. promptText
    hint: Any
    required: bool
    doc: str


class RequestTypeReader:
    """One member of the SDK's request Union: one model's TypedDict."""

    def __init__(self, request_type: Any, docs: dict[str, dict[str, str]]) -> None:
        self.type_name = getattr(request_type, "__name__", repr(request_type))
        hints = typing.get_type_hints(request_type, include_extras=True)
        total = bool(getattr(request_type, "__total__", True))
        class_docs = docs.get(self.type_name, {})
        self.fields: dict[str, _Field] = {}
        for key, hint in hints.items():
            bare, metadata, required = _unwrap(hint)
            alias = next((m.alias for m in metadata if isinstance(getattr(m, "alias", None), str)), key)
            self.fields[alias] = _Field(alias, bare, total if required is None else required, class_docs.get(key, ""))
        ids = _literal_values(self.fields["model"].hint) if "model" in self.fields else []
        self.model_id = str(ids[0]) if len(ids) == 1 else self.type_name
        self.notes: list[str] = []

    def model_entry(self, facts: Facts) -> dict[str, Any]:
        if "model" not in self.fields or self.model_id == self.type_name:
            raise Unusable(f"{self.type_name} has no single `model` literal")
        ratios = self._ratios()
        durations = self._durations(facts)
        entry: dict[str, Any] = {
            "id": self.model_id,
            "ratios": ratios,
            "durations": durations,
            "positions": self._positions(),
            "prompt_required": self._prompt_required(),
            "prompt_max_units": self._prompt_max(),
        }
        default = self._default_duration(durations)
        if default is not None:
            entry["default_duration"] = default
        accepted = [name for name in KNOWN_OPTIONAL_FIELDS if name in self.fields]
        if accepted:
            entry["optional_fields"] = accepted
        rate = facts.prices.credits_per_second.get(self.model_id)
        if rate is None:
            entry["prices"] = {}
            self.notes.append("No price known: add credits per second to the facts file to show estimates.")
        else:
            entry["prices"] = {str(d): tidy_number(rate * d) for d in durations}
        if self.notes:
            entry["note"] = " ".join(self.notes)
        return entry

    def _ratios(self) -> list[str]:
        ratio = self.fields.get("ratio")
        if ratio is None:
            raise Unusable("no `ratio` field (the output follows the image); the console always sends a ratio")
        values = [str(v) for v in _literal_values(ratio.hint)]
        usable = [v for v in values if RATIO_PATTERN.match(v)]
        if not usable:
            raise Unusable(f"no W:H ratio, only {', '.join(values) or 'free text'}")
        others = [v for v in values if v not in usable]
        if others:
            self.notes.append(f"The upstream also takes ratio {', '.join(others)}, which the console does not offer.")
        return usable

    def _durations(self, facts: Facts) -> list[int]:
        duration = self.fields.get("duration")
        if duration is None:
            raise Unusable("no `duration` field")
        values = _literal_values(duration.hint)
        literal = [v for v in values if isinstance(v, int) and not isinstance(v, bool)]
        words = [str(v) for v in values if isinstance(v, str)]
        if words:
            self.notes.append(f"The upstream also takes duration {', '.join(words)}, which the console does not offer.")
        if literal:
            return sorted(set(literal))
        if _admits_plain_int(duration.hint):
            bounds = _DURATION_RANGE.search(duration.doc)
            if bounds:
                low, high = int(bounds.group(1)), int(bounds.group(2))
                if 0 < low <= high <= 600:
                    return list(range(low, high + 1))
            known = facts.durations.models.get(self.model_id)
            if known:
                self.notes.append("Durations from the facts file: the SDK types them only as a whole number.")
                return sorted(set(known))
            raise Unusable("the SDK does not say which durations it accepts; add them to the facts file")
        raise Unusable("the duration is not a number of seconds")

    def _default_duration(self, durations: list[int]) -> int | None:
        duration = self.fields["duration"]
        if duration.required:
            return None
        stated = _DEFAULT_VALUE.search(duration.doc)
        if stated and int(stated.group(1)) in durations:
            return int(stated.group(1))
        self.notes.append("The upstream lets duration be left out but the SDK states no default.")
        return None

    def _positions(self) -> list[str]:
        image = self.fields.get("promptImage")
        if image is None:
            raise Unusable("no `promptImage` field")
        item = next(
            (get_args(arg)[0] for arg in get_args(image.hint) if get_origin(arg) is Iterable and get_args(arg)),
            None,
        )
        if item is None:
            return ["first"]  # a single image: the first frame
        item_hints = typing.get_type_hints(item, include_extras=True) if _is_typed_dict(item) else {}
        if "position" in item_hints:
            given = {str(v) for v in _literal_values(_unwrap(item_hints["position"])[0])}
            return [p for p in ("first", "last") if p in given] or ["first"]
        # Items typed `object`: the schema names the positions only in prose.
        mentions_last = re.search(r"\blast\b", image.doc, re.IGNORECASE) is not None
        self.notes.append("Frame positions read from the SDK's description, not its types.")
        return ["first", "last"] if mentions_last else ["first"]

    def _prompt_required(self) -> bool:
        prompt = self.fields.get("promptText")
        return bool(prompt and prompt.required)

    def _prompt_max(self) -> int:
        prompt = self.fields.get("promptText")
        if prompt is None:
            raise Unusable("no `promptText` field")
        stated = _PROMPT_MAX.search(prompt.doc)
        if stated:
            return int(stated.group(1).replace(",", ""))
        self.notes.append(f"The SDK states no prompt limit; the console's {FALLBACK_PROMPT_MAX} is assumed.")
        return FALLBACK_PROMPT_MAX


def _is_typed_dict(value: object) -> bool:
    return isinstance(value, type) and hasattr(value, "__annotations__") and hasattr(value, "__total__")


def tidy_number(value: float) -> float | int:
    rounded = round(value, 4)
    return int(rounded) if rounded == int(rounded) else rounded
