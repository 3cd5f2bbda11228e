"""
What observability costs one attempt, in this process's CPU time (steady
however busy the machine is, unlike the drain rates of bench/obs_overhead.py):
the worker's Prometheus receivers (``task_started`` and ``task_finished``)
and the attempt's OpenTelemetry span through the SDK to a no-op exporter
(bench/otel_noop.py), each run 20,000 times. No database is touched.

    .venv/bin/python -m bench.obs_hooks
"""

import os
import time
import types


def per_call(block, n):
    """Microseconds of this process's CPU per call of ``block``."""
    started = time.process_time()
    for _ in range(n):
        block()
    return (time.process_time() - started) / n * 1e6


def main(n=20_000):
    os.environ.update(DJANGO_SETTINGS_MODULE="bench.project.settings", BENCH_SYSTEM="ours")
    import django

    django.setup()
    from django.utils import timezone

    import bench.otel_noop  # noqa: F401  # the SDK, a batch processor, an exporter that drops spans
    from bench import jobs
    from django_jobs import tracing
    from django_jobs.compat import TaskResult, TaskResultStatus
    from django_jobs.metrics.worker import WorkerMetrics

    now = timezone.now()
    result = TaskResult(
        task=jobs.noop,
        id="1",
        status=TaskResultStatus.SUCCESSFUL,
        enqueued_at=now,
        started_at=now,
        finished_at=now,
        last_attempted_at=now,
        args=[],
        kwargs={},
        backend="default",
        errors=[],
        worker_ids=["bench"],
    )
    metrics = WorkerMetrics()

    def attempt_counted():
        metrics.on_started(None, result, due_at=now)
        metrics.on_finished(None, result)

    with tracing.enqueue_span("default", jobs.noop.module_path):
        stored = tracing.current_context()
    claimed = types.SimpleNamespace(
        trace_context=stored, queue_name="default", func_path=jobs.noop.module_path, id=1, attempt=1
    )
    ended = types.SimpleNamespace(outcome="succeeded", exception=None, error=None)

    def attempt_traced():
        with tracing.attempt_span(claimed) as span:
            tracing.attempt_ended(span, ended)

    def enqueue_traced():
        with tracing.enqueue_span("default", jobs.noop.module_path) as span:
            tracing.current_context()
            tracing.sent(span, 1)

    for name, block in [
        ("metrics, per attempt", attempt_counted),
        ("tracing, per attempt", attempt_traced),
        ("tracing, per enqueue", enqueue_traced),
    ]:
        per_call(block, n // 10)  # warm up
        print(f"{name:22} {per_call(block, n):6.1f} µs of CPU")


if __name__ == "__main__":
    main()
