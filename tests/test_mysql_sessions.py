"""
MariaDB/MySQL: the scheduler leader and each worker's liveness hold named
locks (``GET_LOCK``) on connections of their own; the server drops a lock
with its connection.
"""

import threading

import pytest
from django.db import connection

from django_jobs.db import get_ops
from django_jobs.db.mysql_sessions import LOCK_NAME_LENGTH, lock_name
from tests.conftest import wait_until

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "mysql", reason="named locks are MariaDB's and MySQL's"),
]


@pytest.fixture
def leaderships():
    made = []

    def leadership():
        made.append(get_ops("default").leadership("w"))
        return made[-1]

    yield leadership
    for leadership_ in made:
        leadership_.release()


def test_one_leader_at_a_time(leaderships):
    first, second = leaderships(), leaderships()
    assert (first.acquire(), second.acquire()) == (True, False)


def test_a_leader_keeps_leading(leaderships):
    first = leaderships()
    first.acquire()
    assert first.acquire() is True


def test_a_released_leadership_goes_to_the_next(leaderships):
    first, second = leaderships(), leaderships()
    first.acquire()
    first.release()
    assert second.acquire() is True


def test_a_listening_worker_is_alive_until_its_listener_closes():
    ops = get_ops("default")
    listener = ops.listener(threading.Event(), worker_pk=41)
    listener.wait(0)
    alive = ops.workers_alive([(41, "host", 1), (42, "host", 2)])
    listener.close()
    assert alive == {41}
    # The server ends a closed connection's session (and its locks) a moment after the client leaves.
    wait_until(lambda: not ops.workers_alive([(41, "host", 1)]), timeout=5, message="the lock to go")


def test_a_long_database_name_keeps_lock_names_within_the_limit():
    assert len(lock_name("worker", "d" * 200, ":123456789")) <= LOCK_NAME_LENGTH


def test_lock_names_of_two_databases_differ():
    assert lock_name("leader", "d" * 200 + "a") != lock_name("leader", "d" * 200 + "b")
