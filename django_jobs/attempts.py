"""
Running one claimed attempt and recording how it ended: what a worker's job
thread, a ``--processes`` child and ``enqueue_and_run`` do with each attempt.

An atomic job (``@django_jobs.job(atomic=True)``) runs inside the transaction
that records its success, on the jobs database. Its success is the last write
of that transaction, guarded by (job, attempt, worker) like every report: an
attempt that was cancelled or taken back meanwhile matches no row, and the
whole transaction, the function's writes with it, rolls back. So does an
attempt that raised, or declined; its failure is then recorded in a
transaction of its own. A worker that dies mid-run never commits: the
database rolls the attempt's writes back, and the job is rescued and run
again. At least once for the function, exactly once for its writes to the
jobs database.
"""

from django.db import InterfaceError, OperationalError, transaction

from .report import AttemptReport
from .reporter import PENDING, failed
from .runner import is_atomic, task_of
from .states import RunOutcome

__all__ = ["PENDING", "run_and_report"]


def run_and_report(runner, reporter, claimed, cancel_event=None):
    """Run one attempt of ``claimed`` and record it. Returns ``(report, transition)`` (see ``Reporter.report``)."""
    task = task_of(claimed)
    if task is None or not is_atomic(task):
        report = runner.run(claimed, cancel_event)
        return report, reporter.report(report)
    return _run_atomically(runner, reporter, claimed, cancel_event)


def _run_atomically(runner, reporter, claimed, cancel_event):
    using = reporter.using
    report: AttemptReport | None = None
    transition = None
    try:
        with transaction.atomic(using=using):
            report = runner.run(claimed, cancel_event)
            if report.outcome != RunOutcome.SUCCEEDED:
                transaction.set_rollback(True, using=using)
            else:
                try:
                    transition = reporter.write_success(report)
                except (OperationalError, InterfaceError):
                    raise  # the database went away: nothing was written, the job runs again after its lease
                except Exception as exc:
                    report = failed(report, exc)
                if transition is None:
                    transaction.set_rollback(True, using=using)
    except Exception as exc:
        if report is None or isinstance(exc, (OperationalError, InterfaceError)):
            raise  # nothing was written: the lease expires and the job runs again
        # The commit failed (a deferred constraint, a lost connection): nothing was written.
        report, transition = failed(report, exc), None
    if transition is not None:
        reporter.announce(report, transition)
        return report, transition
    if report.outcome == RunOutcome.SUCCEEDED:
        return report, None  # taken back or cancelled: rolled back, nothing to record
    return report, reporter.report(report)
