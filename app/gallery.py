"""The gallery: what the query parameters ask for, one page of cards, the pages around it, cost totals.

Routers hand in the raw query parameters; everything here is plain data for `tasks.html` and
`_task_card.html`. Listings always go through the store with the viewer's Visibility.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from app.catalogue import Catalogue
from app.failures import explain_failure
from app.form_values import Message
from app.storage import CostTotals, TaskFilter, TaskStore, Visibility
from app.tasks import ACTIVE_STATUSES, TaskRecord, TaskStatus, frame_ref, is_task_id
from app.timestamps import utc_iso
from app.views import cost_estimate, elapsed_seconds

PAGE_SIZE = 24
QUERY_MAX_CHARS = 200
MODEL_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$")
# Page links shown on each side of the current one (then a gap, then the first or last page).
PAGES_AROUND = 2
# At most this many cards ride on one live request (a page holds PAGE_SIZE).
LIVE_MAX_IDS = 60
DAYS_SHOWN = 14

ACTIVE = "active"
# The status filter's choices, in the order the form offers them; "active" is every unfinished status.
STATUS_CHOICES: tuple[str, ...] = (
    ACTIVE,
    *(s.value.lower() for s in (TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELLED)),
    *(s.value.lower() for s in (TaskStatus.PENDING, TaskStatus.THROTTLED, TaskStatus.RUNNING)),
)


@dataclass
class GalleryQuery:
    """The gallery's query parameters, checked; a bad one gets a message and is left out of the filter."""

    status: str = ""
    model: str = ""
    q: str = ""
    page: int = 1
    errors: dict[str, Message] = field(default_factory=dict)
    raw: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, status: str | None, model: str | None, q: str | None, page: str | None) -> GalleryQuery:
        query = cls(raw={"status": status or "", "model": model or "", "q": q or "", "page": page or ""})
        status = (status or "").strip().lower()
        if status and status not in STATUS_CHOICES:
            query.errors["status"] = Message("gallery.error_status")
        else:
            query.status = status
        model = (model or "").strip()
        if model and not MODEL_PATTERN.match(model):
            query.errors["model"] = Message("gallery.error_model")
        else:
            query.model = model
        text = " ".join((q or "").split())
        if len(text) > QUERY_MAX_CHARS:
            query.errors["q"] = Message("gallery.error_q", {"max": QUERY_MAX_CHARS})
        else:
            query.q = text
        if page:
            try:
                query.page = int(page)
            except ValueError:
                query.page = 0
            if not 1 <= query.page <= 10**6:
                query.errors["page"] = Message("gallery.error_page")
                query.page = 1
        return query

    def task_filter(self) -> TaskFilter:
        if self.status == ACTIVE:
            statuses = frozenset(ACTIVE_STATUSES)
        elif self.status:
            statuses = frozenset({TaskStatus(self.status.upper())})
        else:
            statuses = frozenset()
        return TaskFilter(statuses=statuses, model=self.model or None, text=self.q)

    @property
    def is_filtered(self) -> bool:
        return bool(self.status or self.model or self.q)

    def params(self, **changes: object) -> dict[str, str]:
        """Query parameters for a link to this view (changed as given), without empty ones or page 1."""
        values: dict[str, object] = {"status": self.status, "model": self.model, "q": self.q, "page": self.page}
        values.update(changes)
        return {k: str(v) for k, v in values.items() if v and not (k == "page" and v == 1)}


@dataclass(frozen=True)
class Pagination:
    page: int
    total: int
    size: int = PAGE_SIZE

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.size))

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size

    @property
    def first_shown(self) -> int:
        return min(self.total, self.offset + 1)

    @property
    def last_shown(self) -> int:
        return min(self.total, self.offset + self.size)

    @property
    def beyond_end(self) -> bool:
        return self.page > self.pages

    def window(self) -> list[int | None]:
        """Page numbers to link, None where pages are skipped: 1 … 4 5 [6] 7 8 … 20."""
        wanted = {1, self.pages, *range(self.page - PAGES_AROUND, self.page + PAGES_AROUND + 1)}
        shown = sorted(p for p in wanted if 1 <= p <= self.pages)
        out: list[int | None] = []
        for number in shown:
            if out and number - (out[-1] or 0) > 1:
                out.append(None)
            out.append(number)
        return out


def created_moment(task: TaskRecord) -> tuple[str, str]:
    """The creation time as an ISO UTC `datetime` attribute and as the text shown without JavaScript."""
    moment: datetime | None = None
    if task.created_at:
        try:
            moment = datetime.fromisoformat(task.created_at)
        except ValueError:
            moment = None
    if moment is None or moment.tzinfo is None:
        iso = utc_iso(task.submitted_at)
        moment = datetime.fromisoformat(iso)
    moment = moment.astimezone(UTC)
    iso = moment.isoformat(timespec="seconds").replace("+00:00", "Z")
    return iso, moment.strftime("%Y-%m-%d %H:%M UTC")


def task_card(task: TaskRecord, catalogue: Catalogue, now: float) -> dict[str, object]:
    """One gallery card: what it shows and which picture it uses."""
    iso, text = created_moment(task)
    has_video = task.video_file is not None
    failure = explain_failure(task.failure_code) if task.status == TaskStatus.FAILED else None
    return {
        "id": task.id,
        "status": task.status,
        "active": task.is_active,
        "settled": task.is_settled,
        "gone": task.gone,
        "model": task.model,
        "token_name": task.token_name,
        "ratio": task.ratio,
        "duration": task.duration,
        "seed": task.seed,
        "prompt": task.prompt or "",
        "created_iso": iso,
        "created_text": text,
        "run_seconds": elapsed_seconds(task, now),
        "progress_percent": round((task.progress or 0.0) * 100),
        "cost": task.cost,
        "estimate": cost_estimate(task, catalogue),
        "currency": catalogue.currency,
        "has_video": has_video,
        # A poster is made once per video; one that could not be decoded falls back to the first frame.
        "poster": task.poster_file is not None or (has_video and not task.poster_failed),
        "frame_ref": frame_ref(task.first_frame),
        "evicted": task.is_evicted,
        "expired": task.video_expired,
        "failure_group": failure.group if failure else None,
        "updated_at": task.updated_at,
        # "New seed" needs the request as it was sent; a task opened by id has none.
        "rerunnable": task.request_json is not None,
    }


def live_ids(cards: list[dict[str, object]]) -> list[str]:
    """The cards that still change: unfinished, or finished with the video still on its way."""
    return [str(card["id"]) for card in cards if not card["settled"]][:LIVE_MAX_IDS]


def parse_live_ids(text: str | None) -> list[str]:
    ids = [part for part in (text or "").split(",") if part]
    return [i for i in ids if is_task_id(i)][:LIVE_MAX_IDS]


def totals_view(totals: CostTotals) -> dict[str, object]:
    return {
        "tasks": totals.tasks,
        "credits": totals.credits,
        "by_day": totals.by_day[:DAYS_SHOWN],
        "more_days": max(0, len(totals.by_day) - DAYS_SHOWN),
        "by_model": totals.by_model,
    }


def _updated(card: dict[str, object]) -> float:
    return float(str(card["updated_at"]))


def gallery_page(
    query: GalleryQuery, store: TaskStore, visibility: Visibility, catalogue: Catalogue, now: float
) -> dict[str, object]:
    """One page of the gallery for tasks.html: its cards, the pages around it, the cost totals, the filter's choices."""
    where = query.task_filter()
    pagination = Pagination(query.page, store.count(where, visibility))
    listing = store.listing(where, visibility, limit=pagination.size, offset=pagination.offset)
    cards = [task_card(task, catalogue, now) for task in listing]
    models = sorted({m.id for m in catalogue.models} | set(store.models(visibility)))
    return {
        "query": query,
        "cards": cards,
        "pagination": pagination,
        "totals": totals_view(store.cost_totals(where, visibility)),
        "currency": catalogue.currency,
        "status_choices": STATUS_CHOICES,
        "models": models,
        "live": live_ids(cards),
        "since": max((_updated(c) for c in cards), default=0.0),
    }


def live_updates(
    ids: str, since: float, store: TaskStore, visibility: Visibility, catalogue: Catalogue, now: float
) -> dict[str, object]:
    """For _gallery_live.html: the cards among `ids` that changed since `since`, and which still change."""
    cards = [task_card(task, catalogue, now) for task in store.by_ids(parse_live_ids(ids), visibility)]
    return {
        "changed": [card for card in cards if _updated(card) > since],
        "live": live_ids(cards),
        "since": max([since, *(_updated(c) for c in cards)]),
    }
