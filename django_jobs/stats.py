"""
Read-only figures about the queue: per-queue counts, throughput, workers and
functions. The admin's dashboard shows them; ``manage.py jobs stats`` prints them.

The job table may hold millions of rows, so each query is shaped for one of
the partial indexes of ``Job.Meta.indexes``: ready jobs are read from
``django_jobs_claim_idx``, running ones from ``django_jobs_lease_idx``, recent
finishes from ``django_jobs_finished_idx``. Only the per-queue counts of
finished jobs read every finished row (they are kept for KEEP_FINISHED_FOR);
docs/admin.md gives the figures.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import (
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    Max,
    OuterRef,
    Q,
    Subquery,
)
from django.db.models.functions import Now, Trunc
from django.utils import timezone

from .db import get_ops
from .models import FuncMap, Job, JobRun, Worker, WorkerState
from .states import FINISHED_STATES, JobState

__all__ = [
    "Bucket",
    "FunctionStats",
    "QueueStats",
    "estimated_count",
    "function_stats",
    "queue_stats",
    "throughput",
    "workers",
]


def _age(expression):
    """``now() - expression`` as a duration, on the database's clock."""
    return ExpressionWrapper(Now() - expression, output_field=DurationField())


# -- per queue ---------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueStats:
    """How many jobs of one queue are in each state."""

    name: str
    #: Jobs waiting for their dependencies (``depends_on``): not ready yet.
    waiting: int = 0
    #: Ready jobs: ``due`` (their run_after has come) plus ``scheduled`` (it has not).
    ready: int = 0
    due: int = 0
    scheduled: int = 0
    running: int = 0
    succeeded: int = 0
    failed: int = 0
    cancelled: int = 0
    expired: int = 0
    #: Seconds the oldest due job has waited since its run_after; None if none is due.
    oldest_due_age: float | None = None


def queue_stats(using, queues=None):
    """
    A QueueStats per queue: the names in ``queues`` in that order (queues
    without jobs get zeros), or else every queue that has jobs, by name.
    Four queries: ready jobs, running jobs, waiting jobs, finished jobs.
    """
    jobs = Job.objects.using(using).order_by()
    if queues is not None:
        queues = list(queues)
        jobs = jobs.filter(queue_name__in=queues)
    counts: defaultdict[str, dict[str, Any]] = defaultdict(dict)
    due = Q(run_after__lte=Now())
    ready = (
        jobs.filter(state=JobState.READY)
        .values("queue_name")
        .annotate(ready=Count("pk"), due=Count("pk", filter=due), oldest=Max(_age(F("run_after")), filter=due))
    )
    for row in ready:
        oldest = row["oldest"]
        counts[row["queue_name"]].update(
            ready=row["ready"],
            due=row["due"],
            scheduled=row["ready"] - row["due"],
            oldest_due_age=None if oldest is None else max(oldest.total_seconds(), 0.0),
        )
    # One query a state: each reads its own partial index (running: the lease index; waiting: its own).
    for state in (JobState.RUNNING, JobState.WAITING):
        for queue_name, n in jobs.filter(state=state).values_list("queue_name").annotate(n=Count("pk")):
            counts[queue_name][state] = n
    finished = jobs.filter(state__in=sorted(FINISHED_STATES)).values("queue_name", "state").annotate(n=Count("pk"))
    for done in finished:
        counts[done["queue_name"]][done["state"]] = done["n"]
    names = queues if queues is not None else sorted(counts)
    return [QueueStats(name=name, **counts.get(name, {})) for name in names]


# -- throughput ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bucket:
    """Jobs that finished from ``start`` to ``start`` + the bucket's width."""

    start: datetime
    succeeded: int = 0
    failed: int = 0

    @property
    def total(self):
        return self.succeeded + self.failed


def bucket_starts(since, bucket, until=None):
    """Bucket boundaries from ``since`` (rounded down to a multiple of ``bucket``) to ``until`` (now)."""
    width = bucket.total_seconds()
    if width <= 0:
        raise ValueError("bucket must be a positive duration.")
    until = until or timezone.now()
    first = datetime.fromtimestamp(since.timestamp() // width * width, UTC)
    count = max(int((until - first).total_seconds() // width) + 1, 1)
    return [first + i * bucket for i in range(count)]


def throughput(using, since, bucket=timedelta(minutes=5), queues=None):
    """
    Jobs that succeeded or failed per queue and per ``bucket`` of time, from
    ``since`` to now: {queue name: [Bucket, ...]}, every bucket present, the
    last one still filling. Queues: those in ``queues``, else those with finishes.

    One query, a range scan of ``django_jobs_finished_idx``. (Cancelled and
    expired jobs are not work done, and naming only these two states keeps the
    planner on the index's (state, finished_at) prefix.)
    """
    starts = bucket_starts(since, bucket)
    width = bucket.total_seconds()
    kind = "hour" if width % 3600 == 0 else "minute" if width % 60 == 0 else "second"
    jobs = Job.objects.using(using).order_by()
    if queues is not None:
        queues = list(queues)
        jobs = jobs.filter(queue_name__in=queues)
    rows = (
        jobs.filter(state__in=[JobState.SUCCEEDED, JobState.FAILED], finished_at__gte=starts[0])
        .annotate(at=Trunc("finished_at", kind, tzinfo=UTC))
        .values("queue_name", "state", "at")
        .annotate(n=Count("pk"))
    )
    tallies = {name: [[0, 0] for _ in starts] for name in queues or ()}
    origin = starts[0].timestamp()
    for row in rows:
        index = min(int((row["at"].timestamp() - origin) // width), len(starts) - 1)
        per_bucket = tallies.setdefault(row["queue_name"], [[0, 0] for _ in starts])
        per_bucket[index][row["state"] == JobState.FAILED] += row["n"]
    names = queues if queues is not None else sorted(tallies)
    return {
        name: [Bucket(start, succeeded, failed) for start, (succeeded, failed) in zip(starts, tallies[name])]
        for name in names
    }


# -- workers ----------------------------------------------------------------------------------


#: Workers that stopped or were found gone within this long are still listed.
RECENTLY_ENDED = timedelta(hours=1)


def workers(using, *, ended_within=RECENTLY_ENDED):
    """
    The worker registry as operators read it: every live worker (running or
    stopping), then those that stopped or were found gone within
    ``ended_within``, latest first. One query on the Worker table.
    """
    return list(
        Worker.objects.using(using)
        .filter(Q(status__in=[WorkerState.RUNNING, WorkerState.STOPPING]) | Q(stopped_at__gte=Now() - ended_within))
        .order_by(F("stopped_at").desc(nulls_first=True), "-started_at", "worker_id")
    )


# -- functions ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FunctionStats:
    """A job function's ready, running and failed (still kept) jobs, and its latest failure."""

    func_id: int
    ready: int = 0
    running: int = 0
    failed: int = 0
    last_failure: datetime | None = None
    last_failure_job_id: int | None = None
    #: "ExceptionClass: message" of that job's last failed attempt.
    last_error: str = ""


def error_text(exception_class_path, message):
    """'builtins.ValueError', 'boom' -> 'ValueError: boom'."""
    name = (exception_class_path or "").rpartition(".")[2]
    return ": ".join(part for part in (name, message or "") if part)


def last_error_subqueries():
    """Annotations with the exception class and message of a job's latest attempt that recorded one."""
    runs = JobRun.objects.filter(job=OuterRef("pk")).exclude(exception_class_path="").order_by("-attempt")
    return {
        "last_error_class": Subquery(runs.values("exception_class_path")[:1]),
        "last_error_message": Subquery(runs.values("message")[:1]),
    }


def last_errors(using, job_ids):
    """
    {job_id: "ExceptionClass: message"} of each job's latest attempt that
    recorded an error, for a page of jobs: one query on the (job, attempt)
    unique index. (As subqueries of the page's query they would also run for
    every row an OFFSET skips.)
    """
    errors: dict[int, str] = {}
    runs = (
        JobRun.objects.using(using)
        .filter(job_id__in=list(job_ids))
        .exclude(exception_class_path="")
        .order_by("job_id", "-attempt")
        .values_list("job_id", "exception_class_path", "message")
    )
    for job_id, exception_class_path, message in runs:
        errors.setdefault(job_id, error_text(exception_class_path, message))
    return errors


def function_stats(using, func_ids):
    """
    {func_id: FunctionStats} for these functions (those without jobs are left
    out). Two queries: counts of the ready, running and failed jobs (the
    partial indexes of those states), and the latest failed job of each.
    Succeeded jobs are not counted: that would read most of the table.
    """
    func_ids = list(func_ids)
    if not func_ids:
        return {}
    counts: defaultdict[int, dict[str, Any]] = defaultdict(dict)
    rows = (
        Job.objects.using(using)
        .order_by()
        .filter(Q(state=JobState.READY) | Q(state=JobState.RUNNING) | Q(state=JobState.FAILED), func_id__in=func_ids)
        .values("func_id", "state")
        .annotate(n=Count("pk"))
    )
    for row in rows:
        counts[row["func_id"]][row["state"]] = row["n"]
    failing = [func_id for func_id, values in counts.items() if values.get("failed")]
    if failing:
        # The latest failure of each function is picked inside the database: a
        # timestamp read back and compared again can differ from the stored one
        # in precision (SQLite stores text), and then match nothing.
        latest = (
            Job.objects.filter(func_id=OuterRef("pk"), state=JobState.FAILED, finished_at__isnull=False)
            .order_by("-finished_at", "-pk")
            .values("pk")[:1]
        )
        failures = (
            Job.objects.using(using)
            .filter(pk__in=FuncMap.objects.filter(pk__in=failing).values(latest_pk=Subquery(latest)))
            .annotate(**last_error_subqueries())
            # The annotations come as **kwargs: django-stubs cannot see their names.
            .values("pk", "func_id", "finished_at", "last_error_class", "last_error_message")  # type: ignore[misc]
        )
        for failure in failures:
            counts[failure["func_id"]].update(
                last_failure_job_id=failure["pk"],
                last_failure=failure["finished_at"],
                last_error=error_text(failure["last_error_class"], failure["last_error_message"]),
            )
    return {func_id: FunctionStats(func_id=func_id, **values) for func_id, values in counts.items()}


# -- counting without counting -------------------------------------------------------------------

#: Up to this many rows are counted exactly (cheap, and small numbers are read closely).
EXACT_BELOW = 1000


def planner_estimate(queryset):
    """The database planner's estimate of the rows ``queryset`` matches, or None if its database gives none."""
    return get_ops(queryset.db).estimated_rows(queryset)


def estimated_count(queryset, exact_below=None):
    """
    ``(count, exact)`` for ``queryset``. The rows are counted up to
    ``exact_below`` (a bounded cost); past that, the planner's estimate (on
    PostgreSQL, from the table's statistics) stands in for a full COUNT.
    Counting first keeps small tables exact even when the statistics are stale.
    A database without estimates (SQLite) counts every row.
    """
    if exact_below is None:
        exact_below = EXACT_BELOW
    counted = queryset.order_by().values("pk")[:exact_below].count()
    if counted < exact_below:
        return counted, True
    estimate = planner_estimate(queryset)
    if estimate is None:
        return queryset.count(), True
    return max(estimate, counted), False
