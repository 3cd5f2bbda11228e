"""Faults an attacker and an operator found, each fixed (issue: at-least-once by default)."""

import time
from types import SimpleNamespace

import pytest
from django.db import connection

import django_jobs
from django_jobs.models import FuncMap, Job, JobLog, JobRun
from django_jobs.queue import functions
from django_jobs.states import JobState
from tests.conftest import drain
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
