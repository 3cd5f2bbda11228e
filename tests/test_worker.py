"""Real worker processes: `manage.py runworker` as subprocesses over the test database."""

import signal
import time

import pytest
from django.db.models import Count

import django_jobs
from django_jobs.models import Job, JobRun
from django_jobs.states import JobState, RunOutcome
from tests.conftest import wait_until
from tests.factories import FuncMapFactory, JobFactory
from tests.testapp import jobs
from tests.testapp.models import Execution

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def states():
    return dict(Job.objects.values_list("state").annotate(n=Count("id")))


def test_burst_runs_every_due_job_and_exits_0(workers):
    ids = [jobs.record.enqueue(f"r{i}").id for i in range(20)]
    jobs.send_email.enqueue("x@example.com")
    jobs.boom.enqueue()
    gone = JobFactory(func=FuncMapFactory(path="tests.testapp.jobs.renamed_since"))
    evil = JobFactory(func=FuncMapFactory(path="os.system"), args=["echo pwned"])
    proc = workers.burst("--concurrency", "3")
    assert proc.returncode == 0, proc.stderr
    assert states() == {"succeeded": 21, "failed": 3}
    assert Execution.objects.count() == 20
    assert set(Execution.objects.values_list("job_id", flat=True)) == {int(i) for i in ids}
    for job, expected in ((gone, "cannot be imported"), (evil, "is not a task")):
        run = JobRun.objects.get(job=job)
        assert run.exception_class_path == "django_jobs.exceptions.InvalidJobType"
        assert expected in run.message
    log = proc.stderr
    assert f"Job {ids[0]} tests.testapp.jobs.record attempt 1 started" in log
    assert f"Job {ids[0]} tests.testapp.jobs.record attempt 1 succeeded in" in log


def test_queue_option_limits_what_a_worker_takes(workers):
    email = jobs.send_email.enqueue("x@example.com")
    other = jobs.add.enqueue(1, 2)
    assert workers.burst("--queue", "emails").returncode == 0
    assert Job.objects.get(pk=email.id).state == JobState.SUCCEEDED
    assert Job.objects.get(pk=other.id).state == JobState.READY


def test_bad_command_line_is_refused(workers):
    proc = workers.burst("--queue", "nope")
    assert proc.returncode != 0 and "Unknown queue(s) ['nope']" in proc.stderr
    proc = workers.burst("--concurrency", "0")
    assert proc.returncode != 0 and "--concurrency must be at least 1" in proc.stderr


def test_sigterm_lets_running_jobs_finish_and_exits_0(workers):
    r = jobs.record.enqueue("slow", sleep=1.5)
    proc = workers.start("--concurrency", "2")
    wait_until(lambda: Execution.objects.exists(), message="the job to start")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0, workers.output(proc)
    job = Job.objects.get(pk=r.id)
    assert job.state == JobState.SUCCEEDED and job.worker_id is not None
    assert "Received SIGTERM" in workers.output(proc)


def test_sigterm_releases_what_does_not_finish_in_the_grace_period(workers):
    r = jobs.record.enqueue("too-slow", sleep=30)
    proc = workers.start("--grace-period", "0.5")
    wait_until(lambda: Execution.objects.exists(), message="the job to start")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0, workers.output(proc)
    job = Job.objects.get(pk=r.id)
    assert (job.state, job.worker_id, job.grabbed_until, job.attempts_left) == (JobState.READY, None, None, 1)
    assert job.runs.get().outcome == RunOutcome.RELEASED


def test_a_killed_workers_job_is_taken_back_and_finished_by_another(workers):
    short_lease = {"DJANGO_JOBS_LEASE_SECONDS": "1"}
    r = jobs.record.using().enqueue("victim", sleep=2)
    Job.objects.filter(pk=r.id).update(max_attempts=2, attempts_left=2)
    doomed = workers.start(env=short_lease)
    wait_until(lambda: Execution.objects.exists(), message="the job to start")
    doomed.send_signal(signal.SIGKILL)
    doomed.wait(10)
    rescuer = workers.start(env=short_lease)
    wait_until(lambda: Job.objects.get(pk=r.id).state == JobState.SUCCEEDED, timeout=30, message="the rescue")
    rescuer.send_signal(signal.SIGTERM)
    assert rescuer.wait(20) == 0
    runs = list(JobRun.objects.filter(job_id=r.id).order_by("attempt").values_list("outcome", "worker_id"))
    assert [o for o, _ in runs] == [RunOutcome.LOST, RunOutcome.SUCCEEDED]
    assert runs[0][1] != runs[1][1]
    # It ran twice only because its first worker died; it succeeded once.
    assert Execution.objects.filter(job_id=r.id).count() == 2
    assert JobRun.objects.filter(job_id=r.id, outcome=RunOutcome.SUCCEEDED).count() == 1


def test_racing_workers_never_run_an_attempt_twice(workers):
    """Four workers, all up and idle, woken at once by 150 jobs committed together."""
    total = 150
    procs = [workers.start("--concurrency", "4") for _ in range(4)]
    wait_until(
        lambda: all(" started: queues=" in workers.output(proc) for proc in procs), message="the workers to start"
    )
    django_jobs.enqueue_many([(jobs.record, (f"race{i}",), {"sleep": 0.01}) for i in range(total)])
    wait_until(lambda: states() == {"succeeded": total}, message="the drain")
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, workers.output(proc)
    per_job = Execution.objects.values("job_id").annotate(n=Count("id"))
    assert len(per_job) == total and all(row["n"] == 1 for row in per_job)
    assert JobRun.objects.count() == total
    assert JobRun.objects.filter(outcome=RunOutcome.SUCCEEDED).count() == total
    assert len(set(Execution.objects.values_list("worker_id", flat=True))) >= 2


def test_an_idle_worker_picks_up_new_jobs(workers):
    proc = workers.start()
    time.sleep(1.0)
    r = jobs.add.enqueue(20, 22)
    wait_until(lambda: Job.objects.get(pk=r.id).state == JobState.SUCCEEDED, timeout=20, message="pick-up")
    proc.send_signal(signal.SIGINT)
    assert proc.wait(20) == 0


def test_a_killed_scheduler_leader_is_replaced_quickly(workers):
    leader = workers.start()
    wait_until(lambda: "took scheduler leadership" in workers.output(leader), message="a leader")
    follower = workers.start()
    wait_until(lambda: "started" in workers.output(follower), message="the second worker")
    time.sleep(0.5)
    assert "took scheduler leadership" not in workers.output(follower)
    leader.send_signal(signal.SIGKILL)
    leader.wait(10)
    killed_at = time.monotonic()
    wait_until(lambda: "took scheduler leadership" in workers.output(follower), timeout=10, message="the takeover")
    takeover = time.monotonic() - killed_at
    print(f"\nscheduler leadership taken over {takeover:.2f}s after the leader was killed")
    assert takeover < 5  # SCHEDULER_INTERVAL is 0.2 s in the tests
    follower.send_signal(signal.SIGTERM)
    assert follower.wait(20) == 0


def test_a_drain_records_every_job_once_and_sigterm_gives_back_what_was_claimed_ahead(workers):
    """
    Short jobs are recorded in batches and claimed ahead (PREFETCH); stopping
    mid-drain records the finished ones and releases the rest, attempt unspent.
    """
    ids = [r.id for r in (jobs.record.enqueue(f"b{i}", sleep=0.005) for i in range(400))]
    proc = workers.start("--concurrency", "2")
    wait_until(lambda: Execution.objects.count() >= 100, message="the drain to get going")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0, workers.output(proc)
    assert not Job.objects.filter(state=JobState.RUNNING).exists()
    assert not JobRun.objects.filter(outcome=RunOutcome.RUNNING).exists()
    executed = set(Execution.objects.values_list("job_id", flat=True))
    succeeded = set(Job.objects.filter(state=JobState.SUCCEEDED).values_list("pk", flat=True))
    assert succeeded == executed and Execution.objects.count() == len(executed)  # each ran once, each recorded
    released = Job.objects.filter(runs__outcome=RunOutcome.RELEASED)
    assert all(job.state == JobState.READY and job.attempts_left == 1 for job in released)
    # Burst workers finish the rest; every job once.
    assert workers.burst("--concurrency", "2").returncode == 0
    assert states() == {"succeeded": 400}
    assert sorted(Execution.objects.values_list("job_id", flat=True)) == sorted(int(i) for i in ids)
    assert JobRun.objects.filter(outcome=RunOutcome.SUCCEEDED).count() == 400
