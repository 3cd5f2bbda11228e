"""
Fault injection (short version, run in CI): workers SIGKILLed at random while they drain jobs,
and (PostgreSQL) the database restarted under load. Each test asserts on the final database
state and prints a summary: jobs, kills, restarts, lost (must be 0), duplicates and why.
"""

import os
import random
import signal
import subprocess
import time

import pytest
from django.db import OperationalError, connection, connections
from django.db.models import Count

import django_jobs
from django_jobs.models import Job, JobRun
from django_jobs.states import JobState, RunOutcome
from tests.conftest import ROOT, wait_until
from tests.testapp import process_jobs
from tests.testapp.models import Execution

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

FAST_LEASE = {"DJANGO_JOBS_LEASE_SECONDS": "1.5"}
#: The short version runs in CI; scripts/faults sets these for the long one.
JOBS = int(os.environ.get("DJANGO_JOBS_FAULT_JOBS", "400"))
KILLS = int(os.environ.get("DJANGO_JOBS_FAULT_KILLS", "8"))
RESTARTS = int(os.environ.get("DJANGO_JOBS_FAULT_RESTARTS", "2"))
TIMEOUT = float(os.environ.get("DJANGO_JOBS_FAULT_TIMEOUT", "150"))


def enqueue_load(total):
    calls = []
    for n in range(total):
        sleep = 0.3 if n % 10 == 0 else 0.0
        calls.append((process_jobs.fault_job.using(max_attempts=10), (n,), {"sleep": sleep, "fail": n % 7 == 0}))
    for start in range(0, total, 500):
        django_jobs.enqueue_many(calls[start : start + 500])


def check_final_state(total, kills=0, restarts=0):
    """Every job ended as its function warrants; print the summary the issue asks for."""
    states = dict(Job.objects.values_list("state").annotate(n=Count("id")))
    lost = total - states.get(JobState.SUCCEEDED, 0)
    succeeded_twice = (
        JobRun.objects.filter(outcome=RunOutcome.SUCCEEDED)
        .values("job_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )
    executions = dict(Execution.objects.filter(label="fault").values_list("job_id").annotate(n=Count("id")))
    reran = {job_id: n for job_id, n in executions.items() if n > 1}
    # A job may run more than once only if an earlier attempt of it failed on purpose, was lost
    # (its worker died or was cut off), or was released.
    explained = set(
        JobRun.objects.filter(
            job_id__in=list(reran), outcome__in=[RunOutcome.FAILED, RunOutcome.LOST, RunOutcome.RELEASED]
        ).values_list("job_id", flat=True)
    )
    print(
        f"\nfault summary: jobs={total} kills={kills} restarts={restarts} lost={lost} "
        f"succeeded-twice={succeeded_twice} re-executed={len(reran)} (all after a failed, lost or released attempt: "
        f"{set(reran) <= explained}) lost-attempts={JobRun.objects.filter(outcome=RunOutcome.LOST).count()}"
    )
    assert states == {JobState.SUCCEEDED: total}
    assert lost == 0 and succeeded_twice == 0
    assert set(reran) <= explained
    assert not JobRun.objects.filter(outcome=RunOutcome.RUNNING).exists()
    assert not Job.objects.exclude(worker_id=None).exclude(state=JobState.SUCCEEDED).exists()


def test_random_sigkills_lose_nothing(workers):
    total = JOBS
    enqueue_load(total)
    rng = random.Random(7)
    procs = [workers.start("--concurrency", "3", env=FAST_LEASE) for _ in range(3)]
    kills = 0
    deadline = time.monotonic() + TIMEOUT
    while Job.objects.exclude(state=JobState.SUCCEEDED).exists():
        assert time.monotonic() < deadline, "the load did not drain"
        time.sleep(rng.uniform(0.3, 1.0))
        if kills < KILLS:
            victim = rng.randrange(len(procs))
            procs[victim].send_signal(signal.SIGKILL)
            procs[victim].wait(10)
            kills += 1
            procs[victim] = workers.start("--concurrency", "3", env=FAST_LEASE)
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    check_final_state(total, kills=kills)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="restarts the PostgreSQL server")
def test_postgresql_restarts_lose_nothing(workers):
    total = max(300, JOBS // 2)
    enqueue_load(total)
    procs = [workers.start("--concurrency", "3", env=FAST_LEASE) for _ in range(2)]
    restarts = 0
    wait_until(lambda: Execution.objects.count() > 20, timeout=60, message="the load to start")
    for _ in range(RESTARTS):
        connections.close_all()
        subprocess.run([str(ROOT / "scripts" / "pgcluster"), "restart-immediate", os.environ["PGHOST"]], check=True)
        restarts += 1
        time.sleep(1.0)
    # An outage: enqueues fail loudly to the caller, and leave nothing behind.
    connections.close_all()
    outage = subprocess.Popen([str(ROOT / "scripts" / "pgcluster"), "outage", os.environ["PGHOST"], "3"])
    time.sleep(1.0)
    with pytest.raises(OperationalError):
        process_jobs.fault_job.enqueue(-1)
    assert outage.wait(60) == 0
    restarts += 1
    connections.close_all()
    wait_until(lambda: not Job.objects.exclude(state=JobState.SUCCEEDED).exists(), timeout=TIMEOUT, message="the drain")
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    # The workers noticed the outage, logged it and carried on.
    assert any("failed" in workers.output(proc) for proc in procs)
    assert not Job.objects.filter(args=[-1]).exists()
    check_final_state(total, restarts=restarts)
