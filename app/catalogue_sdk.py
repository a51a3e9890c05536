"""A catalogue for the official API, read from the installed `runwayml` SDK's request types.

The SDK is generated from the API's OpenAPI description, so its `image_to_video` TypedDicts are
the most current machine-readable statement of which models exist and what each accepts. What they
leave open (prices; the durations of a model typed as a bare `int`) comes from a small facts file,
`app/catalogue_facts.json`, which cites its sources. The console itself never needs the SDK: it is
imported only here, and only when a catalogue is generated.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, get_args

from app.catalogue import Catalogue, CatalogueError
from app.catalogue_facts import Facts, load_facts
from app.sdk_request_types import RequestTypeReader, Unusable, field_docs, tidy_number

SDK_PACKAGE = "runwayml"
PARAMS_MODULE = "runwayml.types.image_to_video_create_params"
PARAMS_UNION = "ImageToVideoCreateParams"
# The console's own limit when the SDK states none; said in the model's note when used.


class SdkUnavailable(Exception):
    """The runwayml package is not installed (or not importable); the message says what to do."""


@dataclass
class Generated:
    """A generated catalogue, with the models that could not be expressed and why."""

    catalogue: Catalogue
    sdk_version: str
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def to_json(self) -> str:
        return catalogue_json(self.catalogue)


def import_sdk(import_module: Callable[[str], ModuleType] = importlib.import_module) -> tuple[ModuleType, str]:
    """The SDK's image_to_video params module and the SDK version, or SdkUnavailable."""
    try:
        package = import_module(SDK_PACKAGE)
        params = import_module(PARAMS_MODULE)
    except ImportError as exc:
        raise SdkUnavailable(
            "the runwayml SDK is not installed: install the runwayml package "
            f"(pip install runwayml, or this project's [test] extra) to generate a catalogue from it ({exc})"
        ) from None
    return params, str(getattr(package, "__version__", "unknown"))


def generate_catalogue(
    facts: Facts | None = None,
    *,
    import_module: Callable[[str], ModuleType] = importlib.import_module,
) -> Generated:
    """Build the catalogue from the installed SDK; models it cannot express are listed, not guessed."""
    facts = facts or load_facts()
    params, version = import_sdk(import_module)
    union = getattr(params, PARAMS_UNION, None)
    members = get_args(union) if union is not None else ()
    if not members:
        raise SdkUnavailable(f"runwayml {version}: {PARAMS_MODULE}.{PARAMS_UNION} is not a Union of request types")
    docs = field_docs(params)
    models: list[dict[str, Any]] = []
    skipped: list[tuple[str, str]] = []
    for request_type in members:
        try:
            reader = RequestTypeReader(request_type, docs)
        except (NameError, TypeError, AttributeError) as exc:
            name = getattr(request_type, "__name__", repr(request_type))
            skipped.append((name, f"its type hints cannot be read ({exc})"))
            continue
        try:
            models.append(reader.model_entry(facts))
        except Unusable as reason:
            skipped.append((reader.model_id, str(reason)))
    if not models:
        raise CatalogueError(f"runwayml {version}: no image_to_video model could be expressed as a catalogue")
    data = {
        "currency": facts.prices.currency,
        "source": f"runwayml {version} (image_to_video request types) and app/catalogue_facts.json",
        # The official API rejects fields it does not know, and no model's schema has these.
        "optional_fields": [],
        "models": models,
    }
    return Generated(Catalogue.model_validate(data), version, skipped)


def catalogue_json(catalogue: Catalogue) -> str:
    """The catalogue as a file an operator can read and edit: one line per model field."""
    top = catalogue.model_dump(mode="json")
    lines = ["{"]
    for key in ("currency", "source", "optional_fields"):
        lines.append(f"  {json.dumps(key)}: {json.dumps(top[key], ensure_ascii=False)},")
    lines.append('  "models": [')
    for index, spec in enumerate(catalogue.models):
        entry = spec.model_dump(mode="json")
        entry["prices"] = {k: tidy_number(v) for k, v in entry["prices"].items()}
        # Inherited from the top level unless the model differs.
        if tuple(spec.optional_fields) == tuple(catalogue.optional_fields):
            entry.pop("optional_fields")
        for optional, empty in (("label", ""), ("note", ""), ("default_duration", None)):
            if entry.get(optional) == empty:
                entry.pop(optional)
        body = ",\n".join(f"      {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in entry.items())
        comma = "," if index < len(catalogue.models) - 1 else ""
        lines.append("    {\n" + body + "\n    }" + comma)
    lines.append("  ]")
    lines.append("}")
    return "\n".join(lines) + "\n"
