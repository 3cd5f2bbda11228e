"""Workers that run jobs in child processes (runworker --processes): kill, crash and timeout."""

import signal

import pytest

import django_jobs
from django_jobs.models import Job, JobRun
from django_jobs.states import JobState, RunOutcome
from tests.conftest import wait_until
from tests.testapp import jobs, process_jobs
from tests.testapp.models import Execution

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_jobs_run_in_children_with_the_same_records(workers):
    results = [process_jobs.whoami.enqueue() for _ in range(4)] + [jobs.chatty.enqueue(3), jobs.boom.enqueue()]
    proc = workers.burst("--processes", "--concurrency", "2")
    assert proc.returncode == 0, proc.stderr
    pids = {Job.objects.get(pk=r.id).return_value for r in results[:4]}
    assert len(pids) <= 2 and all(isinstance(p, int) for p in pids)
    assert [line.message for line in django_jobs.logs(results[4].id)] == ["starting with 3", "halfway"]
    assert Job.objects.get(pk=results[5].id).state == JobState.FAILED


def test_a_cancelled_job_that_ignores_it_is_killed(workers):
    r = process_jobs.stubborn.enqueue()
    proc = workers.start("--processes")
    wait_until(lambda: Execution.objects.filter(label="stubborn").exists(), message="the job to start")
    django_jobs.cancel(r.id)
    wait_until(lambda: "killed after cancellation" in workers.output(proc), timeout=20, message="the kill")
    job = Job.objects.get(pk=r.id)
    assert job.state == JobState.CANCELLED and job.runs.get().outcome == RunOutcome.CANCELLED
    after = jobs.add.enqueue(1, 2)  # the worker carries on with a new child
    wait_until(lambda: Job.objects.get(pk=after.id).state == JobState.SUCCEEDED, timeout=30, message="the next job")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0


def test_a_job_that_exits_the_interpreter_fails_and_the_worker_survives(workers):
    r = process_jobs.exits_hard.enqueue(7)
    after = jobs.add.enqueue(2, 3)
    proc = workers.burst("--processes", "--concurrency", "1")
    assert proc.returncode == 0, proc.stderr
    job = Job.objects.get(pk=r.id)
    assert job.state == JobState.FAILED and job.attempts == 2
    runs = list(JobRun.objects.filter(job=job).order_by("attempt"))
    assert [run.outcome for run in runs] == [RunOutcome.FAILED, RunOutcome.FAILED]
    assert runs[0].exception_class_path == "django_jobs.exceptions.WorkerLost"
    assert "exited with code 7" in runs[0].message
    assert Job.objects.get(pk=after.id).state == JobState.SUCCEEDED


def test_a_job_that_never_returns_is_killed_after_its_max_work_duration(workers):
    r = process_jobs.never_returns.enqueue()
    proc = workers.burst("--processes")
    assert proc.returncode == 0, proc.stderr
    job = Job.objects.get(pk=r.id)
    assert job.state == JobState.FAILED
    run = job.runs.get()
    assert run.exception_class_path == "django_jobs.exceptions.JobTimeout" and "max_work_duration" in run.message


def test_sigterm_kills_what_does_not_finish_in_the_grace_period(workers):
    r = process_jobs.stubborn.enqueue()
    proc = workers.start("--processes", "--grace-period", "0.5")
    wait_until(lambda: Execution.objects.filter(label="stubborn").exists(), message="the job to start")
    child_pid = int(Execution.objects.get(label="stubborn").worker_id)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0
    job = Job.objects.get(pk=r.id)
    assert job.state == JobState.READY and job.runs.get().outcome == RunOutcome.RELEASED
    import os

    with pytest.raises(ProcessLookupError):
        os.kill(child_pid, 0)


def test_a_job_that_eats_memory_fails_and_the_worker_goes_on(workers):
    r = process_jobs.hog.enqueue(4096)
    after = process_jobs.whoami.enqueue()
    proc = workers.burst("--processes", "--concurrency", "1")
    assert proc.returncode == 0, proc.stderr
    run = JobRun.objects.get(job_id=r.id)
    assert Job.objects.get(pk=r.id).state == JobState.FAILED and run.exception_class_path == "builtins.MemoryError"
    assert Job.objects.get(pk=after.id).state == JobState.SUCCEEDED


def test_a_child_is_recycled_after_child_max_jobs(workers):
    results = [process_jobs.whoami.enqueue() for _ in range(3)]
    proc = workers.burst("--processes", "--concurrency", "1", env={"DJANGO_JOBS_CHILD_MAX_JOBS": "1"})
    assert proc.returncode == 0, proc.stderr
    assert len({Job.objects.get(pk=r.id).return_value for r in results}) == 3


def test_a_child_holding_too_much_memory_is_recycled(workers):
    leak = process_jobs.keeps_memory.enqueue(200)
    after = process_jobs.whoami.enqueue()
    proc = workers.burst("--processes", "--concurrency", "1", env={"DJANGO_JOBS_CHILD_MAX_RSS_MB": "150"})
    assert proc.returncode == 0, proc.stderr
    assert Job.objects.get(pk=leak.id).return_value != Job.objects.get(pk=after.id).return_value
