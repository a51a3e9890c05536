"""The simulator's tasks on disk: one small JSON file per task in `<workdir>/tasks/`, written
atomically whenever a task is created or settles, so a restart (of the console it runs in, or of
`runway-console simulator`) keeps what it knew.

A task that was still running is not resumed (its frames were not kept): it comes back FAILED
with a message that says why, and its credits are refunded. Finished tasks come back as they were.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from app.files import remove_stale_parts, write_atomically
from app.simulator.schedule import ACTIVE, FAILED, SUCCEEDED, RenderResult, Task
from app.simulator.triggers import Outcome
from app.tasks import TaskStatus

log = logging.getLogger(__name__)

RESTART_FAILURE = Outcome(
    "end", "INTERNAL", "The simulator was restarted while this task was running, so it did not finish."
)
LOST_VIDEO_FAILURE = Outcome("end", "INTERNAL", "The simulator lost this task's video in a restart.")


class TaskJournal:
    """The folder of task files: saved on every change that matters, read back once at start."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        remove_stale_parts(folder)

    def save(self, task: Task) -> None:
        """Write what is kept of a task: enough to answer for it again after a restart."""
        video = task.video()
        document: dict[str, Any] = {
            "id": task.id,
            "model": task.model,
            "created_wall": task.created_wall,
            "charge": task.charge,
            "estimate": task.estimate,
            "status": str(task.status),
            "video": video.name if video else None,
        }
        if task.failure is not None:
            failure = task.failure
            document["failure"] = {"stage": failure.stage, "code": failure.code, "message": failure.message}
        write_atomically(self.folder / f"{task.id}.json", json.dumps(document).encode())

    def forget(self, task_id: str) -> None:
        (self.folder / f"{task_id}.json").unlink(missing_ok=True)

    def load(self, videos: Path, now: float) -> list[Task]:
        """Every task kept, oldest first, as of `now` on the simulator clock; one still running when
        the process stopped comes back FAILED."""
        tasks = []
        for path in self.folder.glob("*.json"):
            try:
                document = json.loads(path.read_text("utf-8"))
                video = videos / document["video"] if document.get("video") else None
                task = Task(
                    id=str(document["id"]),
                    model=str(document["model"]),
                    created_wall=float(document["created_wall"]),
                    created_at=now,
                    run_seconds=0.0,
                    outcome=None,
                    charge=int(document["charge"]),
                    estimate=float(document["estimate"]),
                    status=TaskStatus(document["status"]),
                    failure=Outcome(**document["failure"]) if document.get("failure") else None,
                    render=RenderResult(done_at=now, path=video) if video else None,
                )
            except (OSError, ValueError, KeyError, TypeError) as error:
                log.warning("simulator: ignoring unreadable task file %s (%s)", path.name, error)
                continue
            if task.status in ACTIVE:
                task.status, task.failure, task.render = FAILED, RESTART_FAILURE, None
                self.save(task)
            elif task.status == SUCCEEDED and (video is None or not video.is_file()):
                task.status, task.failure, task.render = FAILED, LOST_VIDEO_FAILURE, None
                self.save(task)
            tasks.append(task)
        return sorted(tasks, key=lambda task: task.created_wall)
