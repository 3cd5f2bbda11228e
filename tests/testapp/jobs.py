"""Job functions the tests enqueue."""

import asyncio
import logging
import os
import time

import django_jobs
from django_jobs import Decline, PermanentFailure
from django_jobs.compat import task

from .models import Execution

logger = logging.getLogger("tests.jobs")


def quick_backoff(exception, task_result):
    return 0.05


@task
def add(a, b):
    return a + b


@task(queue_name="emails", priority=10)
def send_email(to, subject="hi"):
    return {"to": to, "subject": subject}


@task
def boom(message="boom"):
    raise ValueError(message)


@django_jobs.job(max_attempts=3)
def flaky(fail_times):
    """Fails on its first ``fail_times`` attempts (counted through its Execution rows)."""
    from django_jobs.compat import TaskContext  # noqa: F401

    done = Execution.objects.filter(label=f"flaky-{fail_times}").count()
    Execution.objects.create(job_id=0, attempt=done + 1, worker_id="", label=f"flaky-{fail_times}")
    if done < fail_times:
        raise RuntimeError(f"attempt {done + 1} fails")
    return done + 1


@django_jobs.job(takes_context=True, max_attempts=4)
def context_flaky(context, fail_until):
    if context.attempt < fail_until:
        raise RuntimeError(f"attempt {context.attempt}")
    return {"attempt": context.attempt, "job_id": context.job_id}


@task(takes_context=True)
def record(context, label="", sleep=0.0):
    """Records each real execution; sleeps to simulate work."""
    Execution.objects.create(job_id=context.job_id, attempt=context.attempt, worker_id=context.worker_id, label=label)
    if sleep:
        time.sleep(sleep)
    return os.getpid()


@task
def chatty(n):
    logger.info("starting with %s", n)
    logger.warning("halfway")
    return n


@task
async def async_add(a, b):
    await asyncio.sleep(0.01)
    return a + b


@task
def permanent():
    raise PermanentFailure("cannot ever work", exit_status=3)


@django_jobs.job(max_attempts=2)
def declines_once(marker):
    if not Execution.objects.filter(label=marker).exists():
        Execution.objects.create(job_id=0, attempt=1, worker_id="", label=marker)
        raise Decline(run_after=0)
    return "done"


@task
def returns_set():
    return {1, 2}


@task
def slow(seconds):
    time.sleep(seconds)
    return seconds


def not_a_task():
    return 1


@django_jobs.job(takes_context=True)
def deliver(context, domain, message):
    """Coalesces with waiting deliveries to the same domain (TheSchwartz's example)."""
    batch = [message] + [sibling.args[1] for sibling in context.coalesced(limit=50)]
    Execution.objects.create(
        job_id=context.job_id, attempt=context.attempt, worker_id=context.worker_id, label=f"{domain}:{len(batch)}"
    )
    return sorted(batch)


@django_jobs.job(takes_context=True)
def split(context, parts, bad=False):
    calls = [("tests.testapp.jobs.add", (i, i)) for i in range(parts)]
    if bad:
        calls.append((add.using(queue_name="no-such-queue"), (1, 1)))
    context.replace_with(*calls)
    return f"split into {parts}"


@task(takes_context=True)
def wait_for_cancel(context, seconds=20):
    """Runs until cancelled (or ``seconds`` pass), checking the flag."""
    Execution.objects.create(
        job_id=context.job_id, attempt=context.attempt, worker_id=context.worker_id, label="waiting"
    )
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        context.raise_if_cancelled()
        time.sleep(0.02)
    return "not cancelled"


@task
def printer(n):
    print(f"printed {n}")
    print("no newline", end="")
    return n


@django_jobs.job(keep_for=0)
def forgettable():
    logger.warning("soon gone")
    return 1


@task(backend="immediate")
def elsewhere(a, b):
    """A task of another (not django_jobs) backend: recurring entries must refuse it."""
    return a + b


@task
def interrupts(kind="keyboard"):
    """Raises what usually stops a program: it must end only this attempt."""
    raise KeyboardInterrupt("from the job") if kind == "keyboard" else SystemExit(3)


@task
def nul_bytes(fail=False):
    """Logs, prints and (with ``fail``) raises text holding a NUL character."""
    logger.warning("a log line with a \x00 in it")
    print("a printed line with a \x00 in it")
    if fail:
        raise ValueError("a message with a \x00 in it")
    return "done"


@task
def declines_with(run_after):
    """Declines with the given run_after, as is."""
    raise Decline(run_after=run_after)


def backoff_from_env(exception, task_result):
    """A backoff returning what the job's ``delay`` says, as a float ("nan" too): for bad backoffs."""
    return float(task_result.kwargs["delay"])


@django_jobs.job(max_attempts=3, backoff=backoff_from_env)
def fails_with_backoff(delay):
    raise ValueError("needs a retry")


@task(takes_context=True)
def gather(context, label):
    """Records its execution and returns its label with what the jobs it depends on returned."""
    Execution.objects.create(job_id=context.job_id, attempt=context.attempt, worker_id=context.worker_id, label=label)
    return {"label": label, "saw": context.dependency_results}
