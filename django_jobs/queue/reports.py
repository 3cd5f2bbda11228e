"""
Recording how an attempt ended, each outcome one declared transition applied
to the attempt's job: guarded by (state, attempt, worker id), so an attempt
that was cancelled or taken back meanwhile writes nothing (JobNotClaimed).
"""

from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import F
from django.db.models.functions import Now

from ..exceptions import JobNotClaimed, WorkerLost
from ..models import Job, JobLog, JobRun
from ..states import JobState
from ..transitions import COMPLETE, DECLINE, FAIL, RELEASE, RETRY_LATER
from . import dependencies
from .enqueue import insert_many
from .errors import ErrorInfo, storable
from .guarded import close_run, finishing, move


def _attempt(claimed, using):
    """The job row as long as this attempt (same attempt number and worker) holds it."""
    return Job.objects.using(using).filter(pk=claimed.id, attempts=claimed.attempt, worker_id=claimed.worker_id)


def _finish_attempt(claimed, transition, job_values, *, using, error=None, exit_status=None, logs=(), then=None):
    """
    Apply ``transition`` to the attempt's job and close its run, or raise
    JobNotClaimed; then call ``then()`` in the same transaction. Returns ``transition``.
    """
    with transaction.atomic(using=using):
        if not move(transition, _attempt(claimed, using), **job_values):
            raise JobNotClaimed(f"Job {claimed.id} attempt {claimed.attempt} is no longer held by {claimed.worker_id}.")
        close_run(transition, claimed.id, claimed.attempt, using=using, error=error, exit_status=exit_status)
        if logs:
            run_id = (
                JobRun.objects.using(using).values_list("pk", flat=True).get(job_id=claimed.id, attempt=claimed.attempt)
            )
            _store_lines(run_id, logs, using)
        if then is not None:
            then()
    return transition


def _store_lines(run_id, logs, using):
    JobLog.objects.using(using).bulk_create(
        [
            JobLog(run_id=run_id, created_at=at, level=level, logger=storable(name), message=storable(msg))
            for at, level, name, msg in logs
        ]
    )


def add_logs(claimed, logs, *, using):
    """
    Store lines an attempt logged while it still runs (the worker's log
    flusher), so that they can be read before it ends. Only while the attempt
    holds its job: returns False, storing nothing, once it was cancelled,
    taken back or recorded. Lines stored stay, whatever becomes of the attempt.
    """
    run_id = (
        JobRun.objects.using(using)
        .filter(
            job_id=claimed.id,
            attempt=claimed.attempt,
            job__attempts=claimed.attempt,
            job__worker_id=claimed.worker_id,
            job__state=JobState.RUNNING,
        )
        .values_list("pk", flat=True)
        .first()
    )
    if run_id is None:
        return False
    _store_lines(run_id, logs, using)
    return True


def save_metadata(claimed, metadata, *, using):
    """
    Store a running attempt's metadata (``context.save_metadata()``): one
    UPDATE of the job row, guarded like every report of the attempt by
    (id, attempt, worker id) and its running state. Returns False, writing
    nothing, once the attempt was cancelled, taken back or recorded.
    """
    return bool(_attempt(claimed, using).filter(state=JobState.RUNNING).update(metadata=metadata))


def complete(claimed, return_value, *, exit_status=0, logs=(), replacements=(), using):
    """
    Record a successful attempt. ``replacements`` (built jobs) are inserted in
    the same transaction (replace_with): either they all exist and this job
    is done, or nothing changed. Jobs waiting for this one are released in
    that transaction too. Returns the transition applied.
    """

    def then():
        if replacements:
            insert_many(replacements, using=using)
        dependencies.succeeded([claimed.id], using)

    return _finish_attempt(
        claimed,
        COMPLETE,
        {**finishing(), "return_value": return_value, "exit_status": exit_status},
        using=using,
        exit_status=exit_status,
        logs=logs,
        then=then,
    )


def fail(claimed, error, *, retry_in=None, exit_status=1, logs=(), trace_context=None, using):
    """
    Record a failed attempt. With ``retry_in`` seconds and attempts left the
    job goes back to ready after that delay (``RETRY_LATER``), with
    ``trace_context`` (when given: its next attempt's span links to this one);
    otherwise it fails for good (``FAIL``), and the jobs waiting for it are
    abandoned in the same transaction (``queue.dependencies``). Returns the
    transition applied.
    """
    if retry_in is not None and claimed.attempts_left > 0:
        transition = RETRY_LATER
        values: dict[str, Any] = {
            "run_after": Now() + timedelta(seconds=retry_in),
            "worker_id": None,
            "grabbed_until": None,
            "trace_context": F("trace_context") if trace_context is None else trace_context,
        }
    else:
        transition = FAIL
        values = {**finishing(), "exit_status": exit_status}
    then = (lambda: dependencies.ended_badly([claimed.id], "failed", using)) if transition is FAIL else None
    return _finish_attempt(
        claimed, transition, values, using=using, error=error, exit_status=exit_status, logs=logs, then=then
    )


def decline(claimed, *, run_after, logs=(), using):
    """Not now: back to ready at ``run_after`` (a datetime or seconds), the attempt given back."""
    if not isinstance(run_after, datetime):
        run_after = Now() + timedelta(seconds=run_after or 0)
    return _finish_attempt(
        claimed,
        DECLINE,
        {"run_after": run_after, "attempts_left": F("attempts_left") + 1, "worker_id": None, "grabbed_until": None},
        using=using,
        logs=logs,
    )


def release(claimed, *, using):
    """A stopping worker hands an unfinished attempt back; it does not count against the budget."""
    return _finish_attempt(
        claimed,
        RELEASE,
        {"attempts_left": F("attempts_left") + 1, "worker_id": None, "grabbed_until": None},
        using=using,
        error=ErrorInfo.without_traceback(WorkerLost, f"worker {claimed.worker_id} stopped"),
    )
