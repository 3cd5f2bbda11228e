"""
Applying a declared transition (``django_jobs.transitions``) to job rows.

``move()`` is the only place the service writes a job's ``state``: one
UPDATE, guarded by the transition's source states, setting exactly the
columns the transition declares. ``open_new()`` does the same for a job
about to be inserted, and ``close_run()`` records the transition's outcome
on the attempt's JobRun.
"""

from django.db import OperationalError, transaction
from django.db.models import F
from django.db.models.functions import Now

from ..db import get_ops
from ..models import JobRun
from .errors import storable


class UndeclaredChange(TypeError):
    """A transition was applied with other columns than the ones it declares (a bug in django_jobs)."""


def _check(transition, values):
    if set(values) != set(transition.sets):
        raise UndeclaredChange(
            f"Transition {transition.name!r} sets {sorted(transition.sets)}, "
            f"not {sorted(values)}: change its declaration in django_jobs/transitions.py first."
        )


def move(transition, jobs, **values):
    """
    Apply ``transition`` to the jobs of the queryset ``jobs`` that are still in
    one of its source states; ``values`` are its declared columns' new values.
    Returns how many rows changed (0: someone else won, or the job was elsewhere).
    """
    _check(transition, values)
    return jobs.filter(state__in=transition.source_list).update(state=transition.target, **values)


def open_new(transition, job, **values):
    """Set up an unsaved Job to be inserted in ``transition``'s target state (a transition with no sources)."""
    assert not transition.sources, f"{transition.name} applies to existing jobs"
    _check(transition, values)
    job.state = transition.target
    for name, value in values.items():
        setattr(job, name, value)


def finishing():
    """The values of the columns every transition into a finished state sets (``transitions.FINISHING``)."""
    return {"finished_at": Now(), "keep_until": Now() + F("keep_for"), "grabbed_until": None}


def close_run(transition, job_id, attempt, *, using, error=None, exit_status=None, only_running=False):
    """
    Record ``transition``'s outcome on attempt ``attempt``'s JobRun, with the
    error (an ErrorInfo) if any. ``only_running``: only if the run is still
    open (a cancel reaches a run only while it runs). Returns the rows changed.
    """
    changes = {"outcome": transition.run_outcome, "finished_at": Now(), "exit_status": exit_status}
    if error is not None:
        changes.update(
            exception_class_path=storable(error.exception_class_path),
            message=storable(error.message),
            traceback=storable(error.traceback),
        )
    runs = JobRun.objects.using(using).filter(job_id=job_id, attempt=attempt)
    if only_running:
        from ..states import RunOutcome

        runs = runs.filter(outcome=RunOutcome.RUNNING)
    return runs.update(**changes)


#: How many times a transaction chosen as a deadlock's victim is run in all.
DEADLOCK_TRIES = 3


def retried_after_deadlock(write, *, using):
    """
    Run ``write()`` (one transaction of its own) again when the database ended
    it as a deadlock's victim (``DatabaseOps.is_deadlock``: InnoDB's row and gap
    locks can pick, say, a cancel racing the attempt's own report); it rolled
    back whole, so running it again is safe. Not inside the caller's
    transaction, which the deadlock aborted too. Returns what ``write`` returns.
    """
    for attempt in range(1, DEADLOCK_TRIES + 1):
        try:
            return write()
        except OperationalError as e:
            again = attempt < DEADLOCK_TRIES and not transaction.get_connection(using).in_atomic_block
            if not (again and get_ops(using).is_deadlock(e)):
                raise
    raise AssertionError("unreachable")  # the last try returns or raises
