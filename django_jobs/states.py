"""
The job state machine.

Every change of a job's state goes through one of the events below, and the
queue service performs each as a single guarded UPDATE whose WHERE clause
names the states the event may start from. Two workers racing for the same
transition therefore cannot both win: the second UPDATE matches no row.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

from .compat import TaskResultStatus


class JobState(models.TextChoices):
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
LIVE_STATES = frozenset({JobState.READY, JobState.RUNNING})

#: event -> (states it may start from, state it leads to). ``None`` as the
#: target means the service picks between ready and failed (attempts left?).
TRANSITIONS = {
    "claim": ({JobState.READY}, JobState.RUNNING),
    "complete": ({JobState.RUNNING}, JobState.SUCCEEDED),
    "retry_later": ({JobState.RUNNING}, JobState.READY),
    "fail": ({JobState.RUNNING}, JobState.FAILED),
    "decline": ({JobState.RUNNING}, JobState.READY),
    "release": ({JobState.RUNNING}, JobState.READY),
    "rescue": ({JobState.RUNNING}, None),
    "cancel": ({JobState.READY, JobState.RUNNING}, JobState.CANCELLED),
    "expire": ({JobState.READY}, JobState.EXPIRED),
    "retry": ({JobState.FAILED, JobState.CANCELLED, JobState.EXPIRED}, JobState.READY),
}


def sources(event):
    """The states ``event`` may start from (used in guarded UPDATEs)."""
    return sorted(TRANSITIONS[event][0])


def target(event):
    return TRANSITIONS[event][1]


TASK_STATUS = {
    JobState.READY: TaskResultStatus.READY,
    JobState.RUNNING: TaskResultStatus.RUNNING,
    JobState.SUCCEEDED: TaskResultStatus.SUCCESSFUL,
    JobState.FAILED: TaskResultStatus.FAILED,
    JobState.CANCELLED: TaskResultStatus.FAILED,
    JobState.EXPIRED: TaskResultStatus.FAILED,
}
