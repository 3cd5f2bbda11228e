"""
Jobs django_jobs enqueues for its operators: work too long for one request,
done by a worker in batches, with its progress in the job's live log lines
(``django_jobs.logs(job_id)``, the job's page in the admin).

``retry_matching(spec)`` retries every failed (or cancelled, or expired) job
a filter matches, however many. The filter is a *filter spec*: JSON naming
only the fields below, never raw lookups, so that whoever can enqueue it can
do no more than the admin's own filters do::

    {"state": "failed", "queue": "emails", "task": "myapp.tasks.send",
     "search": "kwargs:user_id=42", "enqueued_after": "2026-12-01T00:00:00+00:00"}
"""

import logging
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError

from . import job_search, queue
from .compat import task
from .exceptions import InvalidJobArguments, InvalidTransition, JobNotFound
from .models import FuncMap, Job
from .transitions import RETRY

#: The job's progress lines. Not under "django_jobs.": those are the worker's own records, which a
#: job's captured lines leave out (logcapture); these are the job's, shown on its page.
logger = logging.getLogger("retry_matching")

#: Jobs retried per batch: one query finds them; each is then retried through the queue service.
BATCH = 1000

#: The filter spec's fields: name -> what it filters on.
SPEC_FIELDS = {
    "state": "the job's state: failed, cancelled or expired (default: failed)",
    "queue": "the queue's name",
    "task": "the task's dotted path",
    "search": "the job list's search: an id, a uniqkey or coalesce value, args:<value> or kwargs:<name>=<value>",
    "enqueued_after": "enqueued at or after this moment (ISO 8601, with its UTC offset)",
    "enqueued_before": "enqueued before this moment",
    "finished_after": "finished at or after this moment",
    "finished_before": "finished before this moment",
}

#: Date fields of the spec -> the lookup each one is.
DATE_LOOKUPS = {
    "enqueued_after": "enqueued_at__gte",
    "enqueued_before": "enqueued_at__lt",
    "finished_after": "finished_at__gte",
    "finished_before": "finished_at__lt",
}


def _moment(name: str, value: Any) -> datetime:
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise InvalidJobArguments(
            f"Filter field {name!r} must be an ISO 8601 moment with its UTC offset "
            f"(e.g. 2026-12-01T00:00:00+00:00), not {value!r}."
        )
    return moment


def check_spec(spec: Any) -> dict[str, Any]:
    """
    The spec, checked: a JSON object of the fields in SPEC_FIELDS, each a
    string of its form; InvalidJobArguments naming the first problem.
    Returns it with ``state`` filled in.
    """
    if not isinstance(spec, dict):
        raise InvalidJobArguments(f"A filter spec is a JSON object, not {type(spec).__name__}.")
    unknown = sorted(set(spec) - set(SPEC_FIELDS))
    if unknown:
        raise InvalidJobArguments(f"Unknown filter field(s) {unknown}; known: {sorted(SPEC_FIELDS)}.")
    for name, value in spec.items():
        if not isinstance(value, str):
            raise InvalidJobArguments(f"Filter field {name!r} must be a string, not {value!r}.")
    spec = {"state": "failed", **spec}
    if spec["state"] not in RETRY.source_list:
        raise InvalidJobArguments(
            f"Only {', '.join(RETRY.source_list)} jobs can be retried, not {spec['state']!r} ones."
        )
    for name in DATE_LOOKUPS:
        if name in spec:
            _moment(name, spec[name])
    return spec


def matching(spec: dict[str, Any], *, using: str):
    """The jobs a checked spec (``check_spec``) matches, as a queryset."""
    jobs = Job.objects.using(using).filter(state=spec["state"])
    if "queue" in spec:
        jobs = jobs.filter(queue_name=spec["queue"])
    if "task" in spec:
        jobs = jobs.filter(func__in=FuncMap.objects.using(using).filter(path=spec["task"]))
    for name, lookup in DATE_LOOKUPS.items():
        if name in spec:
            jobs = jobs.filter(**{lookup: _moment(name, spec[name])})
    if "search" in spec:
        try:
            jobs = job_search.search(jobs, spec["search"], using)
        except ValidationError as e:
            raise InvalidJobArguments(f"Filter field 'search': {e.messages[0]}") from None
    return jobs


def retry_all(spec: dict[str, Any], *, using: str, batch: int = BATCH, between=None) -> dict[str, int]:
    """
    Retry every job ``spec`` matches, ``batch`` at a time, oldest first, each
    through ``queue.retry``. Jobs that fail after it started are left for the
    next run; a job that changed meanwhile is skipped. Logs its progress after
    each batch. ``between()``, if given, is called before each batch (a
    cancelled job raises there). Returns ``{"matched", "retried", "skipped"}``.
    """
    spec = check_spec(spec)
    jobs = matching(spec, using=using)
    last = jobs.order_by("-pk").values_list("pk", flat=True).first()
    if last is None:
        logger.info("No job matches the filter %s: nothing to retry.", spec)
        return {"matched": 0, "retried": 0, "skipped": 0}
    jobs = jobs.filter(pk__lte=last)
    total = jobs.count()
    logger.info("%d jobs match the filter %s: retrying them %d at a time.", total, spec, batch)
    retried = skipped = 0
    after = 0
    while True:
        if between is not None:
            between()
        ids = list(jobs.filter(pk__gt=after).order_by("pk").values_list("pk", flat=True)[:batch])
        if not ids:
            break
        for pk in ids:
            try:
                queue.retry(pk, using=using)
            except (InvalidTransition, JobNotFound):
                skipped += 1
            else:
                retried += 1
        after = ids[-1]
        logger.info("Retried %d of %d jobs (%d skipped: changed meanwhile).", retried, total, skipped)
    return {"matched": retried + skipped, "retried": retried, "skipped": skipped}


@task(takes_context=True)
def retry_matching(context, spec):
    """Retry every job the filter ``spec`` matches (see the module's docstring), in batches; returns the counts."""
    using = context.task_result.task.get_backend().database
    return retry_all(spec, using=using, between=context.raise_if_cancelled)
