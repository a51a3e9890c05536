"""CONSOLE_TASKS_PER_HOUR as the console's pages apply it: task starts reserved before anything goes
upstream (a set of them all or none), given back for those that never started, and the message
saying when the next task may start.

The counting itself (a sliding window per principal) is the Gate's; this is the part every way of
starting tasks shares: the task form, a comparison, "New seed".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from app.access import Principal
from app.form_values import Message
from app.gate import Gate


class OverHourlyCap(Exception):
    """The cap is reached: nothing may start for `wait` seconds (reservations taken so far were given back)."""

    def __init__(self, wait: float) -> None:
        super().__init__(f"over the hourly cap for {wait:.0f} s")
        self.wait = wait

    @property
    def minutes(self) -> int:
        """The wait as a page states it: whole minutes, at least one."""
        return max(1, math.ceil(self.wait / 60))

    @property
    def retry_after(self) -> int:
        """The wait as a Retry-After header states it: whole seconds, at least one."""
        return max(1, math.ceil(self.wait))

    def message(self, limit: int | None) -> Message:
        """The message by the form: the cap (CONSOLE_TASKS_PER_HOUR) and when the next task may start."""
        return Message("errors.tasks_per_hour", {"limit": limit or 0, "minutes": self.minutes})


@dataclass
class Reservation:
    """Task starts counted against the cap, each kept by its time so that it can be given back."""

    gate: Gate
    principal: Principal
    times: list[float] = field(default_factory=list)

    def release(self, count: int | None = None) -> None:
        """Give back `count` of the starts (all when None): their tasks never started."""
        for _ in range(len(self.times) if count is None else count):
            self.gate.release_task(self.principal, self.times.pop())


def reserve_tasks(gate: Gate, principal: Principal, count: int = 1) -> Reservation:
    """Count `count` task starts against the cap, all or none; raises OverHourlyCap when they do not all fit."""
    reservation = Reservation(gate, principal)
    for _ in range(count):
        wait, reserved_at = gate.reserve_task(principal)
        if wait is not None:
            reservation.release()
            raise OverHourlyCap(wait)
        reservation.times.append(reserved_at)
    return reservation
