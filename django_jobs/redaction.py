"""What displays (the admin, the jobs command) may show of a job's arguments and result."""

from .exceptions import InvalidJobType
from .task import JobTask, resolve_task

REDACTED = "[redacted]"


def is_redacted(path):
    """True if the task at ``path`` asks for its arguments to be kept out of displays."""
    try:
        task = resolve_task(path)
    except InvalidJobType:
        return False
    return isinstance(task, JobTask) and task.redact_args


def displayed(job):
    """``(args, kwargs, return_value)`` of ``job`` as displays may show them."""
    if is_redacted(job.func.path):
        return REDACTED, REDACTED, REDACTED
    return job.args, job.kwargs, job.return_value
