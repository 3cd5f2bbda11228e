"""
Workers that keep no session state (``OPTIONS['POOLED']``), as behind PgBouncer in
transaction mode: leadership by a lease row, wake-ups and cancels by polling, no
session advisory lock. On ``DJANGO_JOBS_TEST_DB=pgbouncer`` every worker here goes
through the pooler; on ``postgres``, the workers are told POOLED and connect directly.
"""

import os
import signal
import time

import pytest
from django.db import connection, connections

import django_jobs
from django_jobs.db import get_ops
from django_jobs.db.postgresql_sessions import LEADER_LOCK_KEY, WORKER_LOCK_SPACE
from django_jobs.db.sessions import Sessions
from django_jobs.models import Job, LeaderLease, Worker
from django_jobs.states import JobState, RunOutcome
from tests.conftest import wait_until
from tests.testapp import jobs
from tests.testapp.models import Execution

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="transaction poolers are PostgreSQL's"),
    pytest.mark.django_db(transaction=True),
]

POOLED = {"DJANGO_JOBS_POOLED": "1"}


def leaders(lease=30.0):
    ops = get_ops("default", Sessions(pooled=True, leader_lease=lease))
    return ops.leadership("a"), ops.leadership("b")


# -- the lease ----------------------------------------------------------------------------------------


def test_a_lease_leads_one_worker_at_a_time():
    first, second = leaders()
    assert first.acquire() is True
    assert second.acquire() is False


def test_the_leader_keeps_its_lease_while_it_renews_it():
    first, second = leaders()
    first.acquire()
    second.acquire()
    assert first.acquire() is True


def test_an_expired_lease_passes_to_another_worker():
    first, second = leaders(lease=0.2)
    first.acquire()
    time.sleep(0.3)  # the leader died: no renewal
    assert second.acquire() is True


def test_a_leader_whose_lease_was_taken_knows_it_lost():
    first, second = leaders(lease=0.2)
    first.acquire()
    time.sleep(0.3)
    second.acquire()
    assert first.acquire() is False


def test_a_released_lease_passes_at_once():
    first, second = leaders()
    first.acquire()
    first.release()
    assert second.acquire() is True


# -- pooled workers -------------------------------------------------------------------------------------


def worker_pid(worker_id):
    return int(worker_id.split(":")[1])


def lease_holder():
    lease = LeaderLease.objects.filter(name="scheduler").first()
    return lease.holder if lease else None


@pytest.mark.slow
def test_leadership_moves_to_another_worker_when_the_leader_dies(workers):
    procs = {proc.pid: proc for proc in (workers.start(env=POOLED), workers.start(env=POOLED))}
    wait_until(lambda: lease_holder() is not None, message="a leader")
    leader = lease_holder()
    procs[worker_pid(leader)].send_signal(signal.SIGKILL)  # no goodbye: its lease must expire
    wait_until(lambda: lease_holder() not in (None, leader), timeout=30, message="another leader")
    assert worker_pid(lease_holder()) in procs


@pytest.mark.slow
def test_two_pooled_workers_never_both_lead(workers):
    procs = [workers.start(env=POOLED) for _ in range(3)]
    wait_until(lambda: lease_holder() is not None, message="a leader")
    time.sleep(2)  # a dozen scheduler ticks each
    took = [proc for proc in procs if "took scheduler leadership" in workers.output(proc)]
    assert len(took) == 1


def test_a_pooled_worker_picks_up_jobs_by_polling(workers):
    workers.start(env=POOLED)
    wait_until(lambda: lease_holder() is not None, message="the worker to start")
    result = jobs.add.enqueue(2, 3)  # enqueued after it started waiting: no NOTIFY reaches it
    wait_until(lambda: Job.objects.get(pk=result.id).state == JobState.SUCCEEDED, message="the job to run")
    assert Job.objects.get(pk=result.id).return_value == 5


def test_cancelling_reaches_a_job_running_on_a_pooled_worker(workers):
    result = jobs.wait_for_cancel.enqueue()
    proc = workers.start(env=POOLED)
    wait_until(lambda: Execution.objects.filter(label="waiting").exists(), message="the job to start")
    django_jobs.cancel(result.id)
    wait_until(lambda: "dropped (no longer claimed)" in workers.output(proc), timeout=10, message="the job to stop")
    assert Job.objects.get(pk=result.id).runs.get().outcome == RunOutcome.CANCELLED


def advisory_locks():
    """Every advisory lock held in this database, by any session: pg_locks, read directly."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT classid, objid, objsubid, pid FROM pg_locks WHERE locktype = 'advisory'"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        return cursor.fetchall()


def test_pooled_workers_hold_no_session_advisory_lock(workers):
    for _ in range(2):
        workers.start(env=POOLED)
    wait_until(lambda: lease_holder() is not None, message="a leader")
    jobs.add.enqueue(1, 1)
    wait_until(lambda: not Job.objects.filter(state__in=[JobState.READY, JobState.RUNNING]).exists())
    # Theirs only: through PgBouncer, a test that ran a worker without POOLED earlier may have left its
    # locks on a pooled server connection (the very leak POOLED prevents).
    registered = set(Worker.objects.values_list("pk", flat=True))
    liveness = {
        objid for classid, objid, objsubid, _pid in advisory_locks() if (classid, objsubid) == (WORKER_LOCK_SPACE, 2)
    }
    assert liveness & registered == set()


def test_a_worker_without_pooling_holds_its_liveness_lock(workers):
    """The check above would see one: the test of the test."""
    workers.start(env={"DJANGO_JOBS_POOLED": "0"})
    if os.environ.get("DJANGO_JOBS_TEST_DB") == "pgbouncer":
        pytest.skip("through PgBouncer every worker is POOLED (tests/settings.py)")
    wait_until(lambda: advisory_locks() != [], message="the worker's session locks")


@pytest.mark.skipif("direct" not in connections, reason="needs a direct alias beside a pooled one (pgbouncer)")
def test_a_pooled_worker_with_a_listen_database_holds_its_locks_there(workers):
    workers.start(env={**POOLED, "DJANGO_JOBS_LISTEN_DATABASE": "direct"})
    result = jobs.add.enqueue(2, 2)
    wait_until(lambda: Job.objects.get(pk=result.id).state == JobState.SUCCEEDED, message="the job to run")
    held = {(classid, objsubid) for classid, _objid, objsubid, _pid in advisory_locks()}
    assert held == {(WORKER_LOCK_SPACE, 2), (LEADER_LOCK_KEY >> 32, 1)}  # its liveness lock; the leader's
