"""django.tasks tasks: run by django_jobs and by django-tasks-db (whichever backend TASKS names)."""

from django.tasks import task

from . import jobbodies


def no_backoff(exc, result):
    """django_jobs BACKOFF: retry a failed attempt at once (W5)."""
    return 0


@task
def noop():
    pass


@task
def stamp(i):
    jobbodies.stamp(i)


@task
def flaky(i):
    jobbodies.flaky(i)


@task
def sleepy(i):
    jobbodies.sleepy(i)


@task
def tenant(i):
    """Flow control (FLOW): a no-op enqueued with a fairness_key per tenant."""
