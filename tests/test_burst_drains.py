"""
A burst worker runs every job that is due before it exits, whatever the jobs' length: once the
attempts it holds are recorded, it looks for more before deciding there is nothing left.
"""

import threading

import pytest
from django.db import connection, connections, transaction

import django_jobs
from django_jobs import queue
from django_jobs.models import Job
from django_jobs.states import JobState
from tests.conftest import drain
from tests.testapp import jobs

pytestmark = pytest.mark.django_db(transaction=True)


def test_jobs_longer_than_the_prefetch_window_all_run_one_slot():
    # 0.1 s jobs on one slot: nothing is claimed ahead (PREFETCH_WAIT), so each batch of
    # successes is recorded with no slot free to claim for at that moment.
    for _ in range(3):
        jobs.slow.enqueue(0.1)
    drain(concurrency=1)
    assert Job.objects.filter(state=JobState.SUCCEEDED).count() == 3


def test_jobs_longer_than_the_prefetch_window_all_run_two_slots():
    for _ in range(5):
        jobs.slow.enqueue(0.15)
    drain(concurrency=2)
    assert Job.objects.filter(state=JobState.SUCCEEDED).count() == 5


@pytest.mark.skipif(connection.vendor == "sqlite", reason="SQLite has no row locks to skip")
def test_a_due_job_locked_for_a_moment_still_runs(monkeypatch):
    """The worker's first claim skips the job another transaction holds; it looks again before exiting."""
    job_id = int(jobs.add.enqueue(1, 2).id)
    locked, release, released = threading.Event(), threading.Event(), threading.Event()

    def hold_the_row():
        with transaction.atomic():
            list(Job.objects.select_for_update().filter(pk=job_id))
            locked.set()
            release.wait(10)
        connections["default"].close()
        released.set()

    real = queue.complete_and_claim

    def claim_then_release(*args, **kwargs):
        recorded, claimed = real(*args, **kwargs)
        release.set()  # after the first claim, which skipped the locked job
        released.wait(10)
        return recorded, claimed

    thread = threading.Thread(target=hold_the_row)
    thread.start()
    locked.wait(10)
    monkeypatch.setattr(queue, "complete_and_claim", claim_then_release)
    drain(concurrency=1)
    thread.join(10)
    assert Job.objects.get(pk=job_id).state == JobState.SUCCEEDED


def test_short_jobs_are_claimed_in_batches_beyond_eight_per_slot(monkeypatch):
    """
    Short jobs are claimed ahead (PREFETCH, default 32 per slot; as many as start within
    50 ms), so one commit records and claims batches of dozens: the drain's main cost.
    """
    for _ in range(4):
        django_jobs.enqueue_many([(jobs.add, (1, 2))] * 100)
    real, batches = queue.complete_and_claim, []

    def counted(succeeded, **options):
        recorded, claimed = real(succeeded, **options)
        batches.append(len(claimed))
        return recorded, claimed

    monkeypatch.setattr(queue, "complete_and_claim", counted)
    drain(concurrency=1)
    assert max(batches) > 9  # the former default: 8 ahead of the one slot
