"""
The queue service: the only code that changes a job's state.

Each change is one guarded UPDATE naming the states it may start from (see
``states.TRANSITIONS``); reports from a worker are further guarded by the
attempt number and the worker id, so an attempt whose lease was taken back
cannot write over the attempt that replaced it.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, router, transaction
from django.db.models import Case, F, Q, When
from django.db.models.functions import Now
from django.db.models.lookups import LessThan
from django.db.models.signals import post_migrate
from django.dispatch import receiver

from . import states
from .arguments import as_json
from .db import get_ops
from .db.base import KILL_MARGIN, ClaimBatch, ClaimedJob
from .exceptions import (
    InvalidJobArguments,
    InvalidJobType,
    InvalidTransition,
    JobNotClaimed,
    JobNotFound,
)
from .models import FuncMap, Job, JobLog, JobRun, QueueState
from .new_rows import insert_new
from .states import JobState, RunOutcome
from .task import JobTask, resolve_task
from .validation import bind_arguments, check_schema


def database_for(options):
    """The alias jobs of a backend live in: OPTIONS['DATABASE'], else the routers' choice."""
    return options.DATABASE or router.db_for_write(Job)


# -- the function map ------------------------------------------------------------

_func_ids: dict[tuple[str, str], int] = {}  # (alias, path) -> id
_func_paths: dict[tuple[str, int], str] = {}  # (alias, id) -> path


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


def _seconds(value, what):
    if value is None or isinstance(value, timedelta):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return timedelta(seconds=value)
    raise InvalidJobArguments(f"{what} must be a timedelta or a number of seconds >= 0, not {value!r}.")


def build_job(task, args, kwargs, *, using, func_ids=None, task_checked=False):
    """
    An unsaved Job for ``task`` called with ``args``/``kwargs``, checked
    (registered function, valid task options, JSON arguments) but not written.
    ``task_checked``: the caller has validated the task and checked that it is
    registered (enqueue_many does so once per distinct task, not per job).
    """
    backend = task.get_backend()
    if not task_checked:
        backend.validate_task(task)
        check_registered(task)
    arguments = bind_arguments(task, args, kwargs)
    options = backend.job_options
    job = Job(
        backend=backend.alias,
        queue_name=task.queue_name,
        args=as_json(list(args), "args", max_bytes=backend.job_options.MAX_ARGUMENTS_BYTES),
        kwargs=as_json(dict(kwargs), "kwargs", max_bytes=backend.job_options.MAX_ARGUMENTS_BYTES),
        priority=task.priority,
    )
    max_attempts = options.MAX_ATTEMPTS
    max_work = options.MAX_WORK_DURATION
    keep_for = options.KEEP_FINISHED_FOR
    if isinstance(task, JobTask):
        max_attempts = task.max_attempts or max_attempts
        max_work = task.max_work_duration if task.max_work_duration is not None else max_work
        keep_for = task.keep_for if task.keep_for is not None else keep_for
        job.uniqkey, job.coalesce, job.expires_at = task.uniqkey, task.coalesce, task.expires_at
        if task.expires_in is not None:
            job.expires_at = Now() + _seconds(task.expires_in, "expires_in")
        if task.schema is not None:
            check_schema(task, task.schema, as_json(arguments, "arguments"))
        if task.concurrency_key is not None:
            key = task.concurrency_key(*args, **kwargs) if callable(task.concurrency_key) else task.concurrency_key
            if not isinstance(key, str) or not key or len(key) > 255:
                raise InvalidJobArguments(
                    f"concurrency_key of {task.module_path} must give a non-empty string, not {key!r}."
                )
            job.concurrency_key, job.concurrency_limit = key, task.concurrency_limit or 1
    job.max_attempts = job.attempts_left = max_attempts
    job.max_work_duration = _seconds(max_work, "max_work_duration")
    job.keep_for = _seconds(keep_for, "keep_for")
    if task.run_after is not None:
        job.run_after = task.run_after
    if func_ids is None:
        job.func_id = func_id(task.module_path, using)
    else:
        if task.module_path not in func_ids:
            func_ids[task.module_path] = func_id(task.module_path, using)
        job.func_id = func_ids[task.module_path]
    return job


def enqueue(task, args, kwargs, *, using):
    """
    Write one job for ``task`` in the caller's transaction on ``using``.
    Returns Enqueued; nothing is written if anything is invalid.
    """
    return insert(build_job(task, args, kwargs, using=using), using=using)


def insert(job, *, using):
    """Insert a built job; with a uniqkey, return the live job already holding it instead."""
    if job.uniqkey is None:
        insert_new([job], using)
        return Enqueued(job, True)
    for _ in range(3):
        try:
            with transaction.atomic(using=using):
                insert_new([job], using)
            return Enqueued(job, True)
        except IntegrityError:
            job.pk = None
            job._state.adding = True
            if (existing := _live_with_uniqkey(job.func_id, job.uniqkey, using)) is not None:
                return Enqueued(existing, False)
            # It finished between our insert and our look-up: try again.
    raise IntegrityError(f"Could not enqueue or find the job with uniqkey {job.uniqkey!r}.")


def _live_with_uniqkey(func_id, uniqkey, using):
    return (
        Job.objects.using(using)
        .select_related("func")
        .filter(func_id=func_id, uniqkey=uniqkey, state__in=states.LIVE_STATES)
        .first()
    )


def insert_many(jobs, *, using):
    """
    Insert built jobs in one statement (JoobQ's enqueue_batch), in one
    transaction. A job whose (function, uniqkey) is already live, or repeats
    an earlier one of the batch, yields the live job instead. Returns one
    Enqueued per job, in order.
    """
    jobs = list(jobs)
    with transaction.atomic(using=using):
        plain = [job for job in jobs if job.uniqkey is None]
        insert_new(plain, using)
        keyed: dict[tuple[int, str], Job] = {}
        for job in jobs:
            if job.uniqkey is not None:
                keyed.setdefault((job.func_id, job.uniqkey), job)
        if keyed:
            before = _live_by_key(keyed, using)
            Job.objects.using(using).bulk_create(
                [job for key, job in keyed.items() if key not in before], ignore_conflicts=True
            )
            after = _live_by_key(keyed, using)
        results = []
        for job in jobs:
            if job.uniqkey is None:
                results.append(Enqueued(job, True))
                continue
            key = (job.func_id, job.uniqkey)
            live = after[key]
            created = key not in before and keyed[key] is job
            if created:
                job.pk = live.pk
                job.enqueued_at, job.run_after = live.enqueued_at, live.run_after
                results.append(Enqueued(job, True))
            else:
                results.append(Enqueued(live, False))
        return results


def _live_by_key(keyed, using):
    query = Q()
    for func_id_, uniqkey in keyed:
        query |= Q(func_id=func_id_, uniqkey=uniqkey)
    live = Job.objects.using(using).select_related("func").filter(query, state__in=states.LIVE_STATES)
    return {(job.func_id, job.uniqkey): job for job in live}


# -- claiming ----------------------------------------------------------------------


def claim(*, worker_id, queues, limit, lease, using, queue_limits=None, limited=True):
    """
    Claim up to ``limit`` due jobs for ``worker_id``; returns a ClaimBatch of
    ClaimedJobs. ``limited=False`` skips jobs under a concurrency limit (see
    ``db.base.DatabaseOps.claim``).
    """
    claimed = get_ops(using).claim(
        worker_id=worker_id, queues=queues, limit=limit, lease=lease, queue_limits=queue_limits, limited=limited
    )
    _name_functions(claimed, using)
    return claimed


def _name_functions(claimed, using):
    if claimed:
        paths = func_paths({c.func_id for c in claimed}, using)
        for c in claimed:
            c.func_path = paths[c.func_id]


def complete_and_claim(succeeded, *, worker_id, limit, using, **claim_options):
    """
    One transaction that records finished attempts and claims the next jobs:
    what lets a busy worker commit once per batch instead of twice per job.

    ``succeeded``: ``(ClaimedJob, return_value)`` of attempts that returned
    (no log lines, no replace_with: those are reported one by one by
    ``complete``). Each is still guarded by (id, attempt, worker_id): an
    attempt cancelled or taken back meanwhile is not recorded.
    ``claim_options`` and ``limit`` are ``claim``'s. Returns
    ``(ids recorded as succeeded, ClaimBatch)``.
    """
    ops = get_ops(using)
    with ops.write_transaction():
        recorded = ops.complete_many(worker_id, succeeded) if succeeded else set()
        claimed = ops.claim(worker_id=worker_id, limit=limit, **claim_options) if limit > 0 else ClaimBatch()
    _name_functions(claimed, using)
    return recorded, claimed


def heartbeat(*, worker_id, job_ids, lease, using):
    """
    Renew this worker's leases. A job with a max_work_duration is renewed at
    most up to last_attempted_at + max_work_duration. Returns how many were renewed.
    """
    if not job_ids:
        return 0
    renewed = Now() + lease
    deadline = F("last_attempted_at") + F("max_work_duration") + KILL_MARGIN
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


def claim_coalesced(claimed, *, limit, lease, using):
    """
    Claim up to ``limit`` more due jobs of ``claimed``'s function with the same
    coalesce value, for the same worker (TheSchwartz's coalescing).
    """
    if not claimed.coalesce:
        return []
    siblings = get_ops(using).claim(
        worker_id=claimed.worker_id,
        queues=None,
        limit=limit,
        lease=lease,
        coalesce=(claimed.func_id, claimed.coalesce),
    )
    for sibling in siblings:
        sibling.func_path = claimed.func_path
    return siblings


def add_and_claim(job, *, worker_id, lease, using):
    """
    Insert a built job already running as attempt 1 of ``worker_id`` (the Go
    package's AddAndClaim): it bypasses the queue but keeps the same records.
    Returns its ClaimedJob.
    """
    if job.uniqkey is not None and _live_with_uniqkey(job.func_id, job.uniqkey, using) is not None:
        raise IntegrityError(f"A live job with uniqkey {job.uniqkey!r} already exists.")
    job.state = JobState.RUNNING
    job.attempts = 1
    job.attempts_left = job.max_attempts - 1
    job.worker_id = worker_id
    job.started_at = job.last_attempted_at = Now()
    job.grabbed_until = Now() + lease
    with transaction.atomic(using=using):
        job.save(using=using, force_insert=True)
        JobRun.objects.using(using).create(job_id=job.pk, attempt=1, worker_id=worker_id)
    job.refresh_from_db(using=using)
    return ClaimedJob(
        id=job.pk,
        attempt=1,
        worker_id=worker_id,
        func_id=job.func_id,
        args=job.args,
        kwargs=job.kwargs,
        backend=job.backend,
        queue_name=job.queue_name,
        priority=job.priority,
        enqueued_at=job.enqueued_at,
        started_at=job.started_at,
        last_attempted_at=job.last_attempted_at,
        attempts_left=job.attempts_left,
        max_work_duration=job.max_work_duration,
        coalesce=job.coalesce,
        func_path=FuncMap.objects.using(using).get(pk=job.func_id).path,
    )


def cancelled_among(job_ids, *, using):
    """Of these jobs (running here), the ids of those cancelled meanwhile."""
    if not job_ids:
        return set()
    return set(Job.objects.using(using).filter(pk__in=job_ids, state=JobState.CANCELLED).values_list("pk", flat=True))


# -- reporting an attempt's outcome ---------------------------------------------------


def finished(state, **changes):
    """Column changes for a job entering a finished state: times, and when it may be pruned."""
    return dict(
        state=state,
        finished_at=Now(),
        keep_until=Now() + F("keep_for"),
        grabbed_until=None,
        **changes,
    )


def _attempt(claimed, using):
    """The job row as long as this attempt still holds it."""
    return Job.objects.using(using).filter(
        pk=claimed.id, state=JobState.RUNNING, attempts=claimed.attempt, worker_id=claimed.worker_id
    )


def _finish_attempt(claimed, using, job_changes, *, outcome, error=None, exit_status=None, logs=(), then=None):
    """
    Apply ``job_changes`` to the attempt's job and close its run, or raise
    JobNotClaimed; then call ``then()`` in the same transaction.
    """
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
                [
                    JobLog(run_id=run_id, created_at=at, level=level, logger=name, message=msg)
                    for at, level, name, msg in logs
                ]
            )
        if then is not None:
            then()


@dataclass(frozen=True)
class ErrorInfo:
    exception_class_path: str
    message: str
    traceback: str


def complete(claimed, return_value, *, exit_status=0, logs=(), replacements=(), using):
    """
    Record a successful attempt. ``replacements`` (built jobs) are inserted in
    the same transaction (TheSchwartz's replace_with): either they all exist
    and this job is done, or nothing changed.
    """
    _finish_attempt(
        claimed,
        using,
        finished(states.target("complete"), return_value=return_value, exit_status=exit_status),
        outcome=RunOutcome.SUCCEEDED,
        exit_status=exit_status,
        logs=logs,
        then=(lambda: insert_many(replacements, using=using)) if replacements else None,
    )


def fail(claimed, error, *, retry_in=None, exit_status=1, logs=(), using):
    """
    Record a failed attempt. With ``retry_in`` seconds and attempts left the
    job goes back to ready after that delay; otherwise it is failed for good.
    Returns the job's new state.
    """
    if retry_in is not None and claimed.attempts_left > 0:
        state = states.target("retry_later")
        changes = {
            "state": state,
            "run_after": Now() + timedelta(seconds=retry_in),
            "worker_id": None,
            "grabbed_until": None,
        }
    else:
        state = states.target("fail")
        changes = finished(state, exit_status=exit_status)
    _finish_attempt(claimed, using, changes, outcome=RunOutcome.FAILED, error=error, exit_status=exit_status, logs=logs)
    return state


def decline(claimed, *, run_after, logs=(), using):
    """Not now: back to ready at ``run_after`` (a datetime or seconds), the attempt given back."""
    if not isinstance(run_after, datetime):
        run_after = Now() + timedelta(seconds=run_after or 0)
    _finish_attempt(
        claimed,
        using,
        {
            "state": states.target("decline"),
            "run_after": run_after,
            "attempts_left": F("attempts_left") + 1,
            "worker_id": None,
            "grabbed_until": None,
        },
        outcome=RunOutcome.DECLINED,
        logs=logs,
    )


def release(claimed, *, using):
    """A stopping worker hands an unfinished attempt back; it does not count against the budget."""
    error = ErrorInfo("django_jobs.exceptions.WorkerLost", f"worker {claimed.worker_id} stopped", "")
    _finish_attempt(
        claimed,
        using,
        {
            "state": states.target("release"),
            "attempts_left": F("attempts_left") + 1,
            "worker_id": None,
            "grabbed_until": None,
        },
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
            changes = {"state": JobState.READY, "run_after": Now(), "grabbed_until": None}
        else:
            changes = finished(JobState.FAILED, exit_status=1)
        with transaction.atomic(using=using):
            taken = (
                Job.objects.using(using)
                .filter(pk=pk, state=JobState.RUNNING, attempts=attempt, grabbed_until__lt=Now())
                .update(worker_id=None, **changes)
            )
            if taken:
                JobRun.objects.using(using).filter(job_id=pk, attempt=attempt).update(
                    outcome=RunOutcome.LOST,
                    finished_at=Now(),
                    exception_class_path="django_jobs.exceptions.WorkerLost",
                    message=f"Lease expired: worker {worker_id} died, stopped renewing, "
                    "or the attempt overran max_work_duration.",
                )
                rescued += 1
    return rescued


def expire_overdue(*, using):
    """Ready jobs whose expires_at has passed end as expired (Bildad's expire). Returns how many."""
    return (
        Job.objects.using(using)
        .filter(state__in=states.sources("expire"), expires_at__lte=Now())
        .update(**finished(states.target("expire")))
    )


def _delete_jobs(ids, using, **still):
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
        _delete_jobs(deletable, using)
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
        deleted += _delete_jobs(ids, using, keep_until__lt=Now())
        if len(ids) < batch:
            return deleted


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
            .update(**finished(states.target("cancel"), cancel_requested=True))
        )
        if not changed:
            job.refresh_from_db(using=using)
            raise InvalidTransition(f"Job {job.pk} is {job.state}; only ready or running jobs can be cancelled.")
        if (
            JobRun.objects.using(using)
            .filter(job_id=job.pk, attempt=job.attempts, outcome=RunOutcome.RUNNING)
            .update(
                outcome=RunOutcome.CANCELLED,
                finished_at=Now(),
                exception_class_path="django_jobs.exceptions.JobCancelled",
                message="cancelled while running",
            )
        ):
            get_ops(using).announce_cancel(job.pk)
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
            keep_until=None,
            cancel_requested=False,
            worker_id=None,
            grabbed_until=None,
            return_value=None,
            exit_status=None,
        )
    )
    if not changed:
        raise InvalidTransition(f"Job {job.pk} is {job.state}; only failed, cancelled or expired jobs can be retried.")
    job.refresh_from_db(using=using)
    return job


def run_now(job_id, *, using):
    """Make a ready job due now (its run_after or retry backoff is skipped)."""
    job = get_job(job_id, using=using)
    if not Job.objects.using(using).filter(pk=job.pk, state=JobState.READY).update(run_after=Now()):
        raise InvalidTransition(f"Job {job.pk} is {job.state}; only ready jobs can be made due now.")
    job.refresh_from_db(using=using)
    return job


def failures(job_id, *, using):
    """The job's failure log: its failed, lost and cancelled attempts, oldest first."""
    job = get_job(job_id, using=using)
    return list(
        JobRun.objects.using(using)
        .filter(job=job, outcome__in=[RunOutcome.FAILED, RunOutcome.LOST, RunOutcome.CANCELLED])
        .order_by("attempt")
    )


def logs(job_id, *, attempt=None, using):
    """What the job logged, for one attempt or all, in order."""
    job = get_job(job_id, using=using)
    lines = JobLog.objects.using(using).filter(run__job=job).select_related("run")
    if attempt is not None:
        lines = lines.filter(run__attempt=attempt)
    return list(lines.order_by("run__attempt", "id"))


# -- queues -----------------------------------------------------------------------------


def pause(queue_name, *, using):
    """Stop workers claiming from ``queue_name``; jobs keep arriving, running ones finish."""
    QueueState.objects.using(using).update_or_create(name=queue_name, defaults={"paused": True, "changed_at": Now()})


def resume(queue_name, *, using):
    """Let workers claim from ``queue_name`` again."""
    QueueState.objects.using(using).update_or_create(name=queue_name, defaults={"paused": False, "changed_at": Now()})


def paused_queues(*, using):
    return set(QueueState.objects.using(using).filter(paused=True).values_list("name", flat=True))


def list_jobs(*, using, queue_name=None, states=None, page=1, per_page=50):
    """
    A page of jobs, newest first (JoobQ's list_jobs), with their functions.
    Keyset-friendly callers should filter by id instead of paging deep.
    """
    if page < 1 or not 1 <= per_page <= 1000:
        raise ValueError("page must be >= 1 and per_page between 1 and 1000.")
    jobs = Job.objects.using(using).select_related("func").order_by("-id")
    if queue_name is not None:
        jobs = jobs.filter(queue_name=queue_name)
    if states:
        jobs = jobs.filter(state__in=list(states))
    start = (page - 1) * per_page
    return list(jobs[start : start + per_page])


def clear_queue(queue_name, *, using, batch=1000, patience=30.0, progress=None):
    """
    Delete the waiting (ready) jobs of a queue (JoobQ's clear_queue), with
    their runs and logs. Returns how many.

    Each batch of ``batch`` jobs is deleted in its own transaction, so what is
    deleted stays deleted and calling it again continues. A batch that finds
    the database locked (SQLite beside a busy worker: one writer at a time) is
    retried after a short wait; after ``patience`` seconds without progress it
    raises QueueNotCleared, which says how many were deleted and how many are
    left. ``progress(deleted)`` is called after each batch with the total so far.
    Inside the caller's transaction a lock is not waited out: the error is raised.
    """
    import time

    from django.db import OperationalError, connections

    from .exceptions import QueueNotCleared

    def locked(error):
        text = str(error).lower()
        return "locked" in text or "lock timeout" in text

    deleted = 0
    since, pause = time.monotonic(), 0.05
    while True:
        try:
            ids = list(
                Job.objects.using(using)
                .filter(queue_name=queue_name, state=JobState.READY)
                .values_list("pk", flat=True)[:batch]
            )
            if not ids:
                return deleted
            deleted += _delete_jobs(ids, using, state=JobState.READY)
        except OperationalError as e:
            if not locked(e) or connections[using].in_atomic_block:
                raise
            waited = time.monotonic() - since
            if waited >= patience:
                try:
                    left = Job.objects.using(using).filter(queue_name=queue_name, state=JobState.READY).count()
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
