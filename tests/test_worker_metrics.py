"""runworker --metrics-port: one worker's attempts as Prometheus metrics, from the task signals."""

import signal
import socket
import urllib.request
from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from django_jobs.compat import task_started
from django_jobs.metrics.worker import WorkerMetrics
from django_jobs.models import Job
from tests.conftest import drain, wait_until
from tests.testapp import jobs

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def metrics():
    metrics = WorkerMetrics()
    metrics.connect()
    yield metrics
    metrics.disconnect()


def value(metrics, name, **labels):
    return metrics.registry.get_sample_value(name, labels)


def test_a_succeeded_attempt_is_counted(metrics):
    jobs.add.enqueue(1, 2)
    drain()
    assert (
        value(
            metrics, "django_jobs_attempts_total", queue="default", task="tests.testapp.jobs.add", outcome="succeeded"
        )
        == 1
    )


def test_a_failed_attempt_is_counted(metrics):
    jobs.boom.enqueue()
    drain()
    assert (
        value(metrics, "django_jobs_attempts_total", queue="default", task="tests.testapp.jobs.boom", outcome="failed")
        == 1
    )


def test_a_failed_attempt_that_will_run_again_is_counted_as_retried(metrics):
    jobs.flaky.using(max_attempts=2).enqueue(5)  # retried once, then failed: however fast the rounds run
    drain(rounds=3)
    assert (
        value(
            metrics, "django_jobs_attempts_total", queue="default", task="tests.testapp.jobs.flaky", outcome="retried"
        )
        == 1
    )


def test_each_attempts_run_time_is_observed(metrics):
    jobs.add.enqueue(1, 2)
    drain()
    assert value(metrics, "django_jobs_run_seconds_count", queue="default", task="tests.testapp.jobs.add") == 1


def test_pickup_counts_from_run_after_when_it_is_later_than_the_enqueue(metrics):
    jobs.add.using(run_after=timezone.now() + timedelta(seconds=1)).enqueue(1, 2)
    wait_until(lambda: drain() or value(metrics, "django_jobs_pickup_seconds_count", queue="default"), timeout=10)
    assert value(metrics, "django_jobs_pickup_seconds_sum", queue="default") < 1


def test_pickup_counts_from_the_enqueue_when_run_after_is_earlier(metrics):
    jobs.add.using(run_after=timezone.now() - timedelta(hours=1)).enqueue(1, 2)
    drain()
    assert value(metrics, "django_jobs_pickup_seconds_sum", queue="default") < 60


@pytest.fixture
def due_ats():
    """The ``due_at`` each task_started signal carried, by job id."""
    seen = {}

    def receiver(sender, task_result, due_at=None, **kwargs):
        seen[task_result.id] = due_at

    task_started.connect(receiver, weak=False, dispatch_uid="test-due-at")
    yield seen
    task_started.disconnect(dispatch_uid="test-due-at")


def test_task_started_carries_when_the_job_became_due_so_pickup_needs_no_query(due_ats):
    """The worker knows it from its claim: the pickup histogram reads no row per attempt."""
    later = timezone.now() + timedelta(milliseconds=300)
    job_id = jobs.add.using(run_after=later).enqueue(1, 2).id
    wait_until(lambda: drain() or job_id in due_ats, timeout=10)
    assert due_ats[job_id] == Job.objects.get(pk=job_id).run_after


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(port):
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # not through an http_proxy
    with direct.open(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def succeeded_adds(port):
    try:
        samples = scrape(port)
    except OSError:  # not listening yet
        return 0
    labels = frozenset({"queue": "default", "task": "tests.testapp.jobs.add", "outcome": "succeeded"}.items())
    return samples.get(("django_jobs_attempts_total", labels), 0)


@pytest.mark.slow
def test_runworker_serves_its_attempts_at_metrics_port(workers):
    port = free_port()
    jobs.add.enqueue(1, 2)
    proc = workers.start("--metrics-port", str(port))
    try:
        wait_until(lambda: succeeded_adds(port) > 0, timeout=30, message="the attempt on /metrics")
        assert succeeded_adds(port) == 1, workers.output(proc)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)


def test_a_metrics_port_out_of_range_is_refused(workers):
    proc = workers.burst("--metrics-port", "70000")
    assert "--metrics-port must be from 1 to 65535" in proc.stderr
