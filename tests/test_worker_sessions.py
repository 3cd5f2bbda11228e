"""An in-process worker gives back every database session it opened (PostgreSQL and MariaDB count them)."""

import dataclasses

import pytest
from django.db import connection

from django_jobs.compat import task_backends
from django_jobs.worker import Worker
from tests.testapp import jobs

pytestmark = pytest.mark.django_db(transaction=True)


def other_sessions():
    with connection.cursor() as cursor:
        if connection.vendor == "mysql":
            cursor.execute(
                "SELECT count(*) FROM information_schema.PROCESSLIST WHERE DB = DATABASE() AND ID <> CONNECTION_ID()"
            )
        else:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        return cursor.fetchone()[0]


@pytest.mark.skipif(connection.vendor == "sqlite", reason="SQLite has no sessions to count")
def test_an_in_process_worker_leaves_no_session_behind_once_it_stops():
    backend = task_backends["default"]
    jobs.slow.enqueue(0.5)  # long enough for its heartbeat thread to use the database
    before = other_sessions()
    options = dataclasses.replace(backend.job_options, WORKER_HEARTBEAT=0.05)
    Worker(using=backend.database, options=options, burst=True, concurrency=1).run()
    assert other_sessions() == before
