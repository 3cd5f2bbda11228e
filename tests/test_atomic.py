"""
Atomic jobs (``@django_jobs.job(atomic=True)``): the function runs inside the
transaction that records its success. If it raises, is taken back, or its
worker dies mid-run, its writes to the jobs database roll back with the
attempt: at-least-once execution, exactly-once effects.
"""

import signal
from datetime import timedelta

import pytest
from django.test import override_settings

import django_jobs
from django_jobs import queue
from django_jobs.attempts import run_and_report
from django_jobs.compat import task_backends
from django_jobs.exceptions import InvalidJobType
from django_jobs.models import Job, JobRun
from django_jobs.reporter import Reporter
from django_jobs.runner import Runner
from django_jobs.states import JobState, RunOutcome
from tests.conftest import drain, wait_until
from tests.testapp import atomic_jobs, jobs
from tests.testapp.models import Execution

pytestmark = pytest.mark.django_db(transaction=True)


def writes(label):
    return list(Execution.objects.filter(label=label).values_list("attempt", flat=True))


def state(result):
    return Job.objects.get(pk=result.id).state


def test_an_atomic_job_that_returns_keeps_its_write():
    atomic_jobs.atomic_write.enqueue("kept")
    drain()
    assert writes("kept") == [1]


def test_an_atomic_job_that_returns_succeeds():
    result = atomic_jobs.atomic_write.enqueue("kept")
    drain()
    assert state(result) == JobState.SUCCEEDED


def test_a_raising_atomic_job_leaves_no_write():
    atomic_jobs.atomic_write.enqueue("undone", fail=True)
    drain()
    assert writes("undone") == []


def test_a_raising_atomic_job_is_recorded_as_failed():
    result = atomic_jobs.atomic_write.enqueue("undone", fail=True)
    drain()
    assert state(result) == JobState.FAILED


def test_a_raising_atomic_job_keeps_its_error():
    result = atomic_jobs.atomic_write.enqueue("undone", fail=True)
    drain()
    assert JobRun.objects.get(job_id=result.id).message == "undone fails"


def test_an_atomic_job_raising_at_every_attempt_leaves_no_write():
    result = atomic_jobs.atomic_write.using(max_attempts=3).enqueue("retried", fail=True)
    drain(rounds=4)
    assert (state(result), writes("retried")) == (JobState.FAILED, [])


def test_a_raising_plain_job_keeps_its_write():
    atomic_jobs.plain_write.enqueue("plain", fail=True)
    drain()
    assert writes("plain") == [1]


def test_an_atomic_job_run_here_that_raises_leaves_no_write():
    django_jobs.enqueue_and_run(atomic_jobs.atomic_write, ["here"], {"fail": True})
    assert writes("here") == []


def test_an_atomic_jobs_saved_metadata_is_kept_when_it_succeeds():
    result = atomic_jobs.atomic_write.enqueue("with progress", progress=True)
    drain()
    result.refresh()
    assert result.metadata == {"progress": 1}


def run_attempt(claimed):
    backend = task_backends["default"]
    return run_and_report(Runner(using="default", options=backend.job_options), Reporter(using="default"), claimed)


def taken_back_attempt(label):
    """An atomic job's attempt whose lease ran out and which the scheduler took back."""
    atomic_jobs.atomic_write.enqueue(label)
    (claimed,) = queue.claim(worker_id="w1", queues=None, limit=1, lease=timedelta(seconds=-1), using="default")
    assert queue.rescue_expired(using="default") == 1
    return claimed


def test_a_taken_back_atomic_attempt_commits_nothing():
    run_attempt(taken_back_attempt("late"))
    assert writes("late") == []


def test_a_taken_back_atomic_attempt_records_nothing():
    _report, transition = run_attempt(taken_back_attempt("late"))
    assert transition is None


def test_a_taken_back_atomic_attempt_leaves_its_job_to_the_next():
    claimed = taken_back_attempt("late")
    run_attempt(claimed)
    assert Job.objects.get(pk=claimed.id).state == JobState.READY


def test_a_cancelled_atomic_attempt_commits_nothing():
    result = atomic_jobs.atomic_write.enqueue("cancelled")
    (claimed,) = queue.claim(worker_id="w1", queues=None, limit=1, lease=timedelta(seconds=30), using="default")
    django_jobs.cancel(result.id)
    run_attempt(claimed)
    assert writes("cancelled") == []


# -- declaration -------------------------------------------------------------------------------


def elsewhere(label):
    return label


ELSEWHERE = {
    "default": {"BACKEND": "django_jobs.backend.DatabaseBackend"},
    "elsewhere": {"BACKEND": "django_jobs.backend.DatabaseBackend", "OPTIONS": {"DATABASE": "jobs"}},
}


def test_atomic_is_refused_when_the_jobs_live_in_another_database_than_default():
    with override_settings(TASKS=ELSEWHERE), pytest.raises(InvalidJobType, match="keeps its jobs in database 'jobs'"):
        django_jobs.job(elsewhere, backend="elsewhere", atomic=True)


def test_atomic_is_allowed_when_the_jobs_live_in_the_default_database():
    with override_settings(TASKS=ELSEWHERE):
        assert django_jobs.job(elsewhere, atomic=True).atomic is True


def test_atomic_must_be_a_boolean():
    with pytest.raises(InvalidJobType, match="atomic must be True or False, not 'yes'"):
        django_jobs.job(elsewhere, atomic="yes")


def test_an_atomic_job_cannot_coalesce():
    with pytest.raises(InvalidJobType, match="is atomic and coalesces"):
        atomic_jobs.atomic_write.using(coalesce="batch")


def test_a_plain_task_cannot_be_made_atomic_per_enqueue():
    """Workers run the function as registered: an option that only the enqueue saw would not hold."""
    with pytest.raises(InvalidJobType, match="atomic is declared with the function"):
        jobs.add.using(atomic=True)


def test_an_atomic_task_cannot_be_made_plain_per_enqueue():
    with pytest.raises(InvalidJobType, match="atomic is declared with the function"):
        django_jobs.enqueue("tests.testapp.atomic_jobs.atomic_write", ["plain"], atomic=False)


def test_an_enqueue_by_name_cannot_make_a_job_atomic():
    with pytest.raises(InvalidJobType, match="atomic is declared with the function"):
        django_jobs.enqueue("tests.testapp.jobs.add", [1, 2], atomic=True)


def test_a_refused_atomic_option_writes_nothing():
    with pytest.raises(InvalidJobType):
        django_jobs.enqueue("tests.testapp.jobs.add", [1, 2], atomic=True)
    assert not Job.objects.exists()


def test_using_keeps_a_declared_atomic():
    assert atomic_jobs.atomic_write.using(priority=5, atomic=True).atomic is True


# -- real workers ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_an_atomic_job_whose_worker_is_killed_mid_run_writes_exactly_once_after_its_rescue(workers, tmp_path):
    """The killed attempt's write rolls back with it; the rescued attempt's is the only one."""
    long_lease = {"DJANGO_JOBS_LEASE_SECONDS": "120"}  # the registry, not the lease, finds the dead worker
    started = tmp_path / "started"
    result = atomic_jobs.atomic_write.enqueue("killed", sleep=60, started=str(started))
    doomed = workers.start(env=long_lease)
    wait_until(started.exists, timeout=60, message="the first attempt to write and sleep")
    doomed.send_signal(signal.SIGKILL)
    doomed.wait(10)
    assert writes("killed") == []
    rescuer = workers.start(env=long_lease)
    wait_until(lambda: state(result) == JobState.SUCCEEDED, timeout=60, message="the rescue")
    rescuer.send_signal(signal.SIGTERM)
    assert rescuer.wait(20) == 0
    runs = list(JobRun.objects.filter(job_id=result.id).order_by("attempt").values_list("outcome", flat=True))
    assert (runs, writes("killed")) == ([RunOutcome.LOST, RunOutcome.SUCCEEDED], [2])


@pytest.mark.slow
def test_workers_cope_while_an_atomic_job_holds_its_transaction(workers):
    """
    On SQLite the atomic job's transaction holds the database's write lock for its
    3 seconds: the other thread of its worker, a second worker and both heartbeats wait
    for it (busy timeout), and no job is lost or run twice.
    """
    result = atomic_jobs.atomic_write.enqueue("long", sleep=3)
    plain = [jobs.record.enqueue("short", sleep=0.1) for _ in range(20)]
    procs = [workers.start("--burst", "--concurrency", "2") for _ in range(2)]
    for proc in procs:
        assert proc.wait(90) == 0, workers.output(proc)
    assert set(Job.objects.values_list("state", flat=True)) == {JobState.SUCCEEDED}
    assert not JobRun.objects.exclude(outcome=RunOutcome.SUCCEEDED).exists()
    assert (writes("long"), Execution.objects.filter(label="short").count()) == ([1], len(plain))
    assert state(result) == JobState.SUCCEEDED


@pytest.mark.slow
def test_a_raising_atomic_job_in_a_child_process_leaves_no_write(workers):
    result = atomic_jobs.atomic_write.enqueue("child", fail=True)
    finished = workers.burst("--processes", "--concurrency", "1", timeout=90)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert (state(result), writes("child")) == (JobState.FAILED, [])
