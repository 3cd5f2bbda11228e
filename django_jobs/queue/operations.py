"""What operators do to jobs and queues: cancel, retry, run now, pause, resume."""

from django.db import transaction
from django.db.models import F
from django.db.models.functions import Now

from ..db import get_ops
from ..exceptions import InvalidTransition, JobCancelled
from ..models import Job, QueueState
from ..transitions import CANCEL, RETRY, RETRY_WAITING, RUN_NOW
from . import dependencies
from .errors import ErrorInfo
from .guarded import close_run, finishing, move, retried_after_deadlock
from .reads import get_job


def cancel(job_id: int | str, *, using: str) -> Job:
    """
    Cancel a job: a waiting or ready job never runs; a running one is marked
    cancelled and its worker is asked to stop it. The jobs waiting for it are
    abandoned (``queue.dependencies``). Returns the job. Raises
    InvalidTransition for a finished job.
    """
    job = get_job(job_id, using=using)
    retried_after_deadlock(lambda: _cancel(job, using), using=using)  # it may race the attempt's own report
    job.refresh_from_db(using=using)
    return job


def _cancel(job, using):
    with transaction.atomic(using=using):
        if not move(CANCEL, Job.objects.using(using).filter(pk=job.pk), **finishing(), cancel_requested=True):
            job.refresh_from_db(using=using)
            raise InvalidTransition(
                f"Job {job.pk} is {job.state}; only waiting, ready or running jobs can be cancelled."
            )
        dependencies.ended_badly([job.pk], "was cancelled", using)
        error = ErrorInfo.without_traceback(JobCancelled, "cancelled while running")
        if close_run(CANCEL, job.pk, job.attempts, using=using, error=error, only_running=True):
            get_ops(using).announce_cancel(job.pk)


def retry(job_id: int | str, *, using: str) -> Job:
    """
    Put a failed, cancelled or expired job back as ready, with a fresh attempt
    budget. A job of a workflow waits again for those of its dependencies that
    have not finished (retried before it); one whose dependency failed, was
    cancelled or expired is refused (retry that one first), unless it runs on
    failure.
    """
    job = get_job(job_id, using=using)
    if job.state not in RETRY.sources:
        raise InvalidTransition(f"Job {job.pk} is {job.state}; only failed, cancelled or expired jobs can be retried.")
    with transaction.atomic(using=using):
        left = dependencies.left_to_wait_for(job, using)
        transition, waits = (RETRY_WAITING, {"dependencies_left": left}) if left else (RETRY, {})
        changed = move(
            transition,
            Job.objects.using(using).filter(pk=job.pk),
            attempts_left=F("max_attempts"),
            run_after=Now(),
            finished_at=None,
            keep_until=None,
            cancel_requested=False,
            worker_id=None,
            grabbed_until=None,
            return_value=None,
            exit_status=None,
            lost_attempts=0,
            **waits,
        )
    if not changed:  # it changed meanwhile
        job.refresh_from_db(using=using)
        raise InvalidTransition(f"Job {job.pk} is {job.state}; only failed, cancelled or expired jobs can be retried.")
    job.refresh_from_db(using=using)
    return job


def run_now(job_id: int | str, *, using: str) -> Job:
    """Make a ready job due now (its run_after or retry backoff is skipped)."""
    job = get_job(job_id, using=using)
    if not move(RUN_NOW, Job.objects.using(using).filter(pk=job.pk), run_after=Now()):
        raise InvalidTransition(f"Job {job.pk} is {job.state}; only ready jobs can be made due now.")
    job.refresh_from_db(using=using)
    return job


def pause(queue_name: str, *, using: str) -> None:
    """Stop workers claiming from ``queue_name``; jobs keep arriving, running ones finish."""
    QueueState.objects.using(using).update_or_create(name=queue_name, defaults={"paused": True, "changed_at": Now()})


def resume(queue_name: str, *, using: str) -> None:
    """Let workers claim from ``queue_name`` again."""
    QueueState.objects.using(using).update_or_create(name=queue_name, defaults={"paused": False, "changed_at": Now()})
