"""Which version of each task's status box is current, so a polling tab that shows it costs nothing.

Every open task page polls its status fragment every few seconds, and almost every poll finds nothing
new. The page sends back the version it shows; when that is still the current one the console answers
204 (HTMX: keep the page as it is) without reading the database or rendering a template.

The task store reports each write here (see `SqliteTaskStore(on_write=...)`); a write that changes
anything but the poller's bookkeeping makes a new version. Versions are random, so a page rendered
before a restart never matches and one task's version says nothing about another's. The task's owner
is kept with its version, so the 204 obeys the same visibility rule as a read would. The map forgets
the least recently used tasks beyond a bound: a forgotten task simply gets a new version, one render.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

# Written on every poll without changing anything a page shows.
BOOKKEEPING_FIELDS = frozenset({"next_poll_at", "updated_at"})
# Tasks watched at once beyond this are rare; an evicted one only costs a render.
MAX_TRACKED_TASKS = 4096


class _Unknown:
    def __repr__(self) -> str:
        return "UNKNOWN_OWNER"


UNKNOWN_OWNER: Final = _Unknown()
"""The owner of a task this map has not seen written or read yet."""


@dataclass
class _Entry:
    version: str
    # A hash of each field value seen written, to tell a real change from the same value written again.
    seen: dict[str, int] = field(default_factory=dict)
    owner: str | None | _Unknown = UNKNOWN_OWNER


class TaskVersions:
    """Task id → current status version (and owner), kept current by the store's writes; thread-safe."""

    def __init__(self, *, max_tasks: int = MAX_TRACKED_TASKS) -> None:
        self._max_tasks = max_tasks
        self._known: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def current(self, task_id: str) -> str:
        """The version a page showing this task's latest state carries."""
        with self._lock:
            return self._entry(task_id).version

    def unchanged(self, task_id: str, shown: str | None) -> tuple[bool, str | None]:
        """(True, the task's owner) when `shown` is its current version and its owner is known."""
        with self._lock:
            entry = self._known.get(task_id)
            if shown is None or entry is None or entry.version != shown or isinstance(entry.owner, _Unknown):
                return False, None
            self._known.move_to_end(task_id)
            return True, entry.owner

    def remember_owner(self, task_id: str, owner: str | None) -> None:
        """Learnt from a read (after a restart the map has seen no write of the task yet)."""
        with self._lock:
            self._entry(task_id).owner = owner

    def record_write(self, task_id: str, fields: Mapping[str, Any]) -> None:
        """The store wrote these fields of a task: a new version unless every shown value is as before."""
        shown = {name: _fingerprint(value) for name, value in fields.items() if name not in BOOKKEEPING_FIELDS}
        with self._lock:
            entry = self._known.get(task_id)
            if entry is None:
                entry = self._entry(task_id)
            elif any(entry.seen.get(name) != value for name, value in shown.items()):
                # Only fields seen in writes are compared: one never seen before counts as a change.
                entry.version = _new_version()
                self._known.move_to_end(task_id)
            else:
                self._known.move_to_end(task_id)
                return
            entry.seen.update(shown)
            if "owner" in fields:
                entry.owner = fields["owner"]

    def _entry(self, task_id: str) -> _Entry:
        entry = self._known.get(task_id)
        if entry is None:
            entry = self._known[task_id] = _Entry(_new_version())
            while len(self._known) > self._max_tasks:
                self._known.popitem(last=False)
        self._known.move_to_end(task_id)
        return entry


def _new_version() -> str:
    return secrets.token_hex(8)


def _fingerprint(value: Any) -> int:
    # A hash, not the value: prompts and request bodies stay out of memory; the type keeps 1 and True apart.
    return hash((type(value).__name__, value))
