"""
The states a job and an attempt can be in. How a job moves between them is
declared in ``transitions``.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

from .compat import TaskResultStatus


class JobState(models.TextChoices):
    #: Enqueued with dependencies not all finished yet (``depends_on``): not due until they are.
    WAITING = "waiting", _("Waiting for dependencies")
    READY = "ready", _("Ready")
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")
    EXPIRED = "expired", _("Expired")


class RunOutcome(models.TextChoices):
    """How one attempt (a JobRun) ended."""

    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    DECLINED = "declined", _("Declined")
    LOST = "lost", _("Lost (worker died or lease expired)")
    RELEASED = "released", _("Released (worker stopped)")
    CANCELLED = "cancelled", _("Cancelled")


#: States from which a job never moves again on its own.
FINISHED_STATES = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.EXPIRED})
#: States in which a job is still wanted (uniqkey holds only among these).
LIVE_STATES = frozenset({JobState.WAITING, JobState.READY, JobState.RUNNING})

TASK_STATUS = {
    JobState.WAITING: TaskResultStatus.READY,
    JobState.READY: TaskResultStatus.READY,
    JobState.RUNNING: TaskResultStatus.RUNNING,
    JobState.SUCCEEDED: TaskResultStatus.SUCCESSFUL,
    JobState.FAILED: TaskResultStatus.FAILED,
    JobState.CANCELLED: TaskResultStatus.FAILED,
    JobState.EXPIRED: TaskResultStatus.FAILED,
}
