"""
One worker process's attempts, as Prometheus metrics (``runworker --metrics-port``).

Driven by Django's task signals, which the worker sends with each attempt's
TaskResult: ``task_started`` when an attempt starts, ``task_finished`` once
its outcome is recorded. No hook in the worker loop is needed, and nothing
is counted unless the receivers are connected.

With ``--processes`` the attempts run, and their signals are sent, in child
processes: this process sees none of them (docs/observability.md).
"""

import threading
import time

from django.db.models import F
from django.db.models.functions import Greatest
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

from ..compat import TaskResultStatus, task_backends, task_finished, task_started
from ..models import Job

#: Seconds: from a few milliseconds (a busy worker's pickup, a short job) to an hour.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, float("inf"))
#: Attempts started and not (yet) finished that are remembered; a start whose
#: finish never comes (its outcome dropped) is forgotten past this many.
MAX_IN_FLIGHT = 10_000


class WorkerMetrics:
    """The counters of one worker process, in ``registry`` (a fresh one unless given)."""

    def __init__(self, registry=None):
        self.registry = registry if registry is not None else CollectorRegistry()
        self.attempts = Counter(
            "django_jobs_attempts",
            "Attempts this worker finished, by outcome: succeeded, failed, retried (failed, to run again), declined.",
            ["queue", "task", "outcome"],
            registry=self.registry,
        )
        self.pickup = Histogram(
            "django_jobs_pickup_seconds",
            "Seconds from a job being due (the later of its enqueue and its run_after) to its attempt starting.",
            ["queue"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.run = Histogram(
            "django_jobs_run_seconds",
            "Seconds from an attempt starting to its outcome being recorded.",
            ["queue", "task"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self._started: dict[str, tuple[float, int]] = {}  # job id -> (monotonic start, errors at start)
        self._lock = threading.Lock()

    def connect(self):
        """Count from now on; the signals hold this object (strongly) until ``disconnect()``."""
        task_started.connect(self.on_started, weak=False, dispatch_uid=f"django_jobs.metrics.{id(self)}")
        task_finished.connect(self.on_finished, weak=False, dispatch_uid=f"django_jobs.metrics.{id(self)}")

    def disconnect(self):
        task_started.disconnect(dispatch_uid=f"django_jobs.metrics.{id(self)}")
        task_finished.disconnect(dispatch_uid=f"django_jobs.metrics.{id(self)}")

    def on_started(self, sender, task_result, **kwargs):
        with self._lock:
            self._started[task_result.id] = (time.monotonic(), len(task_result.errors))
            while len(self._started) > MAX_IN_FLIGHT:
                del self._started[next(iter(self._started))]
        waited = self._pickup(task_result, kwargs.get("due_at"))
        if waited is not None:
            self.pickup.labels(task_result.task.queue_name).observe(waited)

    def on_finished(self, sender, task_result, **kwargs):
        with self._lock:
            started = self._started.pop(task_result.id, None)
        task = task_result.task
        errors_at_start = started[1] if started else len(task_result.errors)
        self.attempts.labels(task.queue_name, task.module_path, outcome(task_result, errors_at_start)).inc()
        if started is not None:
            self.run.labels(task.queue_name, task.module_path).observe(time.monotonic() - started[0])

    @staticmethod
    def _pickup(task_result, due=None):
        """
        Seconds from due to start, on the database's clock: ``due`` as django_jobs'
        worker sends it with ``task_started``, else one primary-key read of the job.
        """
        database = getattr(task_backends[task_result.backend], "database", None)
        if database is None:  # not a django_jobs backend
            return None
        if due is None:
            due = (
                Job.objects.using(database)
                .filter(pk=task_result.id)
                .values_list(Greatest(F("enqueued_at"), F("run_after")), flat=True)
                .first()
            )
        if due is None or task_result.started_at is None:
            return None
        return max((task_result.started_at - due).total_seconds(), 0.0)


def outcome(task_result, errors_at_start):
    """The ``outcome`` label of a finished attempt."""
    if task_result.status == TaskResultStatus.SUCCESSFUL:
        return "succeeded"
    if task_result.status == TaskResultStatus.FAILED:
        return "failed"
    return "retried" if len(task_result.errors) > errors_at_start else "declined"


def serve(port, addr="127.0.0.1"):
    """Count this process's attempts and serve them at ``http://addr:port/metrics``; returns the WorkerMetrics."""
    metrics = WorkerMetrics()
    start_http_server(port, addr=addr, registry=metrics.registry)
    metrics.connect()
    return metrics
