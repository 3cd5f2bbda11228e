"""
The worker's log records about one attempt, with the attempt as record
attributes, so that a JSON formatter, a log pipeline or Sentry's logging
integration can group and search them without parsing the message:

* every record: ``job_id``, ``task`` (the function's dotted path), ``queue``,
  ``attempt`` (counted from 1) and ``worker_id``;
* the line that says how the attempt ended, also ``outcome`` (``succeeded``,
  ``failed``, ``retrying``, ``declined``, ``dropped`` or ``cancelled``) and ``duration``
  (seconds). A failed attempt is logged at ERROR with ``exc_info``: the
  exception the job raised, with its traceback.

See "Structured logs" in docs/observability.md.
"""

import logging

from .states import RunOutcome

logger = logging.getLogger("django_jobs.worker")


def job_fields(claimed) -> dict:
    """The record attributes (``extra=``) naming one attempt of a claimed job."""
    return {
        "job_id": claimed.id,
        "task": claimed.func_path,
        "queue": claimed.queue_name,
        "attempt": claimed.attempt,
        "worker_id": claimed.worker_id,
    }


def log_started(claimed):
    logger.info(
        "Job %s %s attempt %s started", claimed.id, claimed.func_path, claimed.attempt, extra=job_fields(claimed)
    )


def outcome_of(report, transition) -> str:
    """One word for how the attempt ended, as the ``outcome`` attribute gives it."""
    if transition is None:
        return "dropped"
    if report.outcome == RunOutcome.FAILED:
        return "retrying" if getattr(transition, "name", None) == "retry_later" else "failed"
    return str(report.outcome.value)


def log_outcome(report, transition, description, duration, where=""):
    """
    The line saying how an attempt ended (``description``: words for people).
    A failure is an ERROR with the job's exception and traceback, when the
    runner has it; a retry is a failure too.
    """
    claimed = report.claimed
    outcome = outcome_of(report, transition)
    failed = outcome in ("failed", "retrying")
    exception = report.exception if failed else None
    logger.log(
        logging.ERROR if failed else logging.INFO,
        "Job %s %s attempt %s %s in %.3fs%s",
        claimed.id,
        claimed.func_path,
        claimed.attempt,
        description,
        duration,
        where,
        exc_info=(type(exception), exception, exception.__traceback__) if exception is not None else None,
        extra={**job_fields(claimed), "outcome": outcome, "duration": duration},
    )
