"""
The scheduler leader's duties: taking back attempts whose lease ran out,
expiring jobs nobody started in time, and pruning finished jobs; and the
guarded delete they and the operators use.
"""

from django.db import transaction
from django.db.models.functions import Now

from .. import states
from ..exceptions import WorkerLost
from ..models import Job, JobLog, JobRun
from ..states import JobState
from ..transitions import EXPIRE, RESCUE, RESCUE_FAIL
from .errors import ErrorInfo
from .guarded import close_run, finishing, move


def rescue_expired(*, using, batch=500):
    """
    Take back jobs whose lease ran out (their worker died or overran
    max_work_duration): close the attempt as lost, and make the job ready
    again (``RESCUE``), or failed if it has no attempts left (``RESCUE_FAIL``).
    Returns how many.
    """
    rescued = 0
    expired = (
        Job.objects.using(using)
        .filter(state=JobState.RUNNING, grabbed_until__lt=Now())
        .values_list("pk", "attempts", "attempts_left", "worker_id")[:batch]
    )
    for pk, attempt, attempts_left, worker_id in expired:
        values: dict[str, object]
        if attempts_left > 0:
            transition, values = RESCUE, {"run_after": Now(), "worker_id": None, "grabbed_until": None}
        else:
            transition, values = RESCUE_FAIL, {**finishing(), "worker_id": None, "exit_status": 1}
        with transaction.atomic(using=using):
            jobs = Job.objects.using(using).filter(pk=pk, attempts=attempt, grabbed_until__lt=Now())
            if move(transition, jobs, **values):
                error = ErrorInfo.without_traceback(
                    WorkerLost,
                    f"Lease expired: worker {worker_id} died, stopped renewing, "
                    "or the attempt overran max_work_duration.",
                )
                close_run(transition, pk, attempt, using=using, error=error)
                rescued += 1
    return rescued


def expire_overdue(*, using):
    """Ready jobs whose expires_at has passed end as expired. Returns how many."""
    return move(EXPIRE, Job.objects.using(using).filter(expires_at__lte=Now()), **finishing())


def delete_rows(ids, using, **still):
    """Delete these jobs, if they still match ``still``, with their runs and logs; returns how many."""
    with transaction.atomic(using=using):
        ids = list(
            Job.objects.using(using).select_for_update().filter(pk__in=ids, **still).values_list("pk", flat=True)
        )
        JobLog.objects.using(using).filter(run__job_id__in=ids).delete()
        JobRun.objects.using(using).filter(job_id__in=ids).delete()
        return Job.objects.using(using).filter(pk__in=ids).delete()[1].get(Job._meta.label, 0)


def delete_jobs(ids, *, using):
    """
    Delete the jobs among ``ids`` that are not running, with their runs and
    logs (a running job must be cancelled first). Returns the ids deleted.
    """
    ids = list(ids)
    with transaction.atomic(using=using):
        deletable = set(
            Job.objects.using(using)
            .select_for_update()
            .filter(pk__in=ids)
            .exclude(state=JobState.RUNNING)
            .values_list("pk", flat=True)
        )
        delete_rows(deletable, using)
    return [pk for pk in ids if pk in deletable]


def prune(*, using, batch=1000):
    """
    Delete finished jobs whose keep time is up, with their runs and logs, in
    batches of ``batch`` jobs. Returns how many jobs were deleted.
    """
    deleted = 0
    while True:
        ids = list(
            Job.objects.using(using)
            .filter(keep_until__lt=Now(), state__in=states.FINISHED_STATES)
            .values_list("pk", flat=True)[:batch]
        )
        if not ids:
            return deleted
        deleted += delete_rows(ids, using, keep_until__lt=Now())
        if len(ids) < batch:
            return deleted
