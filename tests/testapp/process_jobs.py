"""Jobs that misbehave, for workers running jobs in child processes."""

import os
import time

import django_jobs
from django_jobs.compat import task

from .models import Execution


@task(takes_context=True)
def stubborn(context):
    """Ignores cancellation."""
    Execution.objects.create(
        job_id=context.job_id, attempt=context.attempt, worker_id=str(os.getpid()), label="stubborn"
    )
    time.sleep(60)


@django_jobs.job(max_attempts=2)
def exits_hard(code=3):
    Execution.objects.create(job_id=0, attempt=0, worker_id=str(os.getpid()), label="exits_hard")
    os._exit(code)


@django_jobs.job(max_work_duration=1.0)
def never_returns():
    Execution.objects.create(job_id=0, attempt=0, worker_id=str(os.getpid()), label="never_returns")
    time.sleep(3600)


@task
def whoami():
    return os.getpid()


@task(takes_context=True)
def fault_job(context, n, sleep=0.0, fail=False):
    """For fault tests: records each execution; some sleep, some fail once."""
    Execution.objects.create(job_id=context.job_id, attempt=context.attempt, worker_id=context.worker_id, label="fault")
    if sleep:
        time.sleep(sleep)
    if fail and context.attempt == 1:
        raise RuntimeError(f"job {n} fails its first attempt")
    return n


@task
def hog(megabytes):
    """Allocates far more than the child's memory limit."""
    return len(bytearray(megabytes * 2**20))


_kept = []


@task
def keeps_memory(megabytes):
    """Allocates memory and keeps it after returning (a leak); returns the child's pid."""
    _kept.append(bytearray(megabytes * 2**20))
    return os.getpid()
