"""Deleting a task for good: upstream first, then everything this server kept of it.

The upstream is asked to delete the task (`DELETE /v1/tasks/{id}`; for a running task that also
cancels it). Only when it has agreed, or no longer knows the task, is anything removed here: the
record and its share links, the video and its poster, and each stored frame no other task names.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.media import VideoStore
from app.poller import TaskPoller
from app.storage import FrameStore, TaskStore
from app.tasks import TaskRecord, frame_ref
from app.upstream import UpstreamClient
from app.upstream_errors import ErrorKind, UpstreamError


@dataclass
class TaskRemoval:
    store: TaskStore
    frames: FrameStore
    videos: VideoStore
    upstream: UpstreamClient
    poller: TaskPoller

    async def remove(self, task: TaskRecord) -> None:
        """Delete the task upstream and here. Raises UpstreamError (nothing removed) when the upstream refuses."""
        if not task.gone:
            # The owner's key (a visitor's own), never the server's for a visitor's task.
            client = self.poller.upstream_for(task.owner)
            if client is None:
                raise UpstreamError(ErrorKind.AUTH, None, "enter your key again first")
            try:
                await client.delete_task(task.id)
            except UpstreamError as error:
                if error.kind != ErrorKind.NOT_FOUND:
                    raise
        await self.poller.stop_following(task.id)
        self.store.delete(task.id)
        self.videos.remove(task.id)
        for stored in {task.first_frame, task.last_frame}:
            ref = frame_ref(stored)
            if ref and stored and not self.store.frame_in_use(stored):
                self.frames.remove(ref)
