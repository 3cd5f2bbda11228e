"""
What a database must provide to run the queue.

The claim protocol, for every database:

1. In one transaction, pick up to ``limit`` ready jobs of the worker's queues
   whose ``run_after`` has passed, highest priority first, oldest first.
2. Move them to ``running``: one more attempt, one less in the budget, the
   lease (``grabbed_until``) set from the database clock, the claimant's id.
3. Insert one JobRun per claimed job (outcome ``running``).
4. Commit, and return what the worker needs to run them.

No two claims can pick the same job: PostgreSQL skips rows another claim has
locked (``FOR UPDATE SKIP LOCKED``); SQLite takes its single write lock first
(``BEGIN IMMEDIATE``).
"""

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connections


@dataclass(slots=True)
class ClaimedJob:
    """A job as one attempt sees it. Every report back is guarded by (id, attempt, worker_id)."""

    id: int
    attempt: int
    worker_id: str
    func_id: int
    args: list
    kwargs: dict
    backend: str
    queue_name: str
    priority: int
    enqueued_at: datetime
    started_at: datetime
    last_attempted_at: datetime
    attempts_left: int
    max_work_duration: timedelta | None
    coalesce: str | None
    func_path: str = ""


#: Columns a claim returns, in ClaimedJob's order after worker_id.
CLAIM_COLUMNS = (
    "id",
    "attempts",
    "func_id",
    "args",
    "kwargs",
    "backend",
    "queue_name",
    "priority",
    "enqueued_at",
    "started_at",
    "last_attempted_at",
    "attempts_left",
    "max_work_duration",
    "coalesce_key",
)


class DatabaseOps:
    vendor = None

    def __init__(self, using):
        self.using = using
        self.connection = connections[using]
        self.qn = self.connection.ops.quote_name

    # -- claiming ------------------------------------------------------------
    def claim(self, *, worker_id, queues, limit, lease, coalesce=None):
        """
        Claim up to ``limit`` due jobs (``queues`` None: any queue). With
        ``coalesce=(func_id, value)``, only jobs of that function with that
        coalesce value. Returns ClaimedJobs.
        """
        raise NotImplementedError

    def announce_cancel(self, job_id):
        """Tell the worker running ``job_id`` that it was cancelled (in the caller's transaction)."""

    def _claimed(self, worker_id, rows):
        claimed = []
        for row in rows:
            values = dict(zip(CLAIM_COLUMNS, row))
            values["attempt"] = values.pop("attempts")
            values["coalesce"] = values.pop("coalesce_key")
            for name in ("args", "kwargs"):
                if isinstance(values[name], (str, bytes)):
                    values[name] = json.loads(values[name])
            for name in ("enqueued_at", "started_at", "last_attempted_at"):
                values[name] = self._datetime(values[name])
            values["max_work_duration"] = self._duration(values["max_work_duration"])
            claimed.append(ClaimedJob(worker_id=worker_id, **values))
        return claimed

    def _datetime(self, value):
        return value

    def _duration(self, value):
        return value

    # -- waking and waiting --------------------------------------------------
    def listener(self, stop_event):
        """
        A Listener whose ``wait(timeout)`` returns when work may have arrived,
        when ``stop_event`` is set, or after ``timeout`` seconds. It returns
        the ids of jobs announced as cancelled meanwhile (a set, maybe empty).
        """
        return PollingListener(stop_event)

    # -- leadership ------------------------------------------------------------
    def leadership(self, worker_id):
        """A Leadership: ``acquire()`` says whether this process leads the scheduler."""
        raise NotImplementedError


class PollingListener:
    """Nothing wakes us but time: sleep until the timeout or the stop event."""

    def __init__(self, stop_event):
        self.stop_event = stop_event

    def wait(self, timeout):
        self.stop_event.wait(timeout)
        return set()

    def close(self):
        pass
