"""
The queue service: the only code that changes a job's state.

Each change is one guarded UPDATE naming the states it may start from (see
``states.TRANSITIONS``); reports from a worker are further guarded by the
attempt number and the worker id, so an attempt whose lease was taken back
cannot write over the attempt that replaced it.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, connections, router, transaction
from django.db.models import F, Q
from django.db.models.functions import Now
from django.db.models.signals import post_migrate
from django.dispatch import receiver

from . import states
from .arguments import as_json
from .db import get_ops
from .exceptions import InvalidJobType, InvalidTransition, JobNotClaimed, JobNotFound
from .models import FuncMap, Job, JobLog, JobRun
from .states import JobState, RunOutcome
from .task import JobTask, resolve_task


def database_for(options):
    """The alias jobs of a backend live in: OPTIONS['DATABASE'], else the routers' choice."""
    return options.DATABASE or router.db_for_write(Job)


# -- the function map ------------------------------------------------------------

_func_ids = {}  # (alias, path) -> id
_func_paths = {}  # (alias, id) -> path


def func_id(path, using):
    """The FuncMap id of ``path``, created in the caller's transaction if new."""
    key = (using, path)
    try:
        return _func_ids[key]
    except KeyError:
        pass
    func, _created = FuncMap.objects.using(using).get_or_create(path=path)
    # Cache only once committed: a rolled-back transaction takes the row with it.
    transaction.on_commit(lambda: _func_ids.__setitem__(key, func.id), using=using)
    return func.id


def func_paths(ids, using):
    """{id: path} for FuncMap ids (ids never change meaning, so they are cached)."""
    missing = [i for i in ids if (using, i) not in _func_paths]
    if missing:
        for pk, path in FuncMap.objects.using(using).filter(pk__in=missing).values_list("pk", "path"):
            _func_paths[using, pk] = path
    return {i: _func_paths.get((using, i)) for i in ids}


@receiver(post_migrate)
def clear_caches(**kwargs):
    """Forget cached FuncMap ids (a flushed or re-created database renumbers them)."""
    _func_ids.clear()
    _func_paths.clear()


# -- enqueue -----------------------------------------------------------------------


@dataclass(frozen=True)
class Enqueued:
    job: Job
    #: False when an existing live job with the same uniqkey was returned.
    created: bool


def check_registered(task):
    """The task must be reachable at its module path, so a worker can find it again."""
    registered = resolve_task(task.module_path)
    if registered.func is not task.func:
        raise InvalidJobType(
            f"{task.module_path!r} does not resolve to this task; "
            "tasks must be defined at module level under the name they are imported by."
        )


def enqueue(task, args, kwargs, *, backend, options, using):
    """
    Write one job for ``task`` in the caller's transaction on ``using``.
    Returns Enqueued; nothing is written if anything is invalid.
    """
    check_registered(task)
    job = Job(
        backend=backend,
        queue_name=task.queue_name,
        args=as_json(list(args), "args"),
        kwargs=as_json(dict(kwargs), "kwargs"),
        priority=task.priority,
    )
    max_attempts = options.MAX_ATTEMPTS
    max_work = options.MAX_WORK_DURATION
    if isinstance(task, JobTask):
        max_attempts = task.max_attempts or max_attempts
        max_work = task.max_work_duration if task.max_work_duration is not None else max_work
        job.uniqkey, job.coalesce, job.expires_at = task.uniqkey, task.coalesce, task.expires_at
    job.max_attempts = job.attempts_left = max_attempts
    if max_work is not None:
        job.max_work_duration = max_work if isinstance(max_work, timedelta) else timedelta(seconds=max_work)
    if task.run_after is not None:
        job.run_after = task.run_after
    job.func_id = func_id(task.module_path, using)

    if job.uniqkey is None:
        job.save(using=using, force_insert=True)
        return Enqueued(job, True)
    return _enqueue_unique(job, using)


def _enqueue_unique(job, using):
    """Insert, or return the live job holding the same (function, uniqkey)."""
    for _ in range(3):
        try:
            with transaction.atomic(using=using):
                job.save(using=using, force_insert=True)
            return Enqueued(job, True)
        except IntegrityError:
            job.pk = None
            existing = (
                Job.objects.using(using)
                .filter(func_id=job.func_id, uniqkey=job.uniqkey, state__in=states.LIVE_STATES)
                .first()
            )
            if existing is not None:
                return Enqueued(existing, False)
            # It finished between our insert and our look-up: try again.
    raise IntegrityError(f"Could not enqueue or find the job with uniqkey {job.uniqkey!r}.")


# -- claiming ----------------------------------------------------------------------


def claim(*, worker_id, queues, limit, lease, using):
    """Claim up to ``limit`` due jobs for ``worker_id``; returns ClaimedJobs."""
    claimed = get_ops(using).claim(worker_id=worker_id, queues=queues, limit=limit, lease=lease)
    if claimed:
        paths = func_paths({c.func_id for c in claimed}, using)
        for c in claimed:
            c.func_path = paths[c.func_id]
    return claimed


def heartbeat(*, worker_id, job_ids, lease, using):
    """
    Renew this worker's leases. A job with a max_work_duration is renewed at
    most up to last_attempted_at + max_work_duration. Returns how many were renewed.
    """
    if not job_ids:
        return 0
    renewed = Now() + lease
    deadline = F("last_attempted_at") + F("max_work_duration")
    from django.db.models import Case, When
    from django.db.models.lookups import LessThan

    return (
        Job.objects.using(using)
        .filter(pk__in=job_ids, state=JobState.RUNNING, worker_id=worker_id)
        .update(
            grabbed_until=Case(
                When(Q(max_work_duration__isnull=False) & LessThan(deadline, renewed), then=deadline),
                default=renewed,
            )
        )
    )


# -- reporting an attempt's outcome ---------------------------------------------------


def _attempt(claimed, using):
    """The job row as long as this attempt still holds it."""
    return Job.objects.using(using).filter(
        pk=claimed.id, state=JobState.RUNNING, attempts=claimed.attempt, worker_id=claimed.worker_id
    )


def _finish_attempt(claimed, using, job_changes, *, outcome, error=None, exit_status=None, logs=()):
    """Apply ``job_changes`` to the attempt's job and close its run, or raise JobNotClaimed."""
    with transaction.atomic(using=using):
        if not _attempt(claimed, using).update(**job_changes):
            raise JobNotClaimed(f"Job {claimed.id} attempt {claimed.attempt} is no longer held by {claimed.worker_id}.")
        run_changes = {"outcome": outcome, "finished_at": Now(), "exit_status": exit_status}
        if error is not None:
            run_changes.update(
                exception_class_path=error.exception_class_path, message=error.message, traceback=error.traceback
            )
        runs = JobRun.objects.using(using).filter(job_id=claimed.id, attempt=claimed.attempt)
        runs.update(**run_changes)
        if logs:
            run_id = runs.values_list("pk", flat=True).get()
            JobLog.objects.using(using).bulk_create(
                [JobLog(run_id=run_id, created_at=at, level=level, logger=name, message=msg) for at, level, name, msg in logs]
            )


@dataclass(frozen=True)
class ErrorInfo:
    exception_class_path: str
    message: str
    traceback: str


def complete(claimed, return_value, *, exit_status=0, logs=(), using):
    _finish_attempt(
        claimed,
        using,
        dict(
            state=states.target("complete"),
            finished_at=Now(),
            return_value=return_value,
            exit_status=exit_status,
            grabbed_until=None,
        ),
        outcome=RunOutcome.SUCCEEDED,
        exit_status=exit_status,
        logs=logs,
    )


def fail(claimed, error, *, retry_in=None, exit_status=1, logs=(), using):
    """
    Record a failed attempt. With ``retry_in`` seconds and attempts left the
    job goes back to ready after that delay; otherwise it is failed for good.
    Returns the job's new state.
    """
    if retry_in is not None and claimed.attempts_left > 0:
        state = states.target("retry_later")
        changes = dict(state=state, run_after=Now() + timedelta(seconds=retry_in), worker_id=None, grabbed_until=None)
    else:
        state = states.target("fail")
        changes = dict(state=state, finished_at=Now(), exit_status=exit_status, grabbed_until=None)
    _finish_attempt(claimed, using, changes, outcome=RunOutcome.FAILED, error=error, exit_status=exit_status, logs=logs)
    return state


def decline(claimed, *, run_after, logs=(), using):
    """Not now: back to ready at ``run_after`` (a datetime or seconds), the attempt given back."""
    if not isinstance(run_after, datetime):
        run_after = Now() + timedelta(seconds=run_after or 0)
    _finish_attempt(
        claimed,
        using,
        dict(
            state=states.target("decline"),
            run_after=run_after,
            attempts_left=F("attempts_left") + 1,
            worker_id=None,
            grabbed_until=None,
        ),
        outcome=RunOutcome.DECLINED,
        logs=logs,
    )


def release(claimed, *, using):
    """A stopping worker hands an unfinished attempt back; it does not count against the budget."""
    error = ErrorInfo("django_jobs.exceptions.WorkerLost", f"worker {claimed.worker_id} stopped", "")
    _finish_attempt(
        claimed,
        using,
        dict(
            state=states.target("release"),
            attempts_left=F("attempts_left") + 1,
            worker_id=None,
            grabbed_until=None,
        ),
        outcome=RunOutcome.RELEASED,
        error=error,
    )


# -- the scheduler's duties -----------------------------------------------------------


def rescue_expired(*, using, batch=500):
    """
    Take back jobs whose lease ran out (their worker died or overran
    max_work_duration): close the attempt as lost, and make the job ready
    again, or failed if it has no attempts left. Returns how many.
    """
    rescued = 0
    expired = (
        Job.objects.using(using)
        .filter(state=JobState.RUNNING, grabbed_until__lt=Now())
        .values_list("pk", "attempts", "attempts_left", "worker_id")[:batch]
    )
    for pk, attempt, attempts_left, worker_id in expired:
        if attempts_left > 0:
            changes = dict(state=JobState.READY, run_after=Now())
        else:
            changes = dict(state=JobState.FAILED, finished_at=Now(), exit_status=1)
        with transaction.atomic(using=using):
            taken = (
                Job.objects.using(using)
                .filter(pk=pk, state=JobState.RUNNING, attempts=attempt, grabbed_until__lt=Now())
                .update(worker_id=None, grabbed_until=None, **changes)
            )
            if taken:
                JobRun.objects.using(using).filter(job_id=pk, attempt=attempt).update(
                    outcome=RunOutcome.LOST,
                    finished_at=Now(),
                    exception_class_path="django_jobs.exceptions.WorkerLost",
                    message=f"Lease expired: worker {worker_id} died, stopped renewing, or the attempt overran max_work_duration.",
                )
                rescued += 1
    return rescued


# -- operators' calls ----------------------------------------------------------------


def get_job(job_id, *, using):
    try:
        return Job.objects.using(using).select_related("func").get(pk=int(job_id))
    except (Job.DoesNotExist, ValueError, TypeError):
        raise JobNotFound(f"No job with id {job_id!r}.") from None


def cancel(job_id, *, using):
    """
    Cancel a job: a ready job never runs; a running one is marked cancelled and
    its worker is asked to stop it. Returns the job. Raises InvalidTransition
    for a finished job.
    """
    job = get_job(job_id, using=using)
    with transaction.atomic(using=using):
        changed = (
            Job.objects.using(using)
            .filter(pk=job.pk, state__in=states.sources("cancel"))
            .update(
                state=states.target("cancel"),
                cancel_requested=True,
                finished_at=Now(),
                grabbed_until=None,
            )
        )
        if not changed:
            job.refresh_from_db(using=using)
            raise InvalidTransition(f"Job {job.pk} is {job.state}; only ready or running jobs can be cancelled.")
        JobRun.objects.using(using).filter(job_id=job.pk, attempt=job.attempts, outcome=RunOutcome.RUNNING).update(
            outcome=RunOutcome.CANCELLED, finished_at=Now()
        )
    job.refresh_from_db(using=using)
    return job


def retry(job_id, *, using):
    """Put a failed, cancelled or expired job back as ready, with a fresh attempt budget."""
    job = get_job(job_id, using=using)
    changed = (
        Job.objects.using(using)
        .filter(pk=job.pk, state__in=states.sources("retry"))
        .update(
            state=states.target("retry"),
            attempts_left=F("max_attempts"),
            run_after=Now(),
            finished_at=None,
            cancel_requested=False,
            worker_id=None,
            grabbed_until=None,
            return_value=None,
            exit_status=None,
        )
    )
    if not changed:
        raise InvalidTransition(
            f"Job {job.pk} is {job.state}; only failed, cancelled or expired jobs can be retried."
        )
    job.refresh_from_db(using=using)
    return job


def run_now(job_id, *, using):
    """Make a ready job due now (its run_after or retry backoff is skipped)."""
    job = get_job(job_id, using=using)
    if not Job.objects.using(using).filter(pk=job.pk, state=JobState.READY).update(run_after=Now()):
        raise InvalidTransition(f"Job {job.pk} is {job.state}; only ready jobs can be made due now.")
    job.refresh_from_db(using=using)
    return job
