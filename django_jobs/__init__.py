"""django_jobs: a database-backed job queue for Django, and a backend for ``django.tasks``."""

__version__ = "0.1.0"

from .exceptions import Decline, PermanentFailure  # noqa: E402
from .task import job  # noqa: E402

__all__ = ["job", "enqueue", "cancel", "retry", "run_now", "Decline", "PermanentFailure", "__version__"]


def _backend(backend):
    from django.tasks import task_backends

    from .backend import DatabaseBackend

    instance = task_backends[backend]
    if not isinstance(instance, DatabaseBackend):
        from .exceptions import InvalidJobType

        raise InvalidJobType(f"Task backend {backend!r} is not a django_jobs DatabaseBackend.")
    return instance


def enqueue(function_path, args=(), kwargs=None, *, backend="default", **options):
    """
    Enqueue the task registered at ``function_path`` (a dotted path) by name.
    ``options`` are those of ``Task.using()`` and django_jobs' own
    (max_attempts, uniqkey, coalesce, expires_at, ...). Returns a TaskResult.
    """
    from .task import resolve_task

    _backend(backend)
    task = resolve_task(function_path)
    if options or task.backend != backend:
        task = task.using(backend=backend, **options) if hasattr(task, "using") else task
    return task.enqueue(*args, **(kwargs or {}))


def cancel(job_id, *, backend="default"):
    """Cancel a job: it never runs if waiting; if running, its worker is asked to stop. Returns the Job."""
    from . import queue

    return queue.cancel(job_id, using=_backend(backend).database)


def retry(job_id, *, backend="default"):
    """Make a failed, cancelled or expired job ready again with a fresh attempt budget. Returns the Job."""
    from . import queue

    return queue.retry(job_id, using=_backend(backend).database)


def run_now(job_id, *, backend="default"):
    """Make a ready job due now, skipping its run_after or retry delay. Returns the Job."""
    from . import queue

    return queue.run_now(job_id, using=_backend(backend).database)
