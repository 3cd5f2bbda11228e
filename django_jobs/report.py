"""
How one attempt ended, as the runner hands it to the reporter: an immutable
value, written to the database by ``reporter.Reporter`` (at once, or with
the next claim) and announced with Django's ``task_finished`` signal.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .db.base import ClaimedJob
from .queue import ErrorInfo
from .states import RunOutcome


@dataclass(frozen=True, slots=True, kw_only=True)
class AttemptReport:
    claimed: ClaimedJob
    #: SUCCEEDED (the function returned), FAILED (it raised) or DECLINED (it raised Decline).
    outcome: RunOutcome
    #: The return value, as JSON-ready data (SUCCEEDED).
    return_value: Any = None
    #: What was raised (FAILED).
    error: ErrorInfo | None = None
    #: The exception itself (FAILED), with its traceback, for the worker's ERROR record; never stored.
    exception: BaseException | None = field(default=None, compare=False, repr=False)
    #: Seconds until the next attempt, or None: no retry (FAILED).
    retry_in: float | None = None
    #: When to try again: a datetime or seconds from now (DECLINED).
    run_after: datetime | float | None = None
    exit_status: int = 0
    #: Captured log lines: (when, level, logger, message).
    logs: tuple = ()
    #: Unsaved Jobs from ``context.replace_with()``, inserted with the success.
    replacements: tuple = ()
    #: Coalesced jobs claimed by this attempt; they end as it ends.
    siblings: tuple[ClaimedJob, ...] = ()
    #: The attempt's TaskResult as its signals saw it (None: nothing to announce).
    result: Any = field(default=None, compare=False)
    #: Seconds the attempt ran.
    duration: float = 0.0
    #: The trace context the job's retry is to carry (``tracing``): None when untraced.
    trace_context: dict | None = field(default=None, compare=False)

    @property
    def batchable(self) -> bool:
        """A plain success: can be recorded together with the next claim."""
        return self.outcome == RunOutcome.SUCCEEDED and not (self.logs or self.replacements or self.siblings)
