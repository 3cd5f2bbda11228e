"""Tasks for tests/test_conformance.py: the behaviours Django's own Tasks tests exercise."""

import sys

import django_jobs
from django_jobs.compat import task


@task
def noop(*args, **kwargs):
    return None


@task
async def noop_async(*args, **kwargs):
    return None


@task
def meaning_of_life():
    return 42


@task
async def async_meaning_of_life():
    return 42


@task
def fails_with_value_error():
    raise ValueError("This task failed due to ValueError")


@task
def fails_with_system_exit():
    raise SystemExit("This task failed due to SystemExit")


@task
def calls_exit():
    sys.exit(1)


@task
def raises_nested_exception():
    raise ValueError(ValueError("This task failed"))


@task
def returns_an_object():
    """Returns something JSON cannot hold: the attempt must fail with a TypeError."""
    return object()


@task(takes_context=True)
def own_id(context):
    return context.task_result.id


@task(takes_context=True)
def attempt_number(context):
    return context.attempt


@task(priority=5)
def prioritized():
    return "done"


@django_jobs.job(takes_context=True, max_attempts=3)
def succeeds_on_third_attempt(context):
    if context.attempt < 3:
        raise RuntimeError(f"attempt {context.attempt} fails")
    return context.attempt
