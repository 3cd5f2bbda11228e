"""
The queue's figures from the database, as a Prometheus collector.

Four GROUP BY queries per scrape, each shaped for a partial index
(docs/observability.md gives their plans and cost): ready jobs, running
jobs, failed jobs, each counted per queue, and live workers by state.
"""

from collections import defaultdict

from django.db.models import Count, DurationField, ExpressionWrapper, F, Max, Q
from django.db.models.functions import Now
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ..models import Job, Worker, WorkerState
from ..states import JobState

#: The states of ``django_jobs_queue_jobs``, in the order they are exported.
STATES = ("due", "scheduled", "running", "failed")


def queue_counts(using, queues=()):
    """
    ``({queue: {state: count}}, {queue: oldest due age in seconds})`` from
    the database ``using``. Every queue of ``queues`` is present (zero
    counts), and every queue that has jobs in one of ``STATES``.
    """
    jobs = Job.objects.using(using).order_by()
    # A configured queue without jobs reports zeros.
    counts: defaultdict[str, dict[str, int]] = defaultdict(
        lambda: dict.fromkeys(STATES, 0), {name: dict.fromkeys(STATES, 0) for name in queues}
    )
    oldest: dict[str, float] = {}
    due = Q(run_after__lte=Now())
    age = ExpressionWrapper(Now() - F("run_after"), output_field=DurationField())
    ready = (
        jobs.filter(state=JobState.READY)
        .values("queue_name")
        .annotate(due=Count("pk", filter=due), all=Count("pk"), oldest=Max(age, filter=due))
    )
    for row in ready:
        counts[row["queue_name"]].update(due=row["due"], scheduled=row["all"] - row["due"])
        if row["oldest"] is not None:
            oldest[row["queue_name"]] = max(row["oldest"].total_seconds(), 0.0)
    for state in (JobState.RUNNING, JobState.FAILED):
        for counted in jobs.filter(state=state).values("queue_name").annotate(n=Count("pk")):
            counts[counted["queue_name"]][str(state)] = counted["n"]
    return dict(counts), oldest


class QueueCollector(Collector):
    """Collects ``django_jobs_queue_jobs`` and ``django_jobs_queue_oldest_due_seconds`` at each scrape."""

    def __init__(self, using, queues=()):
        self.using, self.queues = using, sorted(queues)

    def describe(self):
        # Registering calls describe(): answering here keeps it from running the queries.
        return [self._jobs(), self._oldest(), self._workers()]

    def collect(self):
        counts, oldest = queue_counts(self.using, self.queues)
        jobs, oldest_due = self._jobs(), self._oldest()
        for queue_name in sorted(counts):
            for state in STATES:
                jobs.add_metric([queue_name, state], counts[queue_name][state])
            oldest_due.add_metric([queue_name], oldest.get(queue_name, 0.0))
        return [jobs, oldest_due, self._worker_counts()]

    def _worker_counts(self):
        """Live workers (running, stopping) from the worker registry; stopped and gone ones are history."""
        by_status: dict[str, int] = dict.fromkeys([WorkerState.RUNNING.value, WorkerState.STOPPING.value], 0)
        live = Worker.objects.using(self.using).filter(status__in=list(by_status)).order_by()
        for row in live.values("status").annotate(n=Count("pk")):
            by_status[row["status"]] = row["n"]
        workers = self._workers()
        for status, n in by_status.items():
            workers.add_metric([str(status)], n)
        return workers

    @staticmethod
    def _workers():
        return GaugeMetricFamily(
            "django_jobs_workers",
            "Live workers in the worker registry, by state (running, stopping).",
            labels=["state"],
        )

    @staticmethod
    def _jobs():
        return GaugeMetricFamily(
            "django_jobs_queue_jobs",
            "Jobs per queue and state: due (ready to run now), scheduled (ready, run_after in the future), "
            "running, failed (kept until pruned).",
            labels=["queue", "state"],
        )

    @staticmethod
    def _oldest():
        return GaugeMetricFamily(
            "django_jobs_queue_oldest_due_seconds",
            "Seconds the oldest due job of the queue has waited since its run_after (0 when none is due).",
            labels=["queue"],
        )
