"""Where the admin finds the jobs: the database and queues of the django_jobs backends in TASKS."""

from django.db import router

from ..backend import DatabaseBackend
from ..compat import task_backends
from ..models import Job


def jobs_database():
    """
    The alias the job tables live in: that of the first django_jobs backend in
    TASKS (``OPTIONS['DATABASE']``, else the routers' choice).
    """
    for alias in task_backends:
        backend = task_backends[alias]
        if isinstance(backend, DatabaseBackend):
            return backend.database
    return router.db_for_write(Job)


def configured_queues(using):
    """Queue names of the TASKS backends whose jobs live in ``using``."""
    names = set()
    for alias in task_backends:
        backend = task_backends[alias]
        if isinstance(backend, DatabaseBackend) and backend.database == using:
            names.update(backend.queues)
    return names


def jobs_backend_alias(using):
    """The TASKS alias of the first django_jobs backend whose jobs live in ``using`` (None if none does)."""
    for alias in task_backends:
        backend = task_backends[alias]
        if isinstance(backend, DatabaseBackend) and backend.database == using:
            return alias
    return None
