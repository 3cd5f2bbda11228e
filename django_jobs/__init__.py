"""django_jobs: a database-backed job queue for Django, and a backend for ``django.tasks``."""

from __future__ import annotations

__version__ = "0.1.0"

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Unpack

from .exceptions import Decline, PermanentFailure
from .task import job

if TYPE_CHECKING:
    from .backend import DatabaseBackend
    from .compat import Task
    from .models import Job, JobLog, JobRun
    from .results import JobResult
    from .task import EnqueueOptions, JobCall

__all__ = [
    "Decline",
    "PermanentFailure",
    "__version__",
    "call",
    "cancel",
    "cancel_workflow",
    "chain",
    "enqueue",
    "enqueue_and_run",
    "enqueue_many",
    "failures",
    "group",
    "job",
    "logs",
    "pause",
    "resume",
    "retry",
    "run_now",
    "workflow_progress",
]


def call(task_or_path, *args, **kwargs):
    """A task call for ``chain()`` and ``group()`` (see docs/workflows.md)."""
    from .backend.workflows import call

    return call(task_or_path, *args, **kwargs)


def chain(*steps):
    """
    Steps (``call()``, tasks, chains, groups) run one after the other; each
    reads the previous step's results in ``context.dependency_results``.
    ``chain(...).enqueue()`` writes the whole graph in one transaction and
    returns a Workflow (``.id``, ``.results``, ``.cancel()``).
    """
    from .backend.workflows import chain

    return chain(*steps)


def group(*steps):
    """Steps run side by side; what follows the group waits for all of them and reads all their results."""
    from .backend.workflows import group

    return group(*steps)


def cancel_workflow(workflow_id: int | str, *, backend: str = "default") -> int:
    """Cancel every unfinished job of a workflow in one transaction (see ``cancel``). Returns how many."""
    from . import queue

    using, workflow_id = _backend(backend).locate(workflow_id)
    return queue.cancel_workflow(workflow_id, using=using)


def workflow_progress(workflow_id: int | str, *, backend: str = "default") -> tuple[int, int]:
    """``(finished, total)`` jobs of a workflow."""
    from . import queue

    using, workflow_id = _backend(backend).locate(workflow_id)
    return queue.workflow_progress(workflow_id, using=using)


def _backend(backend: str) -> DatabaseBackend:
    from .backend import DatabaseBackend
    from .compat import task_backends

    instance = task_backends[backend]
    if not isinstance(instance, DatabaseBackend):
        from .exceptions import InvalidJobType

        raise InvalidJobType(f"Task backend {backend!r} is not a django_jobs DatabaseBackend.")
    return instance


def enqueue(
    function_path: str,
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    *,
    backend: str = "default",
    **options: Unpack[EnqueueOptions],
) -> JobResult[..., Any]:
    """
    Enqueue the task registered at ``function_path`` (a dotted path) by name.
    ``options`` are those of ``Task.using()`` (priority, queue_name, run_after)
    and django_jobs' own (max_attempts, uniqkey, coalesce, expires_at, ...),
    among them ``depends_on=[result, job_id, ...]``: the job waits until
    those succeeded (see docs/workflows.md), and ``run_on_failure=True``:
    it runs once they all finished, whatever their outcome.

    Returns a JobResult (a TaskResult); its ``created`` is False when a live
    job already held the ``uniqkey``, and that job is returned. Raises
    InvalidJobType (the path is not a dotted path of at most 255
    characters, names no task, or ``backend`` is not a DatabaseBackend),
    QueueNotFound, or InvalidJobArguments.
    """
    _backend(backend)
    return _task(function_path, backend, options).enqueue(*args, **(kwargs or {}))


def _task(task_or_path, backend, options):
    from .compat import Task
    from .limits import task_path
    from .task import resolve_task

    task = task_or_path if isinstance(task_or_path, Task) else resolve_task(task_path(task_or_path))
    if options or task.backend != backend:
        task = task.using(backend=backend, **options)
    return task


def enqueue_many(
    calls: Iterable[JobCall],
    *,
    backend: str = "default",
    depends_on: Sequence[Any] | None = None,
    run_on_failure: bool = False,
) -> list[JobResult[..., Any]]:
    """
    Enqueue many jobs in one transaction and one write (a multi-row INSERT;
    COPY on PostgreSQL). ``calls`` holds ``(task_or_path, args, kwargs)``
    triples (args and kwargs may be left out), or bare tasks and paths. Returns their TaskResults in order; nothing is
    written if any is invalid (the first invalid one raises, as ``enqueue``).
    ``depends_on`` and ``run_on_failure`` (see ``enqueue``) apply to every job.
    """
    instance = _backend(backend)
    options = {"depends_on": depends_on, "run_on_failure": run_on_failure} if depends_on is not None else {}
    triples = []
    for call in calls:
        task, args, kwargs = (*call, (), {})[:3] if isinstance(call, (tuple, list)) else (call, (), {})
        triples.append((_task(task, backend, options), args, kwargs or {}))
    return instance.enqueue_many(triples)


def enqueue_and_run(
    task_or_path: str | Task[..., Any],
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    *,
    backend: str = "default",
    **options: Unpack[EnqueueOptions],
) -> JobResult[..., Any]:
    """
    Add a job already claimed by this process and run it here, now, keeping
    the same records as a worker would: its run, logs, result and failure log
    (useful when the caller must wait for the work anyway, yet wants it
    recorded and retried like any job). ``options`` are ``enqueue``'s. Returns its TaskResult
    once the attempt has ended: SUCCESSFUL, FAILED, or READY when it failed or
    declined with attempts left (a worker runs the next attempt).
    ``task_started`` and ``task_finished`` are sent; ``task_enqueued`` is not.
    """
    instance = _backend(backend)
    return instance.run_here(_task(task_or_path, backend, options), args, kwargs or {})


def failures(job_id: int | str, *, backend: str = "default") -> list[JobRun]:
    """The job's failed, lost and cancelled attempts (JobRuns), oldest first: its failure log. Raises JobNotFound."""
    from . import queue

    using, job_id = _backend(backend).locate(job_id)
    return queue.failures(job_id, using=using)


def logs(job_id: int | str, attempt: int | None = None, *, backend: str = "default") -> list[JobLog]:
    """
    What the job logged and printed (JobLog lines, INFO and above), for one
    attempt (``attempt``, counted from 1) or all, in order. Raises JobNotFound.
    """
    from . import queue

    using, job_id = _backend(backend).locate(job_id)
    return queue.logs(job_id, attempt=attempt, using=using)


def cancel(job_id: int | str, *, backend: str = "default") -> Job:
    """
    Cancel a job: it never runs if waiting; if running, it is cancelled at once
    (its late result is refused) and its worker is asked to stop it. Returns
    the Job. Raises JobNotFound, or InvalidTransition for a finished job.
    """
    from . import queue

    using, job_id = _backend(backend).locate(job_id)
    return queue.cancel(job_id, using=using)


def retry(job_id: int | str, *, backend: str = "default") -> Job:
    """
    Make a failed, cancelled or expired job ready again, due now, with a fresh
    attempt budget (``max_attempts``). Returns the Job. Raises JobNotFound, or
    InvalidTransition for a job in another state.
    """
    from . import queue

    using, job_id = _backend(backend).locate(job_id)
    return queue.retry(job_id, using=using)


def run_now(job_id: int | str, *, backend: str = "default") -> Job:
    """
    Make a ready job due now, skipping its run_after or retry delay. Returns
    the Job. Raises JobNotFound, or InvalidTransition for a job that is not ready.
    """
    from . import queue

    using, job_id = _backend(backend).locate(job_id)
    return queue.run_now(job_id, using=using)


def pause(queue_name: str, *, backend: str = "default") -> None:
    """
    Stop workers claiming from a queue; jobs keep arriving and running ones
    finish. Raises QueueNotFound for a queue not in the backend's QUEUES.
    """
    from . import queue

    instance = _backend(backend)
    if queue_name not in instance.queues:
        from .exceptions import QueueNotFound

        raise QueueNotFound(f"Queue {queue_name!r} is not in TASKS[{backend!r}]['QUEUES'] ({sorted(instance.queues)}).")
    for using in instance.databases:
        queue.pause(queue_name, using=using)


def resume(queue_name: str, *, backend: str = "default") -> None:
    """Let workers claim from a paused queue again."""
    from . import queue

    for using in _backend(backend).databases:
        queue.resume(queue_name, using=using)
