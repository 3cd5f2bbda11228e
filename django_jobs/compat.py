"""
Django's Tasks framework, from wherever this site has it.

Django 6.0 and later ship Tasks as ``django.tasks``. On Django 5.2 LTS the
same API comes from the ``django-tasks`` backport (import name
``django_tasks``): install it with ``pip install "django-jobs-db[django52]"``.
Every other module of django_jobs imports the Tasks names from here, so the
choice is made once, by the Django version in use (on Django 6 the backport is
ignored even if installed: it would be a second, separate ``TASKS`` registry).

What differs between the backport and Django 6, and how it is bridged here:

- The exceptions ``InvalidTask`` and ``InvalidTaskBackend`` are called
  ``InvalidTaskError`` and ``InvalidTaskBackendError`` in the backport; both
  are exported under Django's names.
- ``Task`` is importable from ``django.tasks`` itself on Django 6, only from
  ``django_tasks.base`` in the backport.
- Django 6.0's ``@task`` refuses arguments other than its own; 6.1 and the
  backport pass them to the backend's Task class (django_jobs' options). On
  6.0 ``task`` here does the same.
- ``normalize_json`` lives in ``django.utils.json`` on Django 6 and in
  ``django_tasks.utils`` in the backport.
- Importing ``django.tasks`` connects its signal receivers (among them the one
  that rebuilds the backends when ``TASKS`` changes, as under
  ``override_settings``) and registers its system check. The backport does
  both only in its ``AppConfig.ready()``, that is when ``"django_tasks"`` is in
  ``INSTALLED_APPS``. Importing its ``signals`` and ``checks`` modules here
  does the same, so sites on 5.2 need not add the backport to INSTALLED_APPS
  (adding it does no harm).
- Django logs each task's start and finish on the ``django.tasks`` logger, the
  backport on ``django_tasks``: ``TASKS_LOGGER`` names the one in use.
"""

from dataclasses import replace
from typing import TYPE_CHECKING

import django
from django.core.exceptions import ImproperlyConfigured

if TYPE_CHECKING or django.VERSION >= (6, 0):
    from django.tasks import (
        DEFAULT_TASK_BACKEND_ALIAS,
        Task,
        TaskContext,
        TaskResult,
        TaskResultStatus,
        default_task_backend,
        task,
        task_backends,
    )
    from django.tasks.backends.base import BaseTaskBackend
    from django.tasks.base import TASK_MAX_PRIORITY, TASK_MIN_PRIORITY, TaskError
    from django.tasks.exceptions import InvalidTask, InvalidTaskBackend, TaskResultDoesNotExist, TaskResultMismatch
    from django.tasks.signals import task_enqueued, task_finished, task_started
    from django.utils.json import normalize_json

    #: The import path of the Tasks framework in use, for dotted paths such as
    #: ``f"{TASKS_MODULE}.backends.immediate.ImmediateBackend"``.
    TASKS_MODULE = "django.tasks"
else:
    try:
        import django_tasks  # noqa: F401
    except ImportError as e:
        raise ImproperlyConfigured(
            f"django_jobs needs Django's Tasks framework, which Django {django.get_version()} does not include. "
            'On Django 5.2 install the django-tasks backport: pip install "django-jobs-db[django52]" '
            "(or upgrade to Django 6)."
        ) from e
    from django_tasks import (
        DEFAULT_TASK_BACKEND_ALIAS,
        TaskContext,
        TaskResult,
        TaskResultStatus,
        default_task_backend,
        task,
        task_backends,
    )
    from django_tasks import checks as _checks  # noqa: F401  (registers the backends' system check)
    from django_tasks.backends.base import BaseTaskBackend
    from django_tasks.base import TASK_MAX_PRIORITY, TASK_MIN_PRIORITY, Task, TaskError
    from django_tasks.exceptions import InvalidTaskBackendError as InvalidTaskBackend
    from django_tasks.exceptions import InvalidTaskError as InvalidTask
    from django_tasks.exceptions import TaskResultDoesNotExist, TaskResultMismatch
    from django_tasks.signals import task_enqueued, task_finished, task_started
    from django_tasks.utils import normalize_json

    TASKS_MODULE = "django_tasks"


def _task_passing_options(django_task):
    """
    Django 6.0's ``@task`` takes only its own arguments (priority, queue_name,
    backend, takes_context). Django 6.1 and the backport hand any other keyword
    argument to the backend's Task class, as django_jobs' options
    (``@task(max_attempts=3)``, and ``@django_jobs.job``). On 6.0 the Task is
    made by Django's ``@task``, then copied with those options.
    """

    def task(function=None, **kwargs):
        if "run_after" in kwargs:
            raise TypeError("run_after cannot be set on @task; use .using(run_after=...) when enqueueing.")
        own = {
            name: kwargs.pop(name) for name in ("priority", "queue_name", "backend", "takes_context") if name in kwargs
        }

        def wrapper(f):
            made = django_task(f, **own)
            return replace(made, **kwargs) if kwargs else made

        return wrapper(function) if function else wrapper

    return task


if not TYPE_CHECKING and django.VERSION[:2] == (6, 0):
    task = _task_passing_options(task)

#: The logger the Tasks framework reports each task's start and finish on
#: (failures at ERROR).
TASKS_LOGGER = TASKS_MODULE

__all__ = [
    "DEFAULT_TASK_BACKEND_ALIAS",
    "TASKS_LOGGER",
    "TASKS_MODULE",
    "TASK_MAX_PRIORITY",
    "TASK_MIN_PRIORITY",
    "BaseTaskBackend",
    "InvalidTask",
    "InvalidTaskBackend",
    "Task",
    "TaskContext",
    "TaskError",
    "TaskResult",
    "TaskResultDoesNotExist",
    "TaskResultMismatch",
    "TaskResultStatus",
    "default_task_backend",
    "normalize_json",
    "task",
    "task_backends",
    "task_enqueued",
    "task_finished",
    "task_started",
]
