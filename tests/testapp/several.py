"""Tasks of the ``several`` backend, whose jobs are spread over the databases ``default`` and ``jobs2``."""

import time

import django_jobs
from django_jobs.compat import task


@task(backend="several")
def add(a, b):
    return a + b


@django_jobs.job(backend="several", takes_context=True)
def where(context, seconds=0.0):
    """Its result id, read from inside the attempt (says which database it ran from)."""
    time.sleep(seconds)
    return context.task_result.id


@django_jobs.job(backend="several", takes_context=True)
def replaced(context):
    """Replaces itself with ``where``: the replacement goes to this job's database."""
    context.replace_with((where, (), {}))
