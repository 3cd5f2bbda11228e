"""
Writing AttemptReports: each outcome is one service call (one declared
transition), then Django's ``task_finished`` signal with the TaskResult as
it now stands. A worker that batches keeps plain successes pending, to be
recorded together with its next claim (``queue.complete_and_claim``).
"""

import logging
import threading
import time
from dataclasses import replace

from django.db import DatabaseError, connections
from django.utils import timezone

from . import queue
from .attempt_log import job_fields
from .compat import TaskError, TaskResultStatus, task_finished
from .exceptions import JobNotClaimed
from .queue import ErrorInfo
from .reconnect import Reconnect
from .report import AttemptReport
from .states import JobState, RunOutcome
from .transitions import COMPLETE, Transition

logger = logging.getLogger("django_jobs.worker")

#: What ``Reporter.report`` returns for a success kept for the next batch.
PENDING = "pending"


class Reporter:
    def __init__(self, *, using, batch=False, patience=0.0):
        self.using = using
        self.batch = batch
        #: Seconds to keep trying to record a report while the database is unreachable (a restart, a
        #: dropped connection): the attempt's lease is renewed meanwhile, so its result is not lost.
        self.patience = patience
        self._lock = threading.Lock()
        self._pending: list[AttemptReport] = []

    def report(self, report: AttemptReport) -> Transition | str | None:
        """
        Record ``report`` (and its coalesced siblings, which end as it ends)
        and announce it. Returns the transition applied, ``PENDING`` for a
        success kept for the next batch, or None when the attempt no longer
        held its job (cancelled or taken back: nothing was written).
        """
        if self.batch and report.batchable:
            with self._lock:
                self._pending.append(report)
            return PENDING
        transition = self._write_patiently(report)
        for sibling in report.siblings:
            self._write(replace(report, claimed=sibling, logs=(), replacements=(), siblings=(), result=None))
        self.announce(report, transition)
        return transition

    def _write_patiently(self, report):
        """``_write``, tried again on a database error for up to ``patience`` seconds, on a new connection."""
        deadline = time.monotonic() + self.patience
        reconnect = None
        while True:
            try:
                transition = self._write(report)
            except DatabaseError as e:
                connections[self.using].close()
                if time.monotonic() >= deadline:
                    raise
                reconnect = reconnect or Reconnect(f"Recording job {report.claimed.id}'s outcome")
                time.sleep(max(reconnect.failed(e), 0.05))
                continue
            if reconnect is not None:
                reconnect.succeeded()
            return transition

    def write_success(self, report):
        """
        Record a success at once, in the caller's transaction if there is one (an
        atomic job's). Returns the transition, or None when the attempt no longer
        held its job (nothing written); raises when the success could not be written.
        """
        try:
            return self._write_outcome(report)
        except JobNotClaimed:
            self._dropped(report.claimed)
            return None

    def _write(self, report):
        try:
            return self._write_outcome(report)
        except JobNotClaimed:
            self._dropped(report.claimed)
            return None
        except Exception as exc:
            if report.outcome != RunOutcome.SUCCEEDED or not report.replacements:
                raise
            # replace_with's jobs could not be inserted: nothing changed, the attempt fails for good.
            return self._write(failed(report, exc))

    @staticmethod
    def _dropped(claimed):
        logger.warning(
            "Job %s attempt %s was taken back or cancelled; its outcome is dropped",
            claimed.id,
            claimed.attempt,
            extra=job_fields(claimed),
        )

    def _write_outcome(self, report):
        """One service call recording ``report``; raises JobNotClaimed when the attempt no longer holds its job."""
        claimed = report.claimed
        if report.outcome == RunOutcome.SUCCEEDED:
            return queue.complete(
                claimed,
                report.return_value,
                logs=list(report.logs),
                replacements=report.replacements,
                using=self.using,
            )
        if report.outcome == RunOutcome.DECLINED:
            return queue.decline(claimed, run_after=report.run_after, logs=list(report.logs), using=self.using)
        return queue.fail(
            claimed,
            report.error,
            retry_in=report.retry_in,
            exit_status=report.exit_status,
            logs=list(report.logs),
            trace_context=report.trace_context,
            using=self.using,
        )

    # -- batches ---------------------------------------------------------------------
    def take_pending(self) -> list[AttemptReport]:
        """The successes kept for the next batch (the caller records them, or gives them back)."""
        with self._lock:
            pending, self._pending = self._pending, []
        return pending

    def give_back(self, reports):
        """Reports whose batch could not be written: kept for the next try (their leases still hold)."""
        with self._lock:
            self._pending[:0] = reports

    def has_pending(self) -> bool:
        with self._lock:
            return bool(self._pending)

    def recorded(self, reports, recorded_ids):
        """After a batch: announce those recorded, warn of those dropped."""
        for report in reports:
            if report.claimed.id in recorded_ids:
                self.announce(report, COMPLETE)
            else:
                self._dropped(report.claimed)

    # -- signals ---------------------------------------------------------------------
    def announce(self, report, transition):
        """Send task_finished for a recorded attempt (nothing when it was dropped or not run)."""
        if report.result is not None and transition is not None:
            result = finished_result(report, transition)
            task_finished.send(sender=type(result.task.get_backend()), task_result=result)


def failed(report, exc):
    """``report``, a success that could not be recorded, as a failure for good because of ``exc``."""
    return replace(
        report,
        outcome=RunOutcome.FAILED,
        error=ErrorInfo.of(exc),
        exception=exc,
        retry_in=None,
        exit_status=1,
        replacements=(),
    )


def finished_result(report, transition):
    """
    The attempt's TaskResult after its report, built from what was just
    written rather than read back (which would cost two queries per job).
    ``finished_at`` is this host's clock, within milliseconds of the stored one.
    """
    result = report.result
    if transition.target == JobState.SUCCEEDED:
        changes = {"status": TaskResultStatus.SUCCESSFUL, "finished_at": timezone.now()}
        object.__setattr__(result, "_return_value", report.return_value)
    elif report.outcome == RunOutcome.FAILED:
        error = report.error
        retried = transition.target == JobState.READY
        changes = {
            "status": TaskResultStatus.READY if retried else TaskResultStatus.FAILED,
            "finished_at": None if retried else timezone.now(),
            "errors": [
                *result.errors,
                TaskError(exception_class_path=error.exception_class_path, traceback=error.traceback),
            ],
        }
    else:  # declined: ready again
        changes = {"status": TaskResultStatus.READY}
    for name, value in changes.items():
        object.__setattr__(result, name, value)
    return result


#: The words of the worker's log line for each transition an attempt's report applies.
DESCRIPTIONS = {"complete": "succeeded", "fail": "failed", "retry_later": "failed", "decline": "declined"}


def describe(report, transition):
    """How the attempt ended, for the worker's log line."""
    if transition is None:
        return "dropped (no longer claimed)"
    if transition == PENDING:
        return "succeeded"
    if transition.name == "retry_later":
        return f"failed (retry in {report.retry_in:.1f}s)"
    return DESCRIPTIONS.get(transition.name, transition.name)
