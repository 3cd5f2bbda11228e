"""
``clear_queue`` / ``jobs clear`` beside another writer holding the database's
write lock (SQLite's one writer; a table lock on PostgreSQL; every job row locked on
MariaDB/MySQL): batches commit
one by one, a lock is waited out, and giving up says what is left.
"""

import sqlite3
import threading
import time
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections

from django_jobs import queue
from django_jobs.exceptions import QueueNotCleared
from django_jobs.models import Job
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def impatient_connection():
    """Django's connection waits 0.1 s for a lock, not the settings' 30 s, so a held lock is an error at once."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("PRAGMA busy_timeout = 100")
        elif connection.vendor == "mysql":
            cursor.execute("SET SESSION innodb_lock_wait_timeout = 1")  # whole seconds, at least one
        else:
            cursor.execute("SET lock_timeout = '100ms'")
    yield
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(f"PRAGMA busy_timeout = {int(connection.settings_dict['OPTIONS']['timeout'] * 1000)}")
        elif connection.vendor == "mysql":
            cursor.execute("SET SESSION innodb_lock_wait_timeout = DEFAULT")
        else:
            cursor.execute("RESET lock_timeout")


class WriteLock(threading.Thread):
    """Another connection takes the write lock (BEGIN IMMEDIATE; LOCK TABLE on PostgreSQL), holds it, commits."""

    def __init__(self, seconds):
        super().__init__(daemon=True)
        self.seconds, self.taken = seconds, threading.Event()

    def run(self):
        if connection.vendor == "sqlite":
            other = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
            other.execute("BEGIN IMMEDIATE")
            self.taken.set()
            time.sleep(self.seconds)
            other.execute("COMMIT")
            other.close()
            return
        try:
            with connections["default"].cursor() as cursor:  # this thread's own connection
                cursor.execute("BEGIN")
                if connection.vendor == "mysql":  # LOCK TABLES would commit; row locks block the deletes
                    cursor.execute("SELECT id FROM django_jobs_job FOR UPDATE")
                else:
                    cursor.execute("LOCK TABLE django_jobs_job IN EXCLUSIVE MODE")
                self.taken.set()
                time.sleep(self.seconds)
                cursor.execute("COMMIT")
        finally:
            connections.close_all()

    def hold(self):
        self.start()
        assert self.taken.wait(10)
        return self


def waiting_jobs(n, queue_name="emails"):
    JobFactory.create_batch(n, queue_name=queue_name)


def test_clear_waits_out_a_lock_held_for_a_moment(impatient_connection):
    waiting_jobs(30)
    lock = WriteLock(1.0).hold()
    assert queue.clear_queue("emails", using="default", batch=10, patience=10) == 30
    lock.join()
    assert not Job.objects.filter(queue_name="emails").exists()


def test_clear_gives_up_keeping_the_batches_it_deleted(impatient_connection):
    waiting_jobs(30)
    locks = []

    def lock_after_the_first_batch(deleted):
        if not locks:
            locks.append(WriteLock(2.0).hold())

    with pytest.raises(QueueNotCleared) as e:
        queue.clear_queue("emails", using="default", batch=10, patience=0.3, progress=lock_after_the_first_batch)
    assert (e.value.deleted, e.value.left) == (10, 20)
    assert "20 waiting job(s) are left; run it again to continue" in str(e.value)
    locks[0].join()
    assert queue.clear_queue("emails", using="default", batch=10) == 20


def test_jobs_clear_waits_out_a_lock_and_prints_what_it_deleted(impatient_connection):
    waiting_jobs(5)
    lock = WriteLock(1.0).hold()
    out = StringIO()
    call_command("jobs", "clear", "emails", "--yes", stdout=out)
    lock.join()
    assert out.getvalue() == "Deleted 5 waiting job(s) from queue emails.\n"


def test_jobs_clear_gives_up_saying_how_many_are_left(impatient_connection):
    waiting_jobs(5)
    lock = WriteLock(2.0).hold()
    with pytest.raises(CommandError) as e:
        call_command("jobs", "clear", "emails", "--yes", "--wait", "0.3", stdout=StringIO())
    lock.join()
    assert e.value.returncode == 1
    assert str(e.value).startswith(
        "Deleted 0 waiting job(s) from queue emails, then gave up: the database stayed locked"
    )
    assert str(e.value).endswith("5 waiting job(s) are left; run it again to continue.")


def test_jobs_clear_refuses_a_bad_wait():
    with pytest.raises(CommandError, match=r"--wait must be a finite number of seconds, not nan"):
        call_command("jobs", "clear", "emails", "--yes", "--wait", "nan", stdout=StringIO())
