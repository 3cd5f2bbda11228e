"""Jobs for the tests of progress and metadata, and of atomic jobs."""

import time
from pathlib import Path

import django_jobs

from .models import Execution


def _wait_for(path, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not Path(path).exists() and time.monotonic() < deadline:
        time.sleep(0.02)


@django_jobs.job(takes_context=True)
def counts(context, total, until=None):
    """Saves its progress at each step, then waits for the file ``until`` (if given) before it returns."""
    for done in range(1, total + 1):
        context.metadata.update(progress=done, total=total)
        context.save_metadata()
    if until:
        _wait_for(until)
    return total


@django_jobs.job(takes_context=True, atomic=True)
def atomic_counts(context, total, until=None):
    """``counts``, atomic."""
    return counts.call(context, total, until)


@django_jobs.job(takes_context=True, max_attempts=2)
def resumes(context):
    """Saves a stage, fails its first attempt, and returns the metadata its second attempt starts with."""
    started_with = dict(context.metadata)
    context.metadata["stage"] = f"attempt {context.attempt}"
    context.save_metadata()
    if context.attempt == 1:
        raise RuntimeError("first attempt fails")
    return started_with


@django_jobs.job(takes_context=True)
def bad_metadata(context, catch=False):
    """Puts a set (not JSON) in its metadata; with ``catch``, returns the error's message."""
    context.metadata["tags"] = {"a", "b"}
    if not catch:
        return context.save_metadata()
    try:
        context.save_metadata()
    except TypeError as e:
        return str(e)
    return None


@django_jobs.job(takes_context=True, atomic=True)
def atomic_write(context, label, fail=False, sleep=0.0, started=None, progress=False):
    """
    Atomic: writes an Execution, then (attempt 1 only) touches the file ``started`` and
    sleeps ``sleep`` seconds; raises if ``fail``. ``progress``: saves its metadata first.
    """
    if progress:
        context.metadata["progress"] = 1
        context.save_metadata()
    Execution.objects.create(job_id=context.job_id, attempt=context.attempt, worker_id=context.worker_id, label=label)
    if context.attempt == 1:
        if started:
            Path(started).touch()
        if sleep:
            time.sleep(sleep)
    if fail:
        raise RuntimeError(f"{label} fails")
    return label


@django_jobs.job(takes_context=True)
def plain_write(context, label, fail=False):
    """Not atomic: writes an Execution, then raises if ``fail``."""
    Execution.objects.create(job_id=context.job_id, attempt=context.attempt, worker_id=context.worker_id, label=label)
    if fail:
        raise RuntimeError(f"{label} fails")
    return label


@django_jobs.job(takes_context=True)
async def counts_async(context, total):
    """``counts`` for an async job: ``await context.asave_metadata()``."""
    for done in range(1, total + 1):
        context.metadata.update(progress=done, total=total)
        await context.asave_metadata()
    return total
