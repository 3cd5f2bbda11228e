"""Turning Job rows into Django's TaskResult objects."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Generic

from .compat import TaskError
from .generic import GenericTaskResult, P, R
from .states import TASK_STATUS, RunOutcome

ERROR_OUTCOMES = {RunOutcome.FAILED, RunOutcome.LOST, RunOutcome.CANCELLED}

#: What ``refresh()`` reloads: Django's attributes, and the job's metadata.
REFRESHED = (
    "errors",
    "_return_value",
    "finished_at",
    "started_at",
    "last_attempted_at",
    "status",
    "enqueued_at",
    "worker_ids",
    "metadata",
)


# django-stubs declares TaskResult a plain dataclass; Django's is frozen.
@dataclass(frozen=True, slots=True, kw_only=True)
class JobResult(GenericTaskResult[P, R], Generic[P, R]):  # type: ignore[misc]
    """
    A TaskResult that also says whether the enqueue created the job. Typed
    like Django's ``TaskResult[P, R]``: ``return_value`` is the function's ``R``.
    """

    #: False when the enqueue found a live job with the same uniqkey and returned it.
    created: bool = True
    #: What the job last saved with ``context.save_metadata()`` (``{}``: nothing yet);
    #: read again by ``refresh()``, kept after the job ends.
    metadata: dict[str, Any] = field(default_factory=dict)

    def refresh(self) -> None:
        """Reload the result from the database, its metadata too."""
        self._take(self.task.get_backend().get_result(self.id))

    async def arefresh(self) -> None:
        """Reload the result from the database, its metadata too."""
        self._take(await self.task.get_backend().aget_result(self.id))

    def _take(self, fresh: Any) -> None:
        for name in REFRESHED:
            object.__setattr__(self, name, getattr(fresh, name))


def task_for(task, *, priority, queue_name, backend, run_after=None):
    """The registered task as this job was enqueued (its own queue and priority)."""
    return replace(task, priority=priority, queue_name=queue_name, backend=backend, run_after=run_after)


def requested_run_after(job):
    """
    The ``run_after`` the task was enqueued with, or None when it was not
    deferred. The column cannot be NULL: an enqueue without ``run_after``
    stores the enqueue time, written by the same ``Now()`` as ``enqueued_at``,
    so the two are equal. A retry or a decline moves ``run_after`` later,
    and the task then reports when it will run again.
    """
    if job.run_after is None or job.run_after == job.enqueued_at:
        return None
    return job.run_after


def result_id(task, job_id, database) -> str:
    """
    The TaskResult id of job ``job_id`` in ``database``: the job id, or ``"database:id"``
    when the task's backend spreads its jobs over several databases (OPTIONS['DATABASES']).
    """
    try:
        several = len(getattr(task.get_backend(), "databases", ())) > 1
    except Exception:  # a backend no longer in TASKS: its jobs keep their plain ids
        several = False
    return f"{database}:{job_id}" if several and database else str(job_id)


def task_result(job, task, runs, *, created=True, tasks=None, status=None, database=None) -> JobResult[Any, Any]:
    """
    A JobResult for ``job`` (a Job), given its task and its JobRuns in attempt
    order. ``tasks``, a dict kept over a batch, lets alike jobs share their task.
    ``status``: the TaskResultStatus, when not the one of the job's state.
    ``database``: the alias the job lives in (default: the one it was read from).
    """
    options = {
        "priority": job.priority,
        "queue_name": job.queue_name,
        "backend": job.backend,
        "run_after": requested_run_after(job),
    }
    if tasks is None:
        job_task = task_for(task, **options)
    elif (job_task := tasks.get(key := (id(task), *options.values()))) is None:
        job_task = tasks[key] = task_for(task, **options)
    result: JobResult[Any, Any] = JobResult(
        created=created,
        task=job_task,
        id=result_id(job_task, job.pk, database or job._state.db),
        status=status or TASK_STATUS[job.state],
        enqueued_at=job.enqueued_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        last_attempted_at=job.last_attempted_at,
        args=job.args,
        kwargs=job.kwargs,
        backend=job.backend,
        errors=[
            TaskError(exception_class_path=run.exception_class_path, traceback=run.traceback)
            for run in runs
            if run.outcome in ERROR_OUTCOMES and run.exception_class_path
        ],
        # A job abandoned for a failed dependency has a run without a worker: it never ran.
        worker_ids=[run.worker_id for run in runs if run.worker_id],
        metadata=job.metadata or {},
    )
    object.__setattr__(result, "_return_value", job.return_value)
    return result
