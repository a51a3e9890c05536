"""The simulator's tasks on disk: one small JSON file per task in `<workdir>/tasks/`, written
atomically whenever a task is created or settles, so a restart (of the console it runs in, or of
`runway-console simulator`) keeps what it knew.

A task that was still running is not resumed (its frames were not kept): it comes back FAILED
with a message that says why, and its credits are refunded. Finished tasks come back as they were.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.files import remove_stale_parts, write_atomically
from app.simulator.triggers import Outcome
from app.tasks import ACTIVE_STATUSES, TaskStatus

log = logging.getLogger(__name__)

RESTART_FAILURE = Outcome(
    "end", "INTERNAL", "The simulator was restarted while this task was running, so it did not finish."
)


@dataclass
class StoredTask:
    """What is kept of a task: enough to answer for it again after a restart."""

    id: str
    model: str
    created_wall: float
    charge: int
    estimate: float
    status: TaskStatus
    failure: Outcome | None
    video: Path | None


class TaskJournal:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        remove_stale_parts(folder)

    def save(self, task: StoredTask) -> None:
        document: dict[str, Any] = {
            "id": task.id,
            "model": task.model,
            "created_wall": task.created_wall,
            "charge": task.charge,
            "estimate": task.estimate,
            "status": str(task.status),
            "video": task.video.name if task.video else None,
        }
        if task.failure is not None:
            failure = task.failure
            document["failure"] = {"stage": failure.stage, "code": failure.code, "message": failure.message}
        write_atomically(self.folder / f"{task.id}.json", json.dumps(document).encode())

    def forget(self, task_id: str) -> None:
        (self.folder / f"{task_id}.json").unlink(missing_ok=True)

    def load(self, videos: Path) -> list[StoredTask]:
        """Every task kept, oldest first; one still running when the process stopped comes back FAILED."""
        tasks = []
        for path in self.folder.glob("*.json"):
            try:
                document = json.loads(path.read_text("utf-8"))
                task = StoredTask(
                    id=str(document["id"]),
                    model=str(document["model"]),
                    created_wall=float(document["created_wall"]),
                    charge=int(document["charge"]),
                    estimate=float(document["estimate"]),
                    status=TaskStatus(document["status"]),
                    failure=Outcome(**document["failure"]) if document.get("failure") else None,
                    video=videos / document["video"] if document.get("video") else None,
                )
            except (OSError, ValueError, KeyError, TypeError) as error:
                log.warning("simulator: ignoring unreadable task file %s (%s)", path.name, error)
                continue
            if task.status in ACTIVE_STATUSES:
                task.status, task.failure, task.video = TaskStatus.FAILED, RESTART_FAILURE, None
                self.save(task)
            elif task.status == TaskStatus.SUCCEEDED and (task.video is None or not task.video.is_file()):
                task.status = TaskStatus.FAILED
                task.failure = Outcome("end", "INTERNAL", "The simulator lost this task's video in a restart.")
                task.video = None
                self.save(task)
            tasks.append(task)
        return sorted(tasks, key=lambda task: task.created_wall)
