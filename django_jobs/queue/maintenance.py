"""
The scheduler leader's duties: taking back attempts whose lease ran out,
expiring jobs nobody started in time, and pruning finished jobs; and the
guarded delete they and the operators use; and pruning the worker registry.
"""

from collections.abc import Iterable
from datetime import timedelta

from django.db import transaction
from django.db.models import BooleanField, Case, F, Q, Value, When
from django.db.models.functions import Now
from django.db.models.lookups import LessThan

from .. import states
from ..exceptions import JobTimeout, WorkerLost
from ..models import Job, JobLog, JobRun, RateBucket, Worker, WorkerState
from ..states import JobState
from ..transitions import EXPIRE, RESCUE, RESCUE_FAIL
from . import dependencies
from .errors import ErrorInfo
from .guarded import close_run, finishing, move


def rescue_expired(*, max_lost=3, using, batch=500):
    """
    Take back jobs whose lease ran out: their worker died without the registry
    noticing first, stopped renewing, or the attempt overran max_work_duration.
    Returns how many (see ``rescue``).
    """
    expired = Job.objects.using(using).filter(state=JobState.RUNNING, grabbed_until__lt=Now())
    return rescue(expired, max_lost=max_lost, using=using, why="its lease expired", batch=batch)


def rescue(jobs, *, max_lost, using, why, batch=500):
    """
    Take back the running attempts among ``jobs`` (a queryset, re-checked for
    each job in its guard), closing each as lost:

    - an attempt that overran its max_work_duration spends its attempt
      (``JobTimeout``): ready again if attempts are left, else failed;
    - any other was lost with its worker: the attempt is given back, and the
      job is ready again at once, in its old place in the queue (its
      run_after unchanged), unless this is its ``max_lost``-th loss
      (a job that kills its worker), which fails it with ``WorkerLost``.

    Returns how many attempts were rescued.
    """
    overran = Case(
        When(
            Q(max_work_duration__isnull=False) & LessThan(F("last_attempted_at") + F("max_work_duration"), Now()),
            then=Value(True),
        ),
        default=Value(False),
        output_field=BooleanField(),
    )
    found = jobs.annotate(overran=overran).values_list(
        "pk", "attempts", "attempts_left", "lost_attempts", "worker_id", "overran"
    )[:batch]
    rescued = 0
    for pk, attempt, attempts_left, lost, worker_id, timed_out in found:
        transition, values, error = _rescue_of(attempts_left, lost, worker_id, timed_out, max_lost, why)
        with transaction.atomic(using=using):
            if move(transition, jobs.filter(pk=pk, attempts=attempt, worker_id=worker_id), **values):
                close_run(transition, pk, attempt, using=using, error=error)
                if transition is RESCUE_FAIL:
                    dependencies.ended_badly([pk], "failed", using)
                rescued += 1
    return rescued


def _rescue_of(attempts_left, lost, worker_id, timed_out, max_lost, why):
    """(transition, column values, error) for one rescued attempt."""
    if timed_out:
        error = ErrorInfo.without_traceback(
            JobTimeout, f"the attempt overran its max_work_duration; worker {worker_id} did not finish it"
        )
        if attempts_left > 0:  # the attempt is spent: attempts_left and lost_attempts stay as they are
            values: dict[str, object] = {"attempts_left": attempts_left, "lost_attempts": lost}
            return RESCUE, {**values, "worker_id": None, "grabbed_until": None}, error
        return RESCUE_FAIL, {**finishing(), "worker_id": None, "exit_status": 1, "lost_attempts": lost}, error
    if lost + 1 >= max_lost:
        error = ErrorInfo.without_traceback(
            WorkerLost, f"lost {lost + 1} times with its worker (last: worker {worker_id}, {why}); not run again"
        )
        return RESCUE_FAIL, {**finishing(), "worker_id": None, "exit_status": 1, "lost_attempts": lost + 1}, error
    error = ErrorInfo.without_traceback(WorkerLost, f"worker {worker_id} lost the attempt: {why}; it runs again")
    values = {
        "worker_id": None,
        "grabbed_until": None,
        "attempts_left": F("attempts_left") + 1,
        "lost_attempts": lost + 1,
    }
    return RESCUE, values, error


def expire_overdue(*, using):
    """
    Waiting and ready jobs whose expires_at has passed end as expired, and the
    jobs waiting for them are abandoned. Returns how many expired.
    """
    overdue = Job.objects.using(using).filter(expires_at__lte=Now(), state__in=EXPIRE.source_list)
    with transaction.atomic(using=using):
        ids = list(overdue.select_for_update().order_by("pk").values_list("pk", flat=True))
        if not ids:
            return 0
        expired = move(EXPIRE, Job.objects.using(using).filter(pk__in=ids), **finishing())
        dependencies.ended_badly(ids, "expired", using)
    return expired


def delete_rows(ids, using, **still):
    """
    Delete these jobs, if they still match ``still``, with their runs and
    logs; returns how many. Jobs waiting for one deleted before it finished
    are abandoned (or, running on failure, count it as finished), as if it
    had been cancelled: none waits for ever.
    """
    with transaction.atomic(using=using):
        found = dict(
            Job.objects.using(using)
            .select_for_update()
            .filter(pk__in=ids, **still)
            .order_by("pk")
            .values_list("pk", "state")
        )
        ids = list(found)
        unfinished = [pk for pk, state in found.items() if state not in states.FINISHED_STATES]
        if unfinished:
            dependencies.ended_badly(unfinished, "was deleted", using)
        JobLog.objects.using(using).filter(run__job_id__in=ids).delete()
        JobRun.objects.using(using).filter(job_id__in=ids).delete()
        return Job.objects.using(using).filter(pk__in=ids).delete()[1].get(Job._meta.label, 0)


def delete_jobs(ids: Iterable[int], *, using: str) -> list[int]:
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


#: Buckets of rate keys no claim came back for are dropped this long after they stop counting (a key's
#: next claim drops its own at once; the margin keeps the two from deleting the same rows together).
SPENT_BUCKETS_KEPT = timedelta(hours=1)


def prune_rate_buckets(*, using):
    """Delete rate-limit buckets that stopped counting over SPENT_BUCKETS_KEPT ago. Returns how many."""
    deleted, _ = RateBucket.objects.using(using).filter(counts_until__lt=Now() - SPENT_BUCKETS_KEPT).delete()
    return deleted


def prune_workers(*, keep_for, using):
    """
    Delete the registry rows of workers that stopped or were found gone more
    than ``keep_for`` (a timedelta) ago; live workers' rows stay, however old.
    Returns how many were deleted.
    """
    ended = Worker.objects.using(using).filter(
        status__in=[WorkerState.STOPPED, WorkerState.GONE], stopped_at__lt=Now() - keep_for
    )
    return ended.delete()[0]
