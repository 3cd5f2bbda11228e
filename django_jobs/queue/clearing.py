"""Clearing a queue's waiting jobs: in batches, resumable, and honest about a locked database."""

import time
from collections.abc import Callable

from django.db import OperationalError, connections

from ..exceptions import QueueNotCleared
from ..models import Job
from ..states import JobState
from .maintenance import delete_rows


def _locked(error):
    text = str(error).lower()
    # SQLite: "database is locked"; PostgreSQL: "canceling statement due to lock timeout";
    # MariaDB/MySQL: "Lock wait timeout exceeded".
    return "locked" in text or "lock timeout" in text or "lock wait timeout" in text


def clear_queue(
    queue_name: str,
    *,
    using: str,
    batch: int = 1000,
    patience: float = 30.0,
    progress: Callable[[int], object] | None = None,
) -> int:
    """
    Delete the waiting (ready) jobs of a queue, with their runs and logs.
    Returns how many.

    Each batch of ``batch`` jobs is deleted in its own transaction, so what is
    deleted stays deleted and calling it again continues. A batch that finds
    the database locked (SQLite beside a busy worker: one writer at a time) is
    retried after a short wait; after ``patience`` seconds without progress it
    raises QueueNotCleared, which says how many were deleted and how many are
    left. ``progress(deleted)`` is called after each batch with the total so far.
    Inside the caller's transaction a lock is not waited out: the error is raised.
    """
    waiting = Job.objects.using(using).filter(queue_name=queue_name, state=JobState.READY)
    deleted = 0
    since, pause = time.monotonic(), 0.05
    while True:
        try:
            ids = list(waiting.values_list("pk", flat=True)[:batch])
            if not ids:
                return deleted
            deleted += delete_rows(ids, using, state=JobState.READY)
        except OperationalError as e:
            if not _locked(e) or connections[using].in_atomic_block:
                raise
            waited = time.monotonic() - since
            if waited >= patience:
                try:
                    left = waiting.count()
                except OperationalError:
                    left = None
                raise QueueNotCleared(
                    queue_name, deleted, left, f"the database stayed locked for {waited:.1f}s ({e})"
                ) from e
            time.sleep(pause)
            pause = min(pause * 2, 1.0)
            continue
        since, pause = time.monotonic(), 0.05
        if progress is not None:
            progress(deleted)
