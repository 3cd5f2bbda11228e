"""
Exceptions: the errors django_jobs raises to its callers (a job not found, an
invalid task or arguments, a transition a job's state does not allow…) and
the two a job may raise to steer its own outcome (Decline, PermanentFailure).
"""

from datetime import datetime

from .compat import InvalidTask, TaskResultDoesNotExist


class JobsError(Exception):
    """Base class of django_jobs' errors."""


class JobNotFound(JobsError, TaskResultDoesNotExist):
    """No job has that id."""


class DatabaseUnavailable(JobsError):
    """The database a job must go to (of a backend with several DATABASES) cannot be reached."""


class JobNotClaimed(JobsError):
    """The job is not (or no longer) claimed by this attempt: its lease was taken back."""


class JobCancelled(JobsError):
    """The job was cancelled."""


class InvalidJobType(JobsError, InvalidTask):
    """The function is not a registered, importable task."""


class QueueNotFound(JobsError, InvalidTask):
    """The queue is not one of the backend's QUEUES."""


class InvalidJobArguments(JobsError, InvalidTask, ValueError):
    """The arguments cannot be stored (not JSON) or do not fit the function."""


class ArgumentsNotJSON(InvalidJobArguments, TypeError):
    """
    A value to store is not JSON: a TypeError, as Django's Tasks raise for
    arguments they cannot serialize (and still an InvalidJobArguments).
    """


class InvalidTransition(JobsError):
    """The job is not in a state the requested change may start from."""


class DependencyNotRetried(InvalidTransition):
    """
    A job of a workflow cannot be retried while a job it depends on is failed,
    cancelled or expired (it could never run): retry that one first.
    """


class QueueNotCleared(JobsError):
    """
    ``clear_queue`` gave up: the database stayed locked. ``deleted`` jobs are
    gone for good, ``left`` (None if they could not be counted) remain, and
    calling it again continues.
    """

    def __init__(self, queue_name: str, deleted: int, left: int | None, reason: str) -> None:
        self.queue_name, self.deleted, self.left = queue_name, deleted, left
        remaining = "an unknown number" if left is None else str(left)
        super().__init__(
            f"Deleted {deleted} waiting job(s) from queue {queue_name}, then gave up: {reason}. "
            f"{remaining} waiting job(s) are left; run it again to continue."
        )


class DependencyFailed(JobsError):
    """Recorded on a job cancelled because a job it depends on failed for good, was cancelled or expired."""


class WorkerLost(JobsError):
    """Recorded on an attempt whose worker stopped renewing its lease."""


class JobTimeout(JobsError):
    """Recorded on an attempt killed for overrunning its max_work_duration."""


class Decline(Exception):
    """
    Raised by a job: not now. The job goes back to the queue without spending
    an attempt, to run again after ``run_after`` (a datetime, or seconds).
    """

    def __init__(self, run_after: datetime | float | None = None) -> None:
        self.run_after = run_after
        super().__init__("declined")


class PermanentFailure(Exception):
    """Raised by a job: fail now, with no further retries."""

    def __init__(self, message: str = "", exit_status: int = 1) -> None:
        self.exit_status = exit_status
        super().__init__(message)
