"""What displays (the admin, the jobs command) may show of a job's arguments and result."""

from .task import JobTask, resolve_task


class Redacted(str):
    """What a display shows instead of a value kept out of it: ``[redacted]``, or ``[redacted: why]``."""


REDACTED = Redacted("[redacted]")


def redaction(path):
    """
    None if displays may show the arguments of the task at ``path``, else the
    Redacted text to show instead. Fails closed: when the task cannot be
    resolved (its code was removed, renamed, or fails to import), nobody can
    tell whether it asked for redaction, so its arguments are redacted too.
    """
    try:
        task = resolve_task(path)
    except Exception as e:  # any failure to import the task: unknown, so redacted
        return Redacted(f"[redacted: {e}]")
    if isinstance(task, JobTask) and task.redact_args:
        return REDACTED
    return None


def is_redacted(path):
    """True if the arguments of the task at ``path`` are kept out of displays."""
    return redaction(path) is not None


def displayed(job):
    """``(args, kwargs, return_value)`` of ``job`` as displays may show them."""
    redacted = redaction(job.func.path)
    if redacted is not None:
        return redacted, redacted, redacted
    return job.args, job.kwargs, job.return_value
