"""Atomic file writes: readers see the old file or the whole new one, never half of it.

Every writer in the console and the simulator goes through here, so a crash leaves at most a
`.part` file beside its target, and `remove_stale_parts` can clear those at start-up.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

PART_SUFFIX = ".part"


def _temp_name(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=PART_SUFFIX)
    os.close(fd)
    return temp_name


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A unique temporary path beside `path`, renamed into place when the block succeeds.

    For writers that want a file name rather than a file object (an encoder, a database dump).
    """
    temp = Path(_temp_name(path))
    try:
        yield temp
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


@contextmanager
def atomic_writer(path: Path) -> Iterator[BinaryIO]:
    """A binary file object beside `path` that is renamed into place when the block succeeds."""
    with atomic_path(path) as temp, open(temp, "wb") as out:
        yield out


def write_atomically(path: Path, data: bytes) -> None:
    with atomic_writer(path) as out:
        out.write(data)


def remove_stale_parts(folder: Path) -> int:
    """Delete `.part` files a killed process left in `folder` (not recursive); returns how many."""
    removed = 0
    if not folder.is_dir():
        return removed
    for entry in folder.glob(f".*{PART_SUFFIX}"):
        if entry.is_file():
            entry.unlink(missing_ok=True)
            removed += 1
    return removed
