"""
Fair queuing: giving each new job with a ``fairness_key`` its round.

Within a priority, a queue's jobs are claimed in ``fair_round`` order (then
``run_after``, then id). A key's waiting jobs hold consecutive rounds, and a
key with nothing waiting starts at the queue's current round (the lowest
round of its due keyed jobs). So when keys A and B both have jobs waiting,
claims alternate A, B, A, B… whatever order they were enqueued in, and a key
arriving late waits for at most one job of each other key. Unkeyed jobs have
round 0: within their priority, they go before keyed ones.

The claim only reads an index in that order: its cost does not grow with the
number of keys. Each enqueue of keyed jobs costs two index look-ups per
(queue, key); two enqueues of one key at the same moment may share a round
(a tie, broken by run_after and id), which costs fairness nothing worth a lock.
"""

from django.db.models.functions import Now

from ..db import get_ops
from ..models import Job
from ..states import JobState


def assign_rounds(jobs, using):
    """Set ``fair_round`` on the unsaved ``jobs`` that have a fairness_key (before they are inserted)."""
    by_queue: dict[str, list[Job]] = {}
    for job in jobs:
        if job.fairness_key is not None:
            by_queue.setdefault(job.queue_name, []).append(job)
    for queue_name, keyed in by_queue.items():
        current = current_round(queue_name, using)
        last = get_ops(using).last_rounds(queue_name, {job.fairness_key for job in keyed})
        for job in keyed:
            job.fair_round = max(current, last.get(job.fairness_key, current - 1) + 1)
            last[job.fairness_key] = job.fair_round


def current_round(queue_name, using):
    """The lowest round of the queue's due keyed jobs: where a key with nothing waiting joins (1 if none)."""
    lowest = (
        Job.objects.using(using)
        .filter(state=JobState.READY, fairness_key__isnull=False, queue_name=queue_name, run_after__lte=Now())
        .order_by("fair_round")
        .values_list("fair_round", flat=True)
        .first()
    )
    return 1 if lowest is None else lowest
