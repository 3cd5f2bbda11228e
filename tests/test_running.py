"""What happens while a job runs: logs, retries and backoff, context, bad functions and results."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

import django_jobs
from django_jobs.backoff import exponential
from django_jobs.compat import TaskResultStatus, task_backends
from django_jobs.db import get_ops
from django_jobs.exceptions import InvalidJobType
from django_jobs.models import Job, JobLog, JobRun
from django_jobs.states import JobState, RunOutcome
from tests.conftest import DIRECT, drain, wait_until
from tests.testapp import jobs

pytestmark = pytest.mark.django_db(transaction=True)


def test_logs_are_stored_per_attempt():
    r = jobs.chatty.enqueue(7)
    drain()
    run = JobRun.objects.get(job_id=r.id)
    lines = list(JobLog.objects.filter(run=run).values_list("level", "logger", "message"))
    assert lines == [(20, "tests.jobs", "starting with 7"), (30, "tests.jobs", "halfway")]


def test_job_decorator_retries_with_backoff_until_success():
    r = jobs.flaky.enqueue(2)
    drain(rounds=4)
    r.refresh()
    assert r.status == TaskResultStatus.SUCCESSFUL and r.return_value == 3
    assert r.attempts == 3 and len(r.errors) == 2
    job = Job.objects.get(pk=r.id)
    assert (job.attempts, job.max_attempts, job.attempts_left) == (3, 3, 0)


def test_retries_stop_at_max_attempts():
    r = jobs.flaky.enqueue(10)
    drain(rounds=5)
    r.refresh()
    assert r.status == TaskResultStatus.FAILED and r.attempts == 3
    assert [e.exception_class_path for e in r.errors] == ["builtins.RuntimeError"] * 3


def test_permanent_failure_skips_retries_and_keeps_exit_status():
    r = jobs.permanent.using().enqueue()
    Job.objects.filter(pk=r.id).update(max_attempts=5, attempts_left=5)
    drain()
    job = Job.objects.get(pk=r.id)
    assert (job.state, job.attempts, job.exit_status) == (JobState.FAILED, 1, 3)
    assert job.runs.get().message == "cannot ever work"


def test_decline_runs_again_without_spending_an_attempt():
    r = jobs.declines_once.enqueue("marker-1")
    drain(rounds=3)
    job = Job.objects.get(pk=r.id)
    assert job.state == JobState.SUCCEEDED and job.return_value == "done"
    assert list(job.runs.values_list("outcome", flat=True)) == [RunOutcome.DECLINED, RunOutcome.SUCCEEDED]
    assert job.attempts_left == 1  # 2 budgeted, the declined attempt given back


def test_a_non_json_return_value_fails_clearly():
    r = jobs.returns_set.enqueue()
    drain()
    run = JobRun.objects.get(job_id=r.id)
    assert run.exception_class_path == "builtins.TypeError"  # as Django's Tasks record it
    assert "the return value is a builtins.set" in run.message


def test_enqueue_by_name():
    r = django_jobs.enqueue("tests.testapp.jobs.add", args=[1, 2], priority=5, queue_name="reports")
    job = Job.objects.get(pk=r.id)
    assert (job.args, job.priority, job.queue_name) == ([1, 2], 5, "reports")
    r = django_jobs.enqueue("tests.testapp.jobs.flaky", args=[0], max_attempts=7)
    assert Job.objects.get(pk=r.id).max_attempts == 7
    with pytest.raises(InvalidJobType, match="is not a task"):
        django_jobs.enqueue("tests.testapp.jobs.not_a_task")
    with pytest.raises(InvalidJobType, match="cannot be imported"):
        django_jobs.enqueue("tests.testapp.jobs.missing")
    with pytest.raises(TypeError, match="unknown option"):
        django_jobs.enqueue("tests.testapp.jobs.flaky", args=[0], colour="red")
    assert Job.objects.count() == 2


def test_max_work_duration_caps_the_lease():
    r = jobs.flaky.using(max_work_duration=2).enqueue(0)
    job = Job.objects.get(pk=r.id)
    assert job.max_work_duration == timedelta(seconds=2)
    backend = task_backends["default"]
    from django_jobs import queue

    (_claimed,) = queue.claim(worker_id="w", queues=None, limit=1, lease=timedelta(seconds=30), using=backend.database)
    job.refresh_from_db()
    assert job.grabbed_until <= job.last_attempted_at + timedelta(seconds=2 + 1)


def test_exponential_backoff_grows_with_jitter():
    class Result:
        def __init__(self, attempts):
            self.attempts = attempts

    delays = [exponential(None, Result(n)) for n in (1, 2, 3, 4)]
    assert 1 <= delays[0] <= 2 and 2 <= delays[1] <= 4 and 4 <= delays[2] <= 8 and 8 <= delays[3] <= 16
    assert exponential(None, Result(40)) <= 3600


def test_only_one_scheduler_leader(backend):
    ops = get_ops("default", backend.job_options.sessions)
    first, second = ops.leadership("a"), ops.leadership("b")
    try:
        # A worker of an earlier test may still be letting go of its lock.
        wait_until(first.acquire, timeout=15, message="leadership to be free")
        assert second.acquire() is False
        assert first.acquire() is True
        first.release()
        # Releasing closes the leader's connection; PostgreSQL drops its advisory lock when that session's
        # backend has exited, a moment after the client returns.
        wait_until(second.acquire, timeout=5, message="leadership to pass on once released")
    finally:
        first.release()
        second.release()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="LISTEN/NOTIFY is PostgreSQL's")
@pytest.mark.django_db(transaction=True, databases={"default", DIRECT})
def test_notify_is_sent_only_when_the_enqueue_commits():
    from django.db import connections, transaction

    listener = connections.create_connection(DIRECT)  # through a transaction pooler, LISTEN hears nothing
    listener.ensure_connection()
    listener.connection.execute("LISTEN django_jobs")
    try:
        with transaction.atomic():
            jobs.send_email.enqueue("a@example.com")
            assert list(listener.connection.notifies(timeout=0.3, stop_after=1)) == []
        (note,) = list(listener.connection.notifies(timeout=5, stop_after=1))
        assert note.payload == "emails"
        with pytest.raises(RuntimeError), transaction.atomic():
            jobs.add.enqueue(1, 2)
            raise RuntimeError
        assert list(listener.connection.notifies(timeout=0.3, stop_after=1)) == []
        # A batch (one COPY) notifies once per queue it gave a due job; a job due later, never.
        later = timezone.now() + timedelta(hours=1)
        due_later = (jobs.add.using(queue_name="emails", run_after=later), (0, 0))
        adds = [(jobs.add, (i, i)) for i in range(40)]
        django_jobs.enqueue_many([(jobs.send_email, ("b@example.com",)), *adds, due_later])
        notes = list(listener.connection.notifies(timeout=0.5))
        assert sorted(n.payload for n in notes) == ["default", "emails"]
        jobs.send_email.using(run_after=later).enqueue("c@example.com")
        assert list(listener.connection.notifies(timeout=0.3, stop_after=1)) == []
    finally:
        listener.close()
