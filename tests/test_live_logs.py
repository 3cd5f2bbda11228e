"""A running job's log lines are stored while it runs (a real runworker), and kept when it is cancelled."""

import time

import pytest

import django_jobs
from django_jobs.models import Job
from django_jobs.states import JobState
from tests.conftest import wait_until
from tests.testapp import obs_jobs

pytestmark = pytest.mark.django_db(transaction=True)


def messages(job_id):
    return [line.message for line in django_jobs.logs(job_id)]


@pytest.fixture
def running(workers):
    """A job that logged two lines and waits for its cancel, on a runworker; (job id, seconds to see the lines)."""
    job_id = obs_jobs.logs_then_waits_for_cancel.enqueue().id
    workers.start("--concurrency", "1")
    wait_until(lambda: Job.objects.get(pk=job_id).state == JobState.RUNNING, message="the job to start")
    started = time.monotonic()
    wait_until(lambda: len(messages(job_id)) == 2, timeout=10, interval=0.02, message="its log lines")
    return job_id, time.monotonic() - started


def test_a_running_jobs_lines_are_readable_within_two_seconds(running):
    _, took = running
    assert took < 2.0


def test_they_are_read_while_it_still_runs(running):
    job_id, _ = running
    assert Job.objects.get(pk=job_id).state == JobState.RUNNING


def test_they_are_its_lines_in_order(running):
    job_id, _ = running
    assert messages(job_id) == ["first line, logged", "second line, printed"]


def test_a_cancelled_jobs_lines_are_kept(running):
    job_id, _ = running
    django_jobs.cancel(job_id)
    wait_until(lambda: Job.objects.get(pk=job_id).runs.get().outcome != "running", message="the attempt to end")
    assert messages(job_id) == ["first line, logged", "second line, printed"]
