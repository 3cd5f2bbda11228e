"""
At-least-once with Django's defaults: an attempt lost with its worker does not
spend the job's attempts, a dead worker is found through the registry and its
attempts are rescued at once, and a job that keeps killing its worker fails.
"""

import os
import signal
import socket
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.utils import timezone

from django_jobs import queue
from django_jobs.models import Job, JobRun, Worker, WorkerState
from django_jobs.states import JobState, RunOutcome
from tests.conftest import DIRECT, wait_until
from tests.factories import JobFactory
from tests.testapp import jobs
from tests.testapp.models import Execution

pytestmark = pytest.mark.django_db
LEASE = timedelta(seconds=30)


def claim(worker="w1", lease=LEASE):
    return queue.claim(worker_id=worker, queues=None, limit=10, lease=lease, using="default")


def lose(worker="w1"):
    """Claim the job as ``worker`` with a lease already run out, and let the scheduler rescue it."""
    (claimed,) = claim(worker, lease=timedelta(seconds=-1))
    assert queue.rescue_expired(using="default") == 1
    return claimed


def test_a_lost_attempt_with_default_max_attempts_runs_again():
    JobFactory()  # max_attempts 1, Django's default
    lose()
    assert Job.objects.get().state == JobState.READY


def test_a_lost_attempt_gives_its_attempt_back():
    JobFactory()
    lose()
    assert Job.objects.get().attempts_left == 1


def test_a_lost_attempt_is_recorded_as_lost_with_worker_lost():
    JobFactory()
    lose("dead")
    run = JobRun.objects.get()
    assert (run.outcome, run.exception_class_path) == (RunOutcome.LOST, "django_jobs.exceptions.WorkerLost")


def test_a_job_lost_max_lost_attempts_times_fails():
    JobFactory()
    for worker in ("a", "b", "c"):
        lose(worker)
    job = Job.objects.get()
    assert (job.state, job.lost_attempts) == (JobState.FAILED, 3)


def test_the_last_loss_says_why_the_job_failed():
    JobFactory()
    for worker in ("a", "b", "c"):
        lose(worker)
    assert "lost 3 times" in JobRun.objects.get(attempt=3).message


def test_an_overrun_of_max_work_duration_spends_the_attempt():
    JobFactory(max_work_duration=timedelta(seconds=1))
    claim(lease=timedelta(seconds=-1))
    Job.objects.update(last_attempted_at=timezone.now() - timedelta(seconds=5))
    queue.rescue_expired(using="default")
    job = Job.objects.get()
    assert (job.state, job.runs.get().exception_class_path) == (JobState.FAILED, "django_jobs.exceptions.JobTimeout")


def test_retry_resets_the_losses():
    JobFactory()
    for worker in ("a", "b", "c"):
        lose(worker)
    queue.retry(Job.objects.get().pk, using="default")
    assert Job.objects.get().lost_attempts == 0


# -- the worker registry -------------------------------------------------------------------------


def register(worker_id="w1", host="elsewhere", pid=1):
    return queue.register(
        worker_id=worker_id, backend="default", host=host, pid=pid, queues=None, concurrency=2, using="default"
    )


def go_quiet(worker_id, seconds=10):
    Worker.objects.filter(worker_id=worker_id).update(last_heartbeat=timezone.now() - timedelta(seconds=seconds))


def test_a_worker_without_heartbeat_is_found_dead_and_its_attempt_rescued():
    register("w1")
    JobFactory()
    claim("w1")
    go_quiet("w1")
    assert queue.rescue_dead_workers(dead_after=3, max_lost=3, using="default") == (1, 1)


def test_a_dead_workers_job_is_ready_again_at_once():
    register("w1")
    JobFactory()
    claim("w1")
    go_quiet("w1")
    queue.rescue_dead_workers(dead_after=3, max_lost=3, using="default")
    assert Job.objects.get().state == JobState.READY


def test_a_dead_worker_is_marked_gone():
    register("w1")
    go_quiet("w1")
    queue.rescue_dead_workers(dead_after=3, max_lost=3, using="default")
    assert Worker.objects.get().status == WorkerState.GONE


def test_a_worker_with_a_fresh_heartbeat_is_left_alone():
    register("w1")
    JobFactory()
    claim("w1")
    assert queue.rescue_dead_workers(dead_after=3, max_lost=3, using="default") == (0, 0)


def test_a_worker_found_dead_learns_it_from_its_next_heartbeat():
    register("w1")
    go_quiet("w1")
    queue.rescue_dead_workers(dead_after=3, max_lost=3, using="default")
    assert queue.beat("w1", running=0, using="default") is None


def test_a_heartbeat_tells_a_worker_an_operator_asked_it_to_stop():
    register("w1")
    queue.request_stop(["w1"], using="default")
    assert queue.beat("w1", running=0, using="default") is True


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's workers all run on its host")
def test_a_quiet_worker_whose_process_runs_on_this_host_is_alive():
    register("w1", host=socket.gethostname(), pid=os.getpid())
    JobFactory()
    claim("w1")
    go_quiet("w1")
    assert queue.rescue_dead_workers(dead_after=3, max_lost=3, using="default") == (0, 0)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="session locks are PostgreSQL's")
@pytest.mark.django_db(databases={"default", DIRECT})
def test_a_quiet_worker_still_holding_its_session_lock_is_alive():
    from django_jobs.db.postgresql import WORKER_LOCK_SPACE

    pk = register("w1")
    JobFactory()
    claim("w1")
    go_quiet("w1")
    other = connections.create_connection(DIRECT)  # through a transaction pooler, the lock would outlive it
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s, %s)", [WORKER_LOCK_SPACE, pk])
        assert queue.rescue_dead_workers(dead_after=3, max_lost=3, using="default") == (0, 0)
    finally:
        other.close()


# -- real workers ------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_sigkilled_worker_with_default_settings_has_its_job_run_again(workers):
    """A plain @task (MAX_ATTEMPTS 1), a long lease: the registry, not the lease, brings the job back."""
    long_lease = {"DJANGO_JOBS_LEASE_SECONDS": "120"}
    result = jobs.record.enqueue("victim", sleep=2)
    doomed = workers.start(env=long_lease)
    wait_until(lambda: Execution.objects.exists(), message="the job to start")
    doomed.send_signal(signal.SIGKILL)
    doomed.wait(10)
    rescuer = workers.start(env=long_lease)
    wait_until(lambda: Job.objects.get(pk=result.id).state == JobState.SUCCEEDED, timeout=60, message="the rescue")
    rescuer.send_signal(signal.SIGTERM)
    assert rescuer.wait(20) == 0
    outcomes = list(JobRun.objects.filter(job_id=result.id).order_by("attempt").values_list("outcome", flat=True))
    assert outcomes == [RunOutcome.LOST, RunOutcome.SUCCEEDED]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", ["keyboard", "exit"])
def test_a_job_raising_keyboardinterrupt_or_systemexit_fails_and_frees_its_slot(workers, kind):
    bad = jobs.interrupts.enqueue(kind)
    good = jobs.add.enqueue(1, 2)
    finished = workers.burst("--concurrency", "1", timeout=60)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert [Job.objects.get(pk=bad.id).state, Job.objects.get(pk=good.id).state] == [
        JobState.FAILED,
        JobState.SUCCEEDED,
    ]


@pytest.mark.skipif(connection.vendor != "mysql", reason="named locks are MariaDB's and MySQL's")
def test_a_quiet_worker_still_holding_its_named_lock_is_alive():
    from django_jobs.db.mysql_sessions import worker_lock_name

    pk = register("w1")
    JobFactory()
    claim("w1")
    go_quiet("w1")
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT GET_LOCK(%s, 0)", [worker_lock_name(connection.settings_dict["NAME"], pk)])
        assert queue.rescue_dead_workers(dead_after=3, max_lost=3, using="default") == (0, 0)
    finally:
        other.close()


@pytest.mark.skipif(connection.vendor != "mysql", reason="named locks are MariaDB's and MySQL's")
def test_a_quiet_worker_whose_named_lock_went_with_its_connection_is_rescued():
    from django_jobs.db.mysql_sessions import worker_lock_name

    pk = register("w1")
    JobFactory()
    claim("w1")
    go_quiet("w1")
    other = connections.create_connection("default")
    with other.cursor() as cursor:
        cursor.execute("SELECT GET_LOCK(%s, 0)", [worker_lock_name(connection.settings_dict["NAME"], pk)])
    other.close()
    # The server ends a closed connection's session (and its locks) a moment after the client leaves.
    name = worker_lock_name(connection.settings_dict["NAME"], pk)
    wait_until(lambda: not used_lock(name), timeout=5, message="the lock to go")
    assert queue.rescue_dead_workers(dead_after=3, max_lost=3, using="default") == (1, 1)


def used_lock(name):
    with connection.cursor() as cursor:
        cursor.execute("SELECT IS_USED_LOCK(%s)", [name])
        return cursor.fetchone()[0] is not None
