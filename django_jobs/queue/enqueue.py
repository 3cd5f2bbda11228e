"""
Writing new jobs, built by the backend (``backend.building``): one at a
time, or many in one statement, honouring uniqkeys.
"""

from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Q

from .. import states
from ..models import Job
from . import dependencies, fairness
from .rows import insert_new


@dataclass(frozen=True)
class Enqueued:
    job: Job
    #: False when an existing live job with the same uniqkey was returned.
    created: bool


def insert(job, *, using):
    """
    Insert a built job; with a uniqkey, return the live job already holding it instead.
    A job with ``depends_on`` is checked, linked and written in one transaction.
    """
    if dependencies.dependencies_of(job):
        return insert_many([job], using=using)[0]
    fairness.assign_rounds([job], using)
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
            if (existing := live_with_uniqkey(job.func_id, job.uniqkey, using)) is not None:
                return Enqueued(existing, False)
            # It finished between our insert and our look-up: try again.
    raise IntegrityError(f"Could not enqueue or find the job with uniqkey {job.uniqkey!r}.")


def live_with_uniqkey(func_id, uniqkey, using):
    """The ready or running job of this function holding ``uniqkey``, if any."""
    return (
        Job.objects.using(using)
        .select_related("func")
        .filter(func_id=func_id, uniqkey=uniqkey, state__in=states.LIVE_STATES)
        .first()
    )


def insert_many(jobs, *, using):
    """
    Insert built jobs in one statement, in one transaction. A job whose
    (function, uniqkey) is already live, or repeats an earlier one of the
    batch, yields the live job instead. Returns one Enqueued per job, in order.

    A job's ``depends_on`` (see ``queue.dependencies``) lists job ids and
    other jobs of the batch; the whole graph is written here or nothing is.
    """
    jobs = list(jobs)
    with transaction.atomic(using=using):
        fairness.assign_rounds(jobs, using)
        linked = any(dependencies.dependencies_of(job) for job in jobs)
        if linked:
            dependencies.prepare(jobs, using)
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
        if linked:
            inserted = {id(job): result.job.pk for job, result in zip(jobs, results)}
            dependencies.link([job for job, result in zip(jobs, results) if result.created], inserted, using)
        return results


def _live_by_key(keyed, using):
    query = Q()
    for func_id_, uniqkey in keyed:
        query |= Q(func_id=func_id_, uniqkey=uniqkey)
    live = Job.objects.using(using).select_related("func").filter(query, state__in=states.LIVE_STATES)
    return {(job.func_id, job.uniqkey): job for job in live}
