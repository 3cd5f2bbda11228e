"""
Claiming: workers taking due jobs (``transitions.CLAIM``), keeping their
leases, and recording returned attempts together with the next claim.
The SQL lives in ``db/``, one module per database.
"""

from django.db import IntegrityError, transaction
from django.db.models.functions import Now

from ..db import get_ops
from ..db.base import ClaimBatch, ClaimedJob
from ..exceptions import InvalidJobArguments
from ..models import FuncMap, Job, JobRun
from ..states import JobState
from ..transitions import ADD_AND_CLAIM
from . import dependencies
from .enqueue import live_with_uniqkey
from .functions import func_paths
from .guarded import open_new


def claim(*, worker_id, queues, limit, lease, using, queue_limits=None, limited=True, backend=None):
    """
    Claim up to ``limit`` due jobs for ``worker_id``; returns a ClaimBatch of
    ClaimedJobs. ``limited=False`` skips jobs under a concurrency limit (see
    ``db.base.DatabaseOps.claim``); ``backend``: only jobs of that TASKS alias.
    """
    claimed = get_ops(using).claim(
        worker_id=worker_id,
        queues=queues,
        limit=limit,
        lease=lease,
        queue_limits=queue_limits,
        limited=limited,
        backend=backend,
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
    Jobs waiting for those recorded are released in the same transaction.
    With nothing to record, the claim is made alone (``claim_alone``: on
    PostgreSQL, one statement whose commit waits for no fsync).
    ``claim_options`` and ``limit`` are ``claim``'s. Returns
    ``(ids recorded as succeeded, ClaimBatch)``.
    """
    ops = get_ops(using)
    if not succeeded:
        claimed = ops.claim_alone(worker_id=worker_id, limit=limit, **claim_options) if limit > 0 else ClaimBatch()
        _name_functions(claimed, using)
        return set(), claimed
    with ops.write_transaction():
        done = ops.complete_many(worker_id, succeeded)
        if depended_on := sorted(job_id for job_id, depended in done.items() if depended is not False):
            dependencies.succeeded(depended_on, using)
        claimed = ops.claim(worker_id=worker_id, limit=limit, **claim_options) if limit > 0 else ClaimBatch()
    _name_functions(claimed, using)
    return set(done), claimed


def heartbeat(*, worker_id, job_ids, lease, using):
    """
    Renew this worker's leases. A job with a max_work_duration is renewed at
    most up to last_attempted_at + max_work_duration. Returns how many were renewed.
    """
    if not job_ids:
        return 0
    return get_ops(using).renew_leases(worker_id, job_ids, lease)


def claim_coalesced(claimed, *, limit, lease, using):
    """
    Claim up to ``limit`` more due jobs of ``claimed``'s function with the same
    coalesce value, for the same worker, to be handled by one attempt.
    """
    if not claimed.coalesce:
        return []
    siblings = get_ops(using).claim(
        worker_id=claimed.worker_id,
        queues=None,
        limit=limit,
        lease=lease,
        coalesce=(claimed.func_id, claimed.coalesce),
        backend=claimed.backend,
    )
    for sibling in siblings:
        sibling.func_path = claimed.func_path
    return siblings


def add_and_claim(job, *, worker_id, lease, using):
    """
    Insert a built job already running as attempt 1 of ``worker_id``
    (``transitions.ADD_AND_CLAIM``): it bypasses the queue but keeps the same
    records. Returns its ClaimedJob. A job with ``depends_on`` cannot run
    now: InvalidJobArguments, nothing written.
    """
    if dependencies.dependencies_of(job):
        raise InvalidJobArguments("enqueue_and_run runs the job now; it cannot wait for depends_on jobs.")
    if job.uniqkey is not None and live_with_uniqkey(job.func_id, job.uniqkey, using) is not None:
        raise IntegrityError(f"A live job with uniqkey {job.uniqkey!r} already exists.")
    open_new(
        ADD_AND_CLAIM,
        job,
        attempts=1,
        attempts_left=job.max_attempts - 1,
        worker_id=worker_id,
        started_at=Now(),
        last_attempted_at=Now(),
        grabbed_until=Now() + lease,
    )
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
        trace_context=job.trace_context,
        run_after=job.run_after,
        func_path=FuncMap.objects.using(using).get(pk=job.func_id).path,
    )


def cancelled_among(job_ids, *, using):
    """Of these jobs (running here), the ids of those cancelled meanwhile."""
    if not job_ids:
        return set()
    return set(Job.objects.using(using).filter(pk__in=job_ids, state=JobState.CANCELLED).values_list("pk", flat=True))
