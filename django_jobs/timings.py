"""
How long finished jobs waited and ran: pick-up latency (from when a job was
due, its ``run_after``, to when its last attempt started) at the 50th and
95th percentiles, and run time (its last attempt, start to finish) at the
95th, per queue and per task, over the jobs that succeeded or failed since a
moment. The dashboard charts them; ``dashboard/data/`` serves them as JSON.

Percentiles come from histograms, as Prometheus computes them: each duration
falls in a bucket 12% wide (``BUCKETS_PER_DECADE`` to a factor of ten), and a
percentile is the middle of the bucket it lands in, so a figure is within 6%
of the exact one. The database adds up the buckets: PostgreSQL returns a few
thousand rows (queue, task, bucket, count) whatever the number of jobs, two
hash aggregates over the range scan of ``django_jobs_timings_idx``
(``docs/admin.md`` gives the cost at 1,000,000 jobs). SQLite, for small
sites, returns each job's three moments and Python counts them.

A job that waited for its dependencies counts that wait as latency: its
``run_after`` is when it was enqueued.
"""

import math
from collections import Counter, defaultdict
from dataclasses import dataclass

from django.db import connections

from .models import FuncMap, Job
from .states import JobState

#: Histogram buckets per factor of ten: each bucket is 10 ** (1/20) = 1.122 times the one before.
BUCKETS_PER_DECADE = 20
#: Durations below a millisecond (and clock skew's negative ones) count as one millisecond.
SHORTEST = 0.001

#: The states whose jobs are timed: they ran (cancelled and expired ones may not have).
TIMED_STATES = sorted([JobState.FAILED, JobState.SUCCEEDED])


@dataclass(frozen=True)
class Timing:
    """The timings of one queue's or one task's jobs, in seconds (None: no job)."""

    name: str
    jobs: int
    latency_p50: float | None
    latency_p95: float | None
    run_p95: float | None


def bucket_of(seconds):
    """The histogram bucket of a duration in seconds."""
    return math.floor(BUCKETS_PER_DECADE * math.log10(max(seconds, SHORTEST)))


def middle_of(bucket):
    """The duration a bucket stands for: its geometric middle (SHORTEST for the lowest)."""
    if bucket <= bucket_of(SHORTEST):
        return SHORTEST
    return 10 ** ((bucket + 0.5) / BUCKETS_PER_DECADE)


def percentile(histogram, fraction):
    """The ``fraction`` percentile (0.95) of a histogram ``{bucket: count}``, or None if it is empty."""
    total = sum(histogram.values())
    if not total:
        return None
    rank = math.ceil(fraction * total)
    seen = 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen >= rank:
            return middle_of(bucket)
    raise AssertionError("unreachable: the last bucket reaches the total")


#: The two histograms of PostgreSQL, per queue and function: ``%(duration)s`` is the duration's SQL.
HISTOGRAM_SQL = """
SELECT queue_name, func_id,
       floor(%(per_decade)s * log(greatest(extract(epoch FROM %(duration)s)::float8, %(shortest)s)))::int,
       count(*)
FROM django_jobs_job
WHERE state IN (%(states)s) AND finished_at >= %%s AND last_attempted_at IS NOT NULL
GROUP BY 1, 2, 3
"""
LATENCY = "last_attempted_at - run_after"
RUN_TIME = "finished_at - last_attempted_at"


def _histograms_postgresql(using, since):
    """{(queue, func_id): (latency histogram, run time histogram)}, added up by PostgreSQL."""
    found: dict[tuple[str, int], tuple[Counter, Counter]] = defaultdict(lambda: (Counter(), Counter()))
    states = ", ".join(f"'{state}'" for state in TIMED_STATES)  # constants of JobState
    with connections[using].cursor() as cursor:
        for which, duration in enumerate((LATENCY, RUN_TIME)):
            sql = HISTOGRAM_SQL % {
                "per_decade": BUCKETS_PER_DECADE,
                "shortest": SHORTEST,
                "duration": duration,
                "states": states,
            }
            cursor.execute(sql, [since])
            for queue_name, func_id, bucket, count in cursor.fetchall():
                found[queue_name, func_id][which][bucket] += count
    return found


def _histograms_python(using, since):
    """The same, counted here from each job's moments (SQLite)."""
    found: dict[tuple[str, int], tuple[Counter, Counter]] = defaultdict(lambda: (Counter(), Counter()))
    rows = (
        Job.objects.using(using)
        .order_by()
        .filter(state__in=TIMED_STATES, finished_at__gte=since, last_attempted_at__isnull=False)
        .values_list("queue_name", "func_id", "run_after", "last_attempted_at", "finished_at")
    )
    for queue_name, func_id, run_after, started, finished in rows.iterator():
        assert started is not None and finished is not None  # the filter says so; mypy cannot see it
        latency, run_time = found[queue_name, func_id]
        latency[bucket_of((started - run_after).total_seconds())] += 1
        run_time[bucket_of((finished - started).total_seconds())] += 1
    return found


def _timing(name, latency, run_time):
    return Timing(
        name=name,
        jobs=sum(latency.values()),
        latency_p50=percentile(latency, 0.5),
        latency_p95=percentile(latency, 0.95),
        run_p95=percentile(run_time, 0.95),
    )


def timings(using, since):
    """
    ``{"queues": [Timing, ...], "tasks": [Timing, ...]}`` for the jobs that
    succeeded or failed since ``since``, each list by name.
    """
    if connections[using].vendor == "postgresql":
        found = _histograms_postgresql(using, since)
    else:
        found = _histograms_python(using, since)
    paths = dict(FuncMap.objects.using(using).filter(pk__in={f for _q, f in found}).values_list("pk", "path"))
    per_queue: dict[str, tuple[Counter, Counter]] = defaultdict(lambda: (Counter(), Counter()))
    per_task: dict[str, tuple[Counter, Counter]] = defaultdict(lambda: (Counter(), Counter()))
    for (queue_name, func_id), (latency, run_time) in found.items():
        for group in (per_queue[queue_name], per_task[paths.get(func_id, str(func_id))]):
            group[0].update(latency)
            group[1].update(run_time)
    return {
        "queues": [_timing(name, *per_queue[name]) for name in sorted(per_queue)],
        "tasks": [_timing(name, *per_task[name]) for name in sorted(per_task)],
    }
