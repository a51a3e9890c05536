"""What the task form's template is given: every choice, the error summary in page order, the
account panel and what would stop a submit; and the form's errors as API clients get them.
"""

from __future__ import annotations

from app.account import Account
from app.aspects import RatioShape, browser_rules, ratio_shape
from app.catalogue import Catalogue, utf16_units
from app.comparisons import MAX_COMBINATIONS
from app.form_values import FormErrors, FormValues, Message
from app.i18n import Translator

# Form fields in page order, each with its label's key: the error summary lists messages in this order.
FIELD_LABELS = {
    "first_frame": "form.first_frame",
    "last_frame": "form.last_frame",
    "promptText": "form.prompt",
    "model": "form.model",
    "duration": "form.duration",
    "ratio": "form.ratio",
    "seed": "form.seed",
    "watermark": "form.watermark",
    "notify_hook": "form.notify_hook",
}


def ratio_choices(catalogue: Catalogue, current: str) -> list[RatioShape]:
    """Every ratio any model offers, once, in catalogue order (the page shows the selected model's and
    console.js the others' on a model switch); a posted ratio no model offers is kept so it shows."""
    seen = dict.fromkeys(r for m in catalogue.models for r in m.ratios)
    if current and current not in seen and ratio_pattern_ok(current):
        seen[current] = None
    return [ratio_shape(r) for r in seen]


def ratio_pattern_ok(ratio: str) -> bool:
    width, _, height = ratio.partition(":")
    return width.isdigit() and height.isdigit() and 0 < int(width) < 100_000 and 0 < int(height) < 100_000


def error_summary(errors: FormErrors) -> list[tuple[str, str, Message]]:
    """(field, label key, message) for the summary at the top of a rejected form, in page order."""
    order = list(FIELD_LABELS)
    names = sorted(errors.fields, key=lambda n: order.index(n) if n in order else len(order))
    return [(name, FIELD_LABELS.get(name, ""), m) for name in names for m in errors.fields[name]]


def form_context(catalogue: Catalogue, values: FormValues, errors: FormErrors) -> dict[str, object]:
    """Everything _form.html needs; an unknown model falls back to the first one for its choices."""
    selected = catalogue.get(values.model) or catalogue.default_model
    return {
        "values": values,
        "errors": errors,
        "error_summary": error_summary(errors),
        "catalogue": catalogue,
        "selected_model": selected,
        "ratio_choices": ratio_choices(catalogue, values.ratio),
        "prompt_units": utf16_units(values.promptText),
        "aspect_rules": browser_rules(),
        "catalogue_json": catalogue.as_public_json(),
        "max_combinations": MAX_COMBINATIONS,
    }


def errors_json(errors: FormErrors, t: Translator) -> dict[str, object]:
    """Form errors as API clients get them: messages by field, and general ones."""
    return {
        "errors": {name: [t(m.key, **m.params) for m in ms] for name, ms in errors.fields.items()},
        "general": [t(m.key, **m.params) for m in errors.general],
    }


def account_context(
    account: Account | None, catalogue: Catalogue, active_by_model: dict[str, int], values: FormValues
) -> dict[str, object] | None:
    """The account panel: balance, each offered model's limits and use, and what would stop a submit.

    Warnings are made for every model (and, for credits, every duration) so the page can show the
    one for the current choice as the visitor changes it; None when the upstream has no account.
    """
    if account is None:
        return None
    rows = []
    warnings: list[dict[str, object]] = []
    for spec in catalogue.models:
        limits = account.models.get(spec.id)
        active = active_by_model.get(spec.id, 0)
        if limits is not None:
            rows.append({"model": spec.id, "limits": limits, "active": active})
            if limits.daily_left == 0:
                warnings.append(
                    {
                        "model": spec.id,
                        "duration": "",
                        "key": "account.warn_daily",
                        "params": {"model": spec.id, "limit": limits.max_daily},
                    }
                )
            elif limits.max_concurrent is not None and active >= limits.max_concurrent:
                warnings.append(
                    {
                        "model": spec.id,
                        "duration": "",
                        "key": "account.warn_concurrency",
                        "params": {"model": spec.id, "limit": limits.max_concurrent},
                    }
                )
        if account.credit_balance is not None and catalogue.currency == "credits":
            for duration, price in spec.prices.items():
                if price > account.credit_balance:
                    warnings.append(
                        {
                            "model": spec.id,
                            "duration": str(duration),
                            "key": "account.warn_credits",
                            "params": {"price": f"{price:g}", "balance": f"{account.credit_balance:g}"},
                        }
                    )
    for warning in warnings:
        warning["hidden"] = warning["model"] != values.model or (
            warning["duration"] != "" and warning["duration"] != values.duration
        )
    return {"balance": account.credit_balance, "rows": rows, "warnings": warnings}
