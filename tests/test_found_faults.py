"""Faults an attacker and an operator found, each fixed (issue: at-least-once by default)."""

import logging
import re
import signal
import time
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.db import connection, connections

import django_jobs
from django_jobs.db import postgresql
from django_jobs.db.base import ClaimedJob
from django_jobs.models import FuncMap, Job, JobLog, JobRun
from django_jobs.queue import functions
from django_jobs.reconnect import Reconnect
from django_jobs.slots import Slots
from django_jobs.states import JobState
from tests.conftest import DIRECT, drain, wait_until
from tests.testapp import jobs

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_job_logging_a_nul_character_succeeds_once():
    result = jobs.nul_bytes.enqueue()
    drain()
    assert (Job.objects.get(pk=result.id).state, JobRun.objects.count()) == (JobState.SUCCEEDED, 1)


def test_a_nul_character_in_a_log_line_is_stored_escaped():
    jobs.nul_bytes.enqueue()
    drain()
    assert "with a \\x00 in it" in JobLog.objects.get(logger="tests.jobs").message


def test_a_nul_character_in_an_exception_message_is_stored_escaped():
    result = jobs.nul_bytes.enqueue(fail=True)
    drain()
    assert JobRun.objects.get(job_id=result.id).message == "a message with a \\x00 in it"


def test_a_function_map_row_gone_under_a_running_process_is_found_again(monkeypatch):
    jobs.add.enqueue(1, 2)
    with connection.cursor() as cursor:  # as a restored backup or a raw TRUNCATE would
        cursor.execute(f"DELETE FROM {Job._meta.db_table}")
        cursor.execute(f"DELETE FROM {FuncMap._meta.db_table}")
    later = time.monotonic() + functions.CACHE_SECONDS + 1
    monkeypatch.setattr(functions, "time", SimpleNamespace(monotonic=lambda: later))
    result = django_jobs.enqueue("tests.testapp.jobs.add", args=[3, 4])
    assert Job.objects.get(pk=result.id).func.path == "tests.testapp.jobs.add"


# -- a worker's slots ----------------------------------------------------------------------------------


def claimed_job(job_id, attempt, max_work_duration=None):
    return ClaimedJob(
        id=job_id,
        attempt=attempt,
        worker_id="w",
        func_id=1,
        args=[],
        kwargs={},
        backend="default",
        queue_name="default",
        priority=0,
        enqueued_at=None,
        started_at=None,
        last_attempted_at=None,
        attempts_left=0,
        max_work_duration=max_work_duration,
        coalesce=None,
    )


@pytest.mark.django_db(transaction=False)
def test_two_attempts_of_one_job_are_kept_apart():
    slots = Slots()
    first, second = claimed_job(1, 1), claimed_job(1, 2)
    slots.claimed([first, second])
    slots.forget(first)
    assert slots.all_held() == [second]


@pytest.mark.slow
def test_a_thread_past_its_max_work_duration_gives_its_slot_to_a_new_thread(workers):
    stuck = jobs.slow.using(max_work_duration=1).enqueue(30)
    quick = [jobs.add.enqueue(i, 1) for i in range(3)]
    proc = workers.start("--concurrency", "1")
    wait_until(
        lambda: all(Job.objects.get(pk=r.id).state == JobState.SUCCEEDED for r in quick),
        timeout=20,
        message="the jobs behind the stuck one",
    )
    wait_until(lambda: Job.objects.get(pk=stuck.id).state == JobState.FAILED, timeout=20, message="the timeout")
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)
    assert Job.objects.get(pk=stuck.id).runs.get().exception_class_path == "django_jobs.exceptions.JobTimeout"


# -- reconnecting --------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=False)
def test_a_dropped_connection_is_tried_again_at_once():
    assert Reconnect("Claiming").failed(OSError("server closed the connection")) == 0


@pytest.mark.django_db(transaction=False)
def test_a_database_that_stays_away_is_tried_less_and_less_often():
    reconnect = Reconnect("Claiming", first=0.1, longest=5.0)
    delays = [reconnect.failed(OSError("refused")) for _ in range(12)]
    assert delays == [0.0, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0, 5.0, 5.0, 5.0]


@pytest.mark.django_db(transaction=False)
def test_a_database_that_stays_away_does_not_flood_the_log(caplog):
    reconnect = Reconnect("Claiming")
    with caplog.at_level(logging.WARNING, logger="django_jobs.worker"):
        for _ in range(1000):
            reconnect.failed(OSError("refused"))
    assert len(caplog.records) < 20


# -- lock order ----------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=False)
@pytest.mark.parametrize("statement", ["COMPLETE_MANY_SQL", "RENEW_SQL"])
def test_multi_row_updates_on_postgresql_lock_their_rows_in_id_order(statement):
    """Two such statements may wait for each other, never deadlock (a heartbeat against a batched completion)."""
    sql = " ".join(getattr(postgresql, statement).split())
    assert re.search(r"ORDER BY (job\.)?id FOR UPDATE", sql)


@pytest.mark.skipif(connection.vendor == "sqlite", reason="terminates a database server's session")
@pytest.mark.django_db(transaction=True, databases={"default", DIRECT})
def test_a_report_survives_its_connection_being_dropped():
    """The server drops the worker's connection (a restart, pg_terminate_backend, KILL): the outcome is recorded."""
    from django_jobs.report import AttemptReport
    from django_jobs.reporter import Reporter
    from django_jobs.states import RunOutcome

    jobs.add.enqueue(1, 2)
    (claimed,) = django_jobs.queue.claim(
        worker_id="w", queues=None, limit=1, lease=timedelta(seconds=30), using="default"
    )
    mysql = connection.vendor == "mysql"
    with connection.cursor() as cursor:
        cursor.execute("SELECT CONNECTION_ID()" if mysql else "SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    # Not through a transaction pooler: it could hand this statement the very session it terminates.
    other = connections.create_connection(DIRECT)
    try:
        with other.cursor() as cursor:
            cursor.execute("KILL CONNECTION %s" if mysql else "SELECT pg_terminate_backend(%s)", [pid])
    finally:
        other.close()
    report = AttemptReport(claimed=claimed, outcome=RunOutcome.SUCCEEDED, return_value=3)
    Reporter(using="default", patience=10).report(report)
    assert Job.objects.get(pk=claimed.id).state == JobState.SUCCEEDED
