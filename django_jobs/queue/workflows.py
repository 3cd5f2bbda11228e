"""
Workflows (chains and groups, ``backend.workflows``): the jobs enqueued
together share a ``workflow_id``, the id of the first of them, by which a
whole workflow is cancelled or its progress read.
"""

from django.db import transaction
from django.db.models import Count

from ..db import get_ops
from ..exceptions import JobCancelled
from ..models import Job
from ..states import FINISHED_STATES, JobState
from ..transitions import CANCEL
from . import dependencies
from .errors import ErrorInfo
from .guarded import close_run, finishing, move


def join_workflow(job_ids, workflow_id, *, using):
    """Mark the jobs ``job_ids`` (just inserted, in the caller's transaction) as workflow ``workflow_id``'s."""
    Job.objects.using(using).filter(pk__in=job_ids).update(workflow_id=workflow_id)


def cancel_workflow(workflow_id, *, using):
    """
    Cancel every job of the workflow not finished yet, in one transaction:
    waiting and ready jobs never run, running ones are asked to stop (as
    ``cancel``), and jobs outside the workflow that wait for one of them are
    abandoned. Returns how many jobs were cancelled.
    """
    with transaction.atomic(using=using):
        live = list(
            Job.objects.using(using)
            .select_for_update()
            .filter(workflow_id=workflow_id, state__in=CANCEL.source_list)
            .order_by("pk")
            .values_list("pk", "state", "attempts")
        )
        if not live:
            return 0
        ids = [pk for pk, _state, _attempts in live]
        cancelled = move(CANCEL, Job.objects.using(using).filter(pk__in=ids), **finishing(), cancel_requested=True)
        error = ErrorInfo.without_traceback(JobCancelled, "its workflow was cancelled while it ran")
        for pk, state, attempts in live:
            if state == JobState.RUNNING and close_run(
                CANCEL, pk, attempts, using=using, error=error, only_running=True
            ):
                get_ops(using).announce_cancel(pk)
        dependencies.ended_badly(ids, "was cancelled", using)
    return cancelled


def workflow_progress(workflow_id, *, using):
    """``(finished, total)``: how many jobs of the workflow have finished, of how many."""
    counts = dict(
        Job.objects.using(using).filter(workflow_id=workflow_id).order_by().values_list("state").annotate(n=Count("pk"))
    )
    return sum(n for state, n in counts.items() if state in FINISHED_STATES), sum(counts.values())
