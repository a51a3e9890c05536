"""Starting tasks from what is already known: every combination of a comparison, and a stored
request run again with a fresh seed (frames reused from the frame store, nothing uploaded again)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from dataclasses import replace

from app.catalogue import SEED_MAX, Catalogue, RuleIssue, check_request
from app.comparisons import Combination, Comparison, StoredMessages
from app.poller import SubmissionNotRecorded, TaskPoller
from app.storage import FrameStore, TaskStore
from app.task_submission import Frame, TaskSubmission
from app.tasks import StoredNotes, TaskRecord, frame_ref
from app.upstream_errors import UpstreamError

# Creates sent at once for one comparison: quicker than one by one, gentle on an upstream's rate limit.
CONCURRENT_CREATES = 3


async def start_task(
    poller: TaskPoller,
    submission: TaskSubmission,
    notes: StoredNotes,
    *,
    owner: str | None,
    comparison_id: str | None = None,
) -> TaskRecord:
    """Send one submission upstream and start following it as `owner`'s; raises UpstreamError, or
    SubmissionNotRecorded when it could not be written down first (then nothing was sent)."""
    return await poller.submit(submission, notes, owner=owner, comparison_id=comparison_id)


def combination_submission(base: TaskSubmission, combination: Combination) -> TaskSubmission:
    """The base submission (frames, prompt, options) with one combination's model, ratio, duration, seed."""
    return replace(
        base,
        model=combination.model,
        ratio=combination.ratio,
        duration=combination.duration,
        seed=combination.seed,
        seed_rolled=combination.seed_rolled,
    )


async def launch_comparison(
    comparison: Comparison,
    submissions: list[TaskSubmission],
    notes: StoredNotes,
    *,
    store: TaskStore,
    poller: TaskPoller,
    describe: Callable[[UpstreamError], StoredMessages],
) -> Comparison:
    """Start every combination; one the upstream refuses keeps its reason and the others still run.

    The comparison is stored before the first create, so every task started can name it.
    """
    store.insert_comparison(comparison)
    slots = asyncio.Semaphore(CONCURRENT_CREATES)

    async def start(index: int) -> None:
        entry = comparison.entries[index]
        async with slots:
            try:
                record = await start_task(
                    poller, submissions[index], notes, owner=comparison.owner, comparison_id=comparison.id
                )
            except UpstreamError as error:
                entry.error = describe(error)
            except SubmissionNotRecorded:
                entry.error = [("errors.not_recorded", {})]
            else:
                entry.task_id = record.id

    await asyncio.gather(*(start(index) for index in range(len(comparison.entries))))
    store.insert_comparison(comparison)
    return comparison


class RerunProblem(Exception):
    """A stored task cannot be run again as it was; `issues` say why (message keys under errors)."""

    def __init__(self, issues: list[RuleIssue]) -> None:
        super().__init__(", ".join(issue.code for issue in issues))
        self.issues = issues


def fresh_seed(old: int | None) -> int:
    while True:
        seed = secrets.randbelow(SEED_MAX + 1)
        if seed != old:
            return seed


def rerun_submission(task: TaskRecord, catalogue: Catalogue, frames: FrameStore) -> TaskSubmission:
    """The task's stored request again with a fresh seed; raises RerunProblem when it no longer passes
    (a model the catalogue dropped, a frame no longer stored)."""
    body = task.request_body()
    spec = catalogue.get(task.model or "")
    if body is None or spec is None or task.ratio is None or task.duration is None:
        raise RerunProblem([RuleIssue("model", "model_unknown", {"value": task.model or ""})])
    chosen: list[Frame] = []
    problems: list[RuleIssue] = []
    for position, stored in (("first", task.first_frame), ("last", task.last_frame)):
        if not stored:
            continue
        ref = frame_ref(stored)
        if ref is None:
            chosen.append(Frame(position, url=stored))
            continue
        try:
            chosen.append(Frame(position, ref=ref, data_uri=frames.data_uri(ref)))
        except FileNotFoundError:
            problems.append(RuleIssue("promptImage", "frame_ref_missing", {"position": position}))
    problems += check_request(
        catalogue,
        model=spec.id,
        ratio=task.ratio,
        duration=task.duration,
        positions=[f.position for f in chosen],
        prompt=task.prompt or "",
        seed=None,
    )
    if problems:
        raise RerunProblem(problems)
    return TaskSubmission(
        model=spec,
        ratio=task.ratio,
        duration=task.duration,
        seed=fresh_seed(task.seed),
        seed_rolled=True,
        prompt=task.prompt or "",
        watermark=bool(task.watermark),
        notify_hook=task.notify_hook,
        frames=chosen,
    )
