"""Checking a create body the way the upstream does: every issue at once, in Runway's shape.

The catalogue's rules are the console's own (`check_request`), so a body the console would refuse
is refused here too, at the same `path`; the messages are the API's own (`messages`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app import images
from app.api_messages import issue_message
from app.catalogue import RELAY_OPTIONAL_FIELDS, Catalogue, RuleIssue, check_request
from app.simulator.prompt_images import UploadResolver, frames_for_render, load_frame, no_uploads
from app.simulator.render import Frame


@dataclass
class TaskRequest:
    """A create body that passed validation."""

    model: str
    ratio: str
    duration: int
    prompt: str
    frames: list[Frame]
    credits: float | None
    notify_hook: str | None = None


class ValidationFailed(Exception):
    """The body breaks the API's rules; `issues` are in Runway's {path, message} shape."""

    def __init__(self, issues: list[dict[str, Any]]) -> None:
        super().__init__("validation failed")
        self.issues = issues


def validate(body: object, catalogue: Catalogue, max_side: int, uploads: UploadResolver | None = None) -> TaskRequest:
    """Check a create body like the upstream; raise ValidationFailed with every issue."""
    return Validator(catalogue, max_side, uploads).run(body)


def without_lone_surrogates(text: str) -> str:
    """The text with each lone surrogate (legal in JSON, not in UTF-16 encoders) as U+FFFD.

    Both count as one UTF-16 unit, so the prompt length the catalogue measures is unchanged.
    """
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


class Validator:
    """One pass over a create body, collecting every issue instead of stopping at the first."""

    def __init__(self, catalogue: Catalogue, max_side: int, uploads: UploadResolver | None = None) -> None:
        self.catalogue = catalogue
        self.max_side = max_side
        self.uploads = uploads or no_uploads
        self.issues: list[dict[str, Any]] = []
        # Fields whose value could not be read: the catalogue's rules would only repeat that.
        self.unreadable: set[str] = set()

    def add(self, path: list[str | int], code: str, **params: object) -> None:
        self.issues.append({"path": path, "message": issue_message(code, **params)})

    def run(self, body: object) -> TaskRequest:
        if not isinstance(body, dict):
            self.add([], "body_not_object")
            raise ValidationFailed(self.issues)
        model = self.string(body, "model", required=True)
        ratio = self.string(body, "ratio", required=True)
        # Left out, the model's default applies; a model without one reports it as required below.
        duration = self.integer(body, "duration", "duration_not_integer", required=False)
        seed = self.integer(body, "seed", "seed_not_integer", required=False)
        prompt = self.string(body, "promptText", required=False) or ""
        spec = self.catalogue.get(model) if model is not None else None
        no_default = spec is not None and spec.default_duration is None
        if duration is None and "duration" not in self.unreadable and no_default:
            self.add(["duration"], "field_required")
            self.unreadable.add("duration")
        notify_hook = self.optional_fields(body, model)
        self.typed(body, "contentModeration", dict)
        frames, positions, item_index = self.prompt_images(body)

        rule_issues = check_request(
            self.catalogue,
            model=model or "",
            ratio=ratio or "",
            duration=duration,
            positions=positions,
            prompt=without_lone_surrogates(prompt),
            seed=seed,
        )
        self.add_rule_issues(rule_issues, positions, item_index)
        if self.issues:
            raise ValidationFailed(self.issues)
        assert model is not None and ratio is not None
        spec = self.catalogue.get(model)
        assert spec is not None
        duration = spec.effective_duration(duration)
        assert duration is not None
        price = spec.price(duration) if self.catalogue.currency == "credits" else None
        return TaskRequest(
            model=model,
            ratio=ratio,
            duration=duration,
            prompt=prompt,
            frames=frames_for_render(frames, ratio, self.max_side),
            credits=price,
            notify_hook=notify_hook,
        )

    def optional_fields(self, body: dict[str, Any], model: str | None) -> str | None:
        """Check `watermark` and `notify_hook`: refused as unknown keys where the model takes neither."""
        spec = self.catalogue.get(model) if model is not None else None
        for name in RELAY_OPTIONAL_FIELDS:
            if name in body and spec is not None and not spec.accepts(name):
                self.add([name], "field_unrecognized", name=name)
                self.unreadable.add(name)
        self.typed(body, "watermark", bool)
        if not self.present(body, "notify_hook", False) or "notify_hook" in self.unreadable:
            return None
        hook = body["notify_hook"]
        if not isinstance(hook, str):
            self.add(["notify_hook"], "field_type")
            return None
        if not images.is_web_url(hook.strip()):
            self.add(["notify_hook"], "notify_hook_invalid")
            return None
        return hook.strip()

    def present(self, body: dict[str, Any], name: str, required: bool) -> bool:
        # null is treated as left out: clients serialising optional fields send it.
        if body.get(name) is not None:
            return True
        if required:
            self.add([name], "field_required")
            self.unreadable.add(name)
        return False

    def string(self, body: dict[str, Any], name: str, *, required: bool) -> str | None:
        if not self.present(body, name, required):
            return None
        value = body[name]
        if not isinstance(value, str):
            self.add([name], "field_type")
            self.unreadable.add(name)
            return None
        return value

    def integer(self, body: dict[str, Any], name: str, code: str, *, required: bool) -> int | None:
        if not self.present(body, name, required):
            return None
        value = body[name]
        # JSON has one number type: 5.0 is the same number as 5, as the real (JavaScript) API sees it.
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        self.add([name], code)
        self.unreadable.add(name)
        return None

    def typed(self, body: dict[str, Any], name: str, kind: type) -> None:
        if name in self.unreadable:
            return
        if self.present(body, name, False) and not isinstance(body[name], kind):
            self.add([name], "field_type")

    def prompt_images(self, body: dict[str, Any]) -> tuple[list[Frame], list[str], list[int]]:
        """The frames, the positions the catalogue should check, and each position's item index."""
        if not self.present(body, "promptImage", True):
            return [], [], []
        value = body["promptImage"]
        if isinstance(value, str):
            frame = self.frame(value, "first", "promptImage", ["promptImage"])
            return [frame] if frame is not None else [], ["first"], [-1]
        if not isinstance(value, list):
            self.add(["promptImage"], "field_type")
            self.unreadable.add("promptImage")
            return [], [], []
        frames: list[Frame] = []
        positions: list[str] = []
        item_index: list[int] = []
        for index, item in enumerate(value):
            if not isinstance(item, dict):
                self.add(["promptImage", index], "field_type")
                self.unreadable.add("promptImage")
                continue
            position = self.string_at(item, "position", ["promptImage", index, "position"])
            uri = self.string_at(item, "uri", ["promptImage", index, "uri"])
            if position is None:
                self.unreadable.add("promptImage")
                continue
            positions.append(position)
            item_index.append(index)
            if uri is not None:
                frame = self.frame(uri, position, f"promptImage[{index}]", ["promptImage", index, "uri"])
                if frame is not None and position in ("first", "last"):
                    frames.append(frame)
        return frames, positions, item_index

    def string_at(self, item: dict[str, Any], name: str, path: list[str | int]) -> str | None:
        value = item.get(name)
        if value is None:
            self.add(path, "field_required")
            return None
        if not isinstance(value, str):
            self.add(path, "field_type")
            return None
        return value

    def frame(self, uri: str, position: str, label: str, path: list[str | int]) -> Frame | None:
        """Check one image reference (see `prompt_images`); None with the issue added if refused."""
        try:
            return load_frame(uri, position, label, self.uploads)
        except images.ImageProblem as problem:
            self.add(path, problem.code, **problem.params)
            return None

    def add_rule_issues(self, rule_issues: list[RuleIssue], positions: list[str], item_index: list[int]) -> None:
        """Add the catalogue's findings, pointing position problems at the array item concerned."""
        reported: set[int] = set()
        for issue in rule_issues:
            if issue.field in self.unreadable:
                continue
            path: list[str | int] = [issue.field]
            params = dict(issue.params)
            slot: int | None = None
            if issue.code == "position_not_allowed":
                slot = next(
                    (i for i, p in enumerate(positions) if p == params.get("position") and i not in reported),
                    None,
                )
            elif issue.code == "position_repeated":
                slot = next((i for i, p in enumerate(positions) if p in positions[:i]), None)
                if slot is not None:
                    params["position"] = positions[slot]
            if slot is not None:
                reported.add(slot)
                if item_index[slot] >= 0:
                    path = ["promptImage", item_index[slot], "position"]
            self.add(path, issue.code, **params)
