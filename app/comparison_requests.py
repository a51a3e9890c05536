"""A comparison asked for on the task form (several models and/or seeds): read and checked all at once,
then started as one ordinary task per combination.

The frames, prompt and options are read once, by the task form's own rules, with the first model
fitted as it will run; every other model is then checked against the catalogue with those same
frames and that prompt. Nothing starts unless every combination passes (and fits the hourly cap).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.datastructures import FormData

from app.catalogue import Catalogue, ModelSpec, check_request
from app.comparisons import (
    MAX_COMBINATIONS,
    Combination,
    Comparison,
    SeedRequest,
    SeedsProblem,
    StoredMessages,
    choose_seeds,
    closest_duration,
    closest_ratio,
    new_comparison,
    parse_seeds,
    plan,
)
from app.form_values import FormErrors, FormValues, Message
from app.forms import parse_task_form
from app.i18n import Translator
from app.intake import FrameIntake
from app.poller import TaskPoller
from app.storage import TaskStore
from app.task_quota import Reservation
from app.task_submission import TaskSubmission
from app.upstream_errors import UpstreamError
from app.variations import combination_submission, launch_comparison
from app.views import upstream_messages


def _models(form: FormData) -> list[str]:
    """The models asked for, in the form's order, each once."""
    return list(dict.fromkeys(v.strip() for v in form.getlist("model") if isinstance(v, str) and v.strip()))


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def is_comparison_form(form: FormData) -> bool:
    """More than one model, or any `seeds`: the form asks for a comparison rather than one task."""
    return len(_models(form)) > 1 or bool(_text(form, "seeds"))


@dataclass
class ComparisonRequest:
    """What a comparison form asked for: the combinations to run, or the messages saying why not."""

    values: FormValues
    errors: FormErrors
    # The form's compare controls as they are shown again: the extra models, the seeds, left open.
    controls: dict[str, object]
    ratio: str
    duration: int | None
    base: TaskSubmission | None = None
    combinations: list[Combination] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return self.base is not None and not self.errors


async def read_comparison_form(
    form: FormData, *, catalogue: Catalogue, intake: FrameIntake, max_upload_bytes: int, t: Translator
) -> ComparisonRequest:
    """Read and check a comparison form: every combination, all or nothing (`t` words another model's issues)."""
    model_ids = _models(form)
    ratio, duration_text, seeds_text = _text(form, "ratio"), _text(form, "duration"), _text(form, "seeds")
    errors = FormErrors()
    specs = _known_models(catalogue, model_ids, errors)
    seed_request: SeedRequest | None = None
    try:
        seed_request = parse_seeds(seeds_text)
    except SeedsProblem as problem:
        errors.add("seeds", Message(f"errors.{problem.code}", problem.params))
    duration = int(duration_text) if duration_text.isascii() and duration_text.isdigit() else None

    # The frames, prompt and options are read and checked once, with the first model fitted as it will run.
    first = specs[0] if specs else None
    overrides = {"model": first.id if first else (model_ids[0] if model_ids else "")}
    if first is not None:
        overrides["ratio"] = closest_ratio(first, ratio) or ratio
        if duration is not None:
            overrides["duration"] = str(closest_duration(first, duration))
    base_form = FormData([(k, v) for k, v in form.multi_items() if k not in overrides] + list(overrides.items()))
    values, base, base_errors = await parse_task_form(
        base_form, catalogue=catalogue, frames=intake, max_upload_bytes=max_upload_bytes
    )
    for name, messages in base_errors.fields.items():
        for message in messages:
            errors.add(name, message)
    errors.general += base_errors.general
    values.model = model_ids[0] if model_ids else values.model
    values.ratio, values.duration = ratio, duration_text

    asked = ComparisonRequest(
        values, errors, {"models": model_ids[1:], "seeds": seeds_text, "open": True}, ratio, duration, base
    )
    if base is not None and duration is not None and specs:
        seeds = choose_seeds(seed_request, None if base.seed_rolled else base.seed)
        asked.combinations = plan(specs, ratio, duration, seeds)
        if len(asked.combinations) > MAX_COMBINATIONS:
            params: dict[str, object] = {
                "count": len(asked.combinations),
                "models": len(specs),
                "seeds": len(seeds),
                "max": MAX_COMBINATIONS,
            }
            errors.add("seeds" if seed_request is not None else "model", Message("errors.compare_too_many", params))
        _check_other_models(catalogue, specs[1:], base, ratio, duration, errors, t)
    return asked


def _known_models(catalogue: Catalogue, model_ids: list[str], errors: FormErrors) -> list[ModelSpec]:
    """The catalogue's specs of the models asked for; each unknown one gets a message by the model field."""
    specs = []
    for model_id in model_ids:
        spec = catalogue.get(model_id)
        if spec is None:
            errors.add("model", Message("errors.model_unknown", {"value": model_id}))
        else:
            specs.append(spec)
    return specs


def _check_other_models(
    catalogue: Catalogue,
    specs: list[ModelSpec],
    base: TaskSubmission,
    ratio: str,
    duration: int,
    errors: FormErrors,
    t: Translator,
) -> None:
    """The catalogue's rules for each model after the first, fitted as it will run; a message names the model."""
    positions = [f.position for f in base.frames]
    for spec in specs:
        issues = check_request(
            catalogue,
            model=spec.id,
            ratio=closest_ratio(spec, ratio) or ratio,
            duration=closest_duration(spec, duration),
            positions=positions,
            prompt=base.prompt,
            seed=None,
        )
        for issue in issues:
            name = f"{issue.params['position']}_frame" if issue.field == "promptImage" else issue.field
            detail = t(f"errors.{issue.code}", **issue.params)
            errors.add(name, Message.raw(t("errors.for_model", model=spec.id, detail=detail)))


async def start_comparison(
    asked: ComparisonRequest,
    reservation: Reservation,
    *,
    store: TaskStore,
    poller: TaskPoller,
    owner: str | None,
) -> Comparison:
    """Store the comparison and start every combination; starts reserved for those that did not start go back."""
    assert asked.base is not None
    base = asked.base
    comparison = new_comparison(
        asked.combinations,
        ratio=asked.ratio,
        duration=asked.duration or 0,
        prompt=base.prompt,
        now=poller.clock(),
        owner=owner,
    )
    await launch_comparison(
        comparison,
        [combination_submission(base, c) for c in asked.combinations],
        asked.values.stored_notes(),
        store=store,
        poller=poller,
        describe=_stored_messages,
    )
    reservation.release(sum(1 for e in comparison.entries if not e.started))
    return comparison


def _stored_messages(error: UpstreamError) -> StoredMessages:
    """Why the upstream refused one combination, as its entry keeps it."""
    return [(m.key, m.params) for m in upstream_messages(error)]
