"""The seed queues' lifecycle controls: uniqkey, bulk, coalesce, expire, keep/prune, replace_with,
logs, failure log, add-and-claim, cancel."""

import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta

import django
import pytest
from django.db import connection
from django.db.models import Count
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

import django_jobs
from django_jobs import queue
from django_jobs.compat import TaskResultStatus
from django_jobs.exceptions import InvalidJobArguments, InvalidTask, InvalidTransition, JobNotClaimed, QueueNotFound
from django_jobs.models import Job, JobLog, JobRun
from django_jobs.states import JobState, RunOutcome
from tests.conftest import ROOT, drain, wait_until
from tests.testapp import jobs
from tests.testapp.models import Execution

pytestmark = pytest.mark.django_db(transaction=True)


# -- uniqkey ---------------------------------------------------------------------------


def test_uniqkey_returns_the_live_job_and_says_so():
    first = jobs.add.using(uniqkey="k1").enqueue(1, 2)
    second = jobs.add.using(uniqkey="k1").enqueue(3, 4)
    assert first.created and not second.created
    assert second.id == first.id and second.args == [1, 2]
    other_function = jobs.send_email.using(uniqkey="k1").enqueue("a@b.c")
    assert other_function.created and other_function.id != first.id
    drain()
    third = jobs.add.using(uniqkey="k1").enqueue(5, 6)  # the first one finished: a new one is allowed
    assert third.created and third.id != first.id
    assert Job.objects.filter(uniqkey="k1", func__path="tests.testapp.jobs.add").count() == 2


def test_uniqkey_holds_under_concurrent_enqueues_from_many_processes(worker_env):
    start_at = time.time() + 2.0
    script = (
        "import django, time; django.setup();"
        "from tests.testapp import jobs;"
        f"time.sleep(max(0, {start_at} - time.time()));"
        "r = jobs.add.using(uniqkey='race').enqueue(1, 1); print(r.id, r.created)"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script], env=worker_env, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        for _ in range(8)
    ]
    outputs = [p.communicate(timeout=60)[0].split() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert len({out[0] for out in outputs}) == 1
    assert sorted(out[1] for out in outputs) == ["False"] * 7 + ["True"]
    assert Job.objects.filter(uniqkey="race").count() == 1


# -- bulk enqueue -------------------------------------------------------------------------


def test_enqueue_many_inserts_in_one_statement_and_honours_uniqkey():
    existing = jobs.add.using(uniqkey="u1").enqueue(0, 0)
    calls = [(jobs.add, (i, i)) for i in range(50)]
    with CaptureQueriesContext(connection) as ctx:
        results = django_jobs.enqueue_many(calls)
    writes = [q for q in ctx.captured_queries if q["sql"].startswith(("INSERT", "COPY"))]
    # A multi-row INSERT on SQLite, a COPY on PostgreSQL. Django 5.2 caps an SQLite statement at 999
    # parameters (Django 6 asks SQLite for its limit), which these 50 rows exceed: two INSERTs there.
    assert len(writes) == (2 if connection.vendor == "sqlite" and django.VERSION < (6, 0) else 1)
    assert [r.args for r in results] == [[i, i] for i in range(50)]
    assert all(r.created and r.status == TaskResultStatus.READY for r in results)
    keyed = django_jobs.enqueue_many(
        [
            (jobs.add.using(uniqkey="u1"), (1, 1)),
            (jobs.add.using(uniqkey="u2"), (2, 2)),
            (jobs.add.using(uniqkey="u2"), (3, 3)),
            ("tests.testapp.jobs.send_email", ("x@y.z",), {"subject": "bulk"}),
        ]
    )
    assert [r.created for r in keyed] == [False, True, False, True]
    assert keyed[0].id == existing.id and keyed[1].id == keyed[2].id
    assert Job.objects.count() == 1 + 50 + 2


def test_enqueue_many_results_match_their_rows_whatever_each_job_sets():
    """Plain jobs, jobs due later and jobs with an expression (expires_in) are written apart; each result is its row."""
    later = timezone.now() + timedelta(hours=1)
    calls = []
    for i in range(60):
        task = [jobs.add, jobs.add.using(run_after=later), jobs.add.using(expires_in=60)][i % 3]
        calls.append((task, (i, -i)))
    results = django_jobs.enqueue_many(calls)
    rows = {job.pk: job for job in Job.objects.all()}
    assert len(rows) == 60
    for i, result in enumerate(results):
        row = rows[int(result.id)]
        assert row.args == result.args == [i, -i]
        assert result.enqueued_at == row.enqueued_at and result.enqueued_at.tzinfo is not None
        assert result.task.run_after == (later if i % 3 == 1 else None)  # None: not deferred
        assert (row.run_after == later) == (i % 3 == 1)
        assert (row.expires_at is not None) == (i % 3 == 2)
        assert jobs.add.get_result(result.id).enqueued_at == result.enqueued_at
    drain()
    assert {j.args[0] for j in Job.objects.filter(state=JobState.SUCCEEDED)} == set(range(0, 60, 3)) | set(
        range(2, 60, 3)
    )


def test_enqueue_many_writes_nothing_if_one_is_invalid():
    with pytest.raises(QueueNotFound):
        django_jobs.enqueue_many([(jobs.add, (1, 2)), (jobs.add.using(queue_name="bad"), (1, 2))])
    with pytest.raises(InvalidJobArguments):
        django_jobs.enqueue_many([(jobs.add, (1, 2)), (jobs.add, (object(), 2))])
    assert not Job.objects.exists()


def test_enqueue_many_checks_the_arguments_of_every_call_of_a_task():
    """A task's later calls copy its first job (backend.building.build_jobs), yet are bound one by one."""
    with pytest.raises(InvalidJobArguments):
        django_jobs.enqueue_many([(jobs.add, (1, 2)), (jobs.add, (1, 2)), (jobs.add, (1, 2, 3))])
    assert not Job.objects.exists()


def test_enqueue_many_checks_every_call_against_the_tasks_schema():
    from tests.testapp import limited_jobs

    with pytest.raises(InvalidJobArguments):
        django_jobs.enqueue_many([(limited_jobs.invite, ("a@b.c",)), (limited_jobs.invite, ("not an email",))])
    assert not Job.objects.exists()


def test_enqueue_many_gives_each_call_the_key_its_arguments_give():
    from tests.testapp import limited_jobs

    django_jobs.enqueue_many([(limited_jobs.sync_account, (account,)) for account in ("a", "b", "c")])
    assert sorted(Job.objects.values_list("concurrency_key", flat=True)) == ["account:a", "account:b", "account:c"]


def test_enqueue_many_jobs_of_one_task_share_no_json_value():
    results = django_jobs.enqueue_many([(jobs.add, (i, i)) for i in range(3)])
    assert sorted(Job.objects.values_list("args", flat=True)) == [[0, 0], [1, 1], [2, 2]]
    assert [r.args for r in results] == [[0, 0], [1, 1], [2, 2]]


# -- coalesce -----------------------------------------------------------------------------------


def test_coalesced_jobs_are_claimed_and_finished_together():
    for i in range(5):
        jobs.deliver.using(coalesce="example.com").enqueue("example.com", f"m{i}")
    jobs.deliver.using(coalesce="other.org").enqueue("other.org", "x")
    drain(concurrency=1)
    assert set(Job.objects.values_list("state", flat=True)) == {JobState.SUCCEEDED}
    labels = sorted(Execution.objects.values_list("label", flat=True))
    assert labels == ["example.com:5", "other.org:1"]
    batch = Job.objects.filter(coalesce="example.com")
    assert {tuple(j.return_value) for j in batch} == {("m0", "m1", "m2", "m3", "m4")}
    workers = set(JobRun.objects.filter(job__in=batch).values_list("worker_id", flat=True))
    assert len(workers) == 1


# -- expire ----------------------------------------------------------------------------------------


def test_expired_jobs_never_run():
    gone = jobs.flaky.using(expires_at=timezone.now() - timedelta(seconds=1)).enqueue(0)
    soon = jobs.flaky.using(expires_in=0.2).enqueue(0)
    later = jobs.flaky.using(expires_in=3600).enqueue(0)
    Job.objects.filter(pk=soon.id).update(run_after=timezone.now() + timedelta(hours=1))
    time.sleep(0.3)
    assert queue.expire_overdue(using="default") == 2
    drain()
    states = dict(Job.objects.values_list("pk", "state"))
    assert states[int(gone.id)] == states[int(soon.id)] == JobState.EXPIRED
    assert states[int(later.id)] == JobState.SUCCEEDED
    assert not JobRun.objects.filter(job_id__in=[gone.id, soon.id]).exists()
    assert jobs.flaky.get_result(gone.id).status == TaskResultStatus.FAILED
    retried = django_jobs.retry(gone.id)
    assert retried.state == JobState.READY


# -- exit status, keep and prune ------------------------------------------------------------------


def test_exit_status_is_kept_for_its_time_then_pruned():
    short = jobs.forgettable.enqueue()
    kept = jobs.add.enqueue(1, 1)
    failing = jobs.permanent.enqueue()
    drain()
    short_job = Job.objects.get(pk=short.id)
    assert short_job.exit_status == 0 and short_job.keep_until is not None
    assert Job.objects.get(pk=failing.id).exit_status == 3
    assert JobLog.objects.filter(run__job_id=short.id).exists()
    time.sleep(0.05)
    assert queue.prune(using="default") == 1
    assert not Job.objects.filter(pk=short.id).exists()
    assert (
        not JobRun.objects.filter(job_id=short.id).exists() and not JobLog.objects.filter(run__job_id=short.id).exists()
    )
    kept_job = Job.objects.get(pk=kept.id)
    assert kept_job.keep_until > timezone.now() + timedelta(days=6)


# -- replace_with ------------------------------------------------------------------------------------


def test_replace_with_finishes_the_job_and_enqueues_the_new_ones_together():
    r = jobs.split.enqueue(3)
    drain()
    job = Job.objects.get(pk=r.id)
    assert job.state == JobState.SUCCEEDED and job.return_value == "split into 3"
    assert sorted(Job.objects.filter(func__path="tests.testapp.jobs.add").values_list("args", flat=True)) == [
        [0, 0],
        [1, 1],
        [2, 2],
    ]


def test_replace_with_rolls_back_whole_when_one_new_job_is_invalid():
    r = jobs.split.enqueue(3, bad=True)
    drain()
    job = Job.objects.get(pk=r.id)
    assert job.state == JobState.FAILED
    assert job.runs.get().exception_class_path == "django_jobs.exceptions.QueueNotFound"
    assert not Job.objects.filter(func__path="tests.testapp.jobs.add").exists()


# -- logs and the failure log ---------------------------------------------------------------------------


def test_logged_and_printed_lines_are_stored_per_attempt():
    r = jobs.printer.enqueue(5)
    drain()
    lines = [(line.logger, line.message) for line in django_jobs.logs(r.id)]
    assert lines == [("stdout", "printed 5"), ("stdout", "no newline")]
    assert [line.run.attempt for line in django_jobs.logs(r.id, attempt=1)] == [1, 1]
    assert django_jobs.logs(r.id, attempt=2) == []


def test_failure_log_lists_every_attempts_error_in_order():
    r = jobs.flaky.enqueue(5)
    drain(rounds=4)
    failures = django_jobs.failures(r.id)
    assert [(f.attempt, f.message) for f in failures] == [
        (1, "attempt 1 fails"),
        (2, "attempt 2 fails"),
        (3, "attempt 3 fails"),
    ]
    assert all("Traceback" in f.traceback for f in failures)


# -- add-and-claim --------------------------------------------------------------------------------------


def test_enqueue_and_run_runs_here_with_the_same_records():
    result = django_jobs.enqueue_and_run(jobs.add, (20, 22))
    assert result.status == TaskResultStatus.SUCCESSFUL and result.return_value == 42
    assert result.attempts == 1 and result.worker_ids[0].endswith(":here")
    job = Job.objects.get(pk=result.id)
    assert job.state == JobState.SUCCEEDED and job.runs.get().outcome == RunOutcome.SUCCEEDED
    failed = django_jobs.enqueue_and_run("tests.testapp.jobs.boom", ("here",))
    assert failed.status == TaskResultStatus.FAILED and failed.errors[0].exception_class_path == "builtins.ValueError"
    assert drain() is None and Job.objects.filter(state=JobState.READY).count() == 0


# -- cancel -----------------------------------------------------------------------------------------------


def test_cancelling_a_running_job_reaches_its_worker(workers):
    r = jobs.wait_for_cancel.enqueue()
    proc = workers.start()
    wait_until(lambda: Execution.objects.filter(label="waiting").exists(), message="the job to start")
    started = time.monotonic()
    django_jobs.cancel(r.id)
    wait_until(
        lambda: "was cancelled: asking it to stop" in workers.output(proc), timeout=10, message="the worker to hear"
    )
    wait_until(lambda: "dropped (no longer claimed)" in workers.output(proc), timeout=10, message="the job to stop")
    assert time.monotonic() - started < 10
    job = Job.objects.get(pk=r.id)
    assert job.state == JobState.CANCELLED
    run = job.runs.get()
    assert run.outcome == RunOutcome.CANCELLED and run.exception_class_path == "django_jobs.exceptions.JobCancelled"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0


def deadlock_error():
    """The OperationalError Django raises when the database ends a transaction as a deadlock's victim."""
    from django.db import OperationalError

    if connection.vendor == "postgresql":
        import psycopg

        cause = psycopg.errors.DeadlockDetected("deadlock detected")
    else:
        import MySQLdb

        cause = MySQLdb.OperationalError(1213, "Deadlock found when trying to get lock; try restarting transaction")
    error = OperationalError(*cause.args)
    error.__cause__ = cause
    return error


@pytest.mark.skipif(connection.vendor == "sqlite", reason="SQLite has no deadlocks: one writer at a time")
def test_a_cancel_chosen_as_a_deadlocks_victim_is_made_again(monkeypatch):
    from django_jobs.queue import operations

    r = jobs.add.enqueue(1, 1)
    real, tries = operations._cancel, []

    def deadlocked_once(job, using):
        tries.append(job.pk)
        if len(tries) == 1:
            raise deadlock_error()
        return real(job, using)

    monkeypatch.setattr(operations, "_cancel", deadlocked_once)
    django_jobs.cancel(r.id)
    assert Job.objects.get(pk=r.id).state == JobState.CANCELLED


def test_cancel_racing_complete_leaves_one_consistent_state():
    outcomes = []
    for _ in range(20):
        r = jobs.add.enqueue(1, 1)
        (claimed,) = queue.claim(worker_id="w", queues=None, limit=1, lease=timedelta(seconds=30), using="default")
        barrier = threading.Barrier(2)
        errors = {}

        def complete(barrier=barrier, claimed=claimed, errors=errors):
            barrier.wait()
            try:
                queue.complete(claimed, 2, using="default")
            except JobNotClaimed as e:
                errors["complete"] = e
            finally:
                connection.close()

        def cancel(barrier=barrier, r=r, errors=errors):
            barrier.wait()
            try:
                django_jobs.cancel(r.id)
            except InvalidTransition as e:
                errors["cancel"] = e
            finally:
                connection.close()

        threads = [threading.Thread(target=complete), threading.Thread(target=cancel)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        job = Job.objects.get(pk=r.id)
        run = job.runs.get()
        assert len(errors) == 1
        if "complete" in errors:
            assert (job.state, run.outcome, job.return_value) == (JobState.CANCELLED, RunOutcome.CANCELLED, None)
        else:
            assert (job.state, run.outcome, job.return_value) == (JobState.SUCCEEDED, RunOutcome.SUCCEEDED, 2)
        outcomes.append(job.state)
    assert Job.objects.values("state").annotate(n=Count("id")).count() >= 1


def test_typed_errors():
    from django_jobs import exceptions

    with pytest.raises(exceptions.JobNotFound):
        django_jobs.retry(10**12)
    with pytest.raises(exceptions.QueueNotFound):
        jobs.add.using(queue_name="missing").enqueue(1, 2)
    with pytest.raises(exceptions.InvalidJobType):
        django_jobs.enqueue("os.system", args=["true"])
    with pytest.raises(InvalidTask):
        jobs.add.using(uniqkey="").enqueue(1, 2)
