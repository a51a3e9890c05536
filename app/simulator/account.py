"""The account the simulator's tasks are billed to: its credit balance and each model's
generations in the past day, with the limits that refuse a create.

Billing follows the API: a task's price (the catalogue's, 0 when the catalogue has none) is
taken from the balance when it is created and shown as `estimatedCost` while it is active; a
task that succeeds keeps it as its `cost`; one that fails or is cancelled is fully refunded and
reports `cost: {"credits": 0}`.
"""

from __future__ import annotations

import math
from typing import Any

from app.catalogue import Catalogue
from app.simulator.settings import SimulatorSettings

# "Daily" generations, as the API counts them: those created in the past day.
DAY_SECONDS = 86_400.0


class NotEnoughCredits(Exception):
    """The balance cannot pay for the task, or the `[sim:credits]` trigger says to act as if so."""


class DailyLimitReached(Exception):
    """The model's `SIMULATOR_DAILY_LIMIT` generations in the past day are used up."""

    def __init__(self, model: str) -> None:
        super().__init__(model)
        self.model = model


def price_credits(price: float | None) -> float:
    """A task's price in credits: the catalogue's, or 0 when it has none (the SDK needs a number)."""
    return price if price is not None and math.isfinite(price) and price >= 0 else 0.0


def tidy_credits(value: float) -> int | float:
    """Whole credits as an int, as the API writes them; fractions stay fractions."""
    return int(value) if float(value).is_integer() else value


class Account:
    """The balance and the generations counted against the daily limit; used under the simulator's lock."""

    def __init__(self, settings: SimulatorSettings) -> None:
        self.settings = settings
        self.balance = settings.credits
        # Creation times (wall clock) per model; deleting a task does not give its generation back.
        self._generations: dict[str, list[float]] = {}

    def bill(self, model: str, charge: int, wall: float) -> None:
        """Count a new generation of `model` at `wall` and take its charge, or refuse it."""
        if self.balance <= 0 or self.balance < charge:
            raise NotEnoughCredits
        recent = self._recent_generations(model, wall)
        if self.settings.daily_limit is not None and len(recent) >= self.settings.daily_limit:
            raise DailyLimitReached(model)
        recent.append(wall)
        self.balance -= charge

    def refund(self, charge: int) -> None:
        """Give back what a task that did not succeed was charged."""
        self.balance += charge

    def restore(self, model: str, created_wall: float, spent: int) -> None:
        """Count a task kept from an earlier run: its generation, and the credits it kept spent."""
        self._generations.setdefault(model, []).append(created_wall)
        self.balance -= spent

    def organization(self, catalogue: Catalogue, wall: float) -> dict[str, Any]:
        """The account as `GET /v1/organization` shows it: balance, tier limits, usage in the past day."""
        return {
            "creditBalance": self.balance,
            "tier": {
                "maxMonthlyCreditSpend": self.settings.monthly_credit_spend,
                "models": {
                    model.id: {
                        "maxConcurrentGenerations": self.settings.concurrency,
                        "maxDailyGenerations": self.settings.daily_limit,
                    }
                    for model in catalogue.models
                },
            },
            "usage": {
                "models": {
                    model.id: {"dailyGenerations": len(self._recent_generations(model.id, wall))}
                    for model in catalogue.models
                }
            },
        }

    def _recent_generations(self, model: str, wall: float) -> list[float]:
        kept = [when for when in self._generations.get(model, []) if when > wall - DAY_SECONDS]
        self._generations[model] = kept
        return kept
