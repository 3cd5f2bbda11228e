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
from django.utils import timezone

import django_jobs
from django_jobs.models import Job, JobRun
from django_jobs.states import JobState, RunOutcome
from tests.conftest import ROOT, wait_until
from tests.testapp import jobs, process_jobs
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


def database_answers():
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except OperationalError:
        connections.close_all()
        return False


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


def worker_id_of(workers, proc):
    """The worker id a runworker process logged at start-up."""
    wait_until(lambda: " started: queues=" in workers.output(proc), message="the worker to start")
    return workers.output(proc).split("Worker ", 1)[1].split(" started", 1)[0]


def test_sigkills_with_django_defaults_fail_nothing_and_rescue_in_seconds(workers):
    """
    Django's defaults: plain jobs (MAX_ATTEMPTS 1), the default 30 s lease. Every job a killed
    worker held runs again; none fails for a death. Prints how long after each kill its jobs
    were taken back and started again (the worker registry, not the lease, finds the dead).
    """
    total = JOBS
    calls = [(process_jobs.fault_job, (n,), {"sleep": 0.3 if n % 10 == 0 else 0.0}) for n in range(total)]
    for start in range(0, total, 500):
        django_jobs.enqueue_many(calls[start : start + 500])
    rng = random.Random(11)
    procs = [workers.start("--concurrency", "3") for _ in range(3)]
    killed_at = {}  # worker id -> when it was killed (the database's clock is this host's)
    deadline = time.monotonic() + TIMEOUT
    while Job.objects.exclude(state=JobState.SUCCEEDED).exists():
        assert time.monotonic() < deadline, "the load did not drain"
        assert not Job.objects.filter(state=JobState.FAILED).exists(), "a job failed"
        time.sleep(rng.uniform(0.5, 1.5))
        if len(killed_at) < KILLS:
            victim = rng.randrange(len(procs))
            worker_id = worker_id_of(workers, procs[victim])
            procs[victim].send_signal(signal.SIGKILL)
            killed_at[worker_id] = timezone.now()
            procs[victim].wait(10)
            procs[victim] = workers.start("--concurrency", "3")
    for proc in procs:
        worker_id_of(workers, proc)  # a worker still starting up has no SIGTERM handler yet
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    taken_back, started_again = [], []
    for lost in JobRun.objects.filter(outcome=RunOutcome.LOST, worker_id__in=list(killed_at)):
        taken_back.append((lost.finished_at - killed_at[lost.worker_id]).total_seconds())
        after = JobRun.objects.get(job_id=lost.job_id, attempt=lost.attempt + 1)
        started_again.append((after.started_at - killed_at[lost.worker_id]).total_seconds())
    taken_back.sort(), started_again.sort()
    print(
        f"\nrescue after a kill (s, {len(taken_back)} attempts, {len(killed_at)} kills): taken back "
        f"p50={taken_back[len(taken_back) // 2]:.1f} max={taken_back[-1]:.1f}; started again "
        f"p50={started_again[len(started_again) // 2]:.1f} max={started_again[-1]:.1f}"
    )
    check_final_state(total, kills=len(killed_at))
    assert max(taken_back) < 30  # before the lease would have run out: the registry found the dead
    assert not JobRun.objects.filter(outcome=RunOutcome.FAILED).exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="restarts the PostgreSQL server")
@pytest.mark.parametrize("defaults", [False, True], ids=["retries-short-lease", "django-defaults"])
def test_postgresql_restarts_lose_nothing(workers, defaults):
    """
    With ``defaults``: plain jobs (one attempt, none failing on purpose) and the default lease. Their
    function does not touch the database: a job whose own queries meet the outage raises, and with
    one attempt fails, as any job raising an exception does.
    """
    total = max(300, JOBS // 2)
    if defaults:
        calls = [(jobs.slow, (0.3 if n % 10 == 0 else 0.0,), {}) for n in range(total)]
        for start in range(0, total, 500):
            django_jobs.enqueue_many(calls[start : start + 500])
    else:
        enqueue_load(total)
    # A 1.5 s lease runs out during every restart: each one takes back every attempt then running,
    # though no worker died, and a job running at all three disruptions would hit the default cap of
    # 3 lost attempts (the guard against a job that kills its worker, tested in test_lost_attempts)
    # and fail, as seen once under CI's load. Here the cap is out of the way: this test is about the restarts.
    env = {} if defaults else {**FAST_LEASE, "DJANGO_JOBS_MAX_LOST_ATTEMPTS": "10"}
    procs = [workers.start("--concurrency", "3", env=env) for _ in range(2)]
    restarts = 0
    wait_until(
        lambda: Job.objects.filter(state=JobState.SUCCEEDED).count() > 20, timeout=60, message="the load to start"
    )
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
    # Through PgBouncer, a client may be refused for a moment after the server is back (its login retry).
    wait_until(database_answers, timeout=30, message="the database to answer again")
    try:
        wait_until(
            lambda: not Job.objects.exclude(state=JobState.SUCCEEDED).exists(), timeout=TIMEOUT, message="the drain"
        )
    except AssertionError:
        print(dict(Job.objects.values_list("state").annotate(n=Count("id"))))
        print(
            list(
                Job.objects.exclude(state=JobState.SUCCEEDED).values(
                    "id", "state", "worker_id", "grabbed_until", "attempts", "lost_attempts"
                )[:5]
            )
        )
        for proc in procs:
            print(workers.output(proc)[-3000:])
        raise
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    # The workers noticed the outage, logged it and carried on.
    assert any("failed" in workers.output(proc) for proc in procs)
    assert not Job.objects.filter(args=[-1]).exists()
    check_final_state(total, restarts=restarts)
    if defaults:
        assert not JobRun.objects.filter(outcome=RunOutcome.FAILED).exists()
