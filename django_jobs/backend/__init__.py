"""
``django.tasks`` backend: translates Tasks and TaskResults to Job rows, and
hands the jobs to the queue service.

``TASKS = {"default": {"BACKEND": "django_jobs.backend.DatabaseBackend"}}``.
"""

import os
import socket
from functools import cached_property

from django.apps import apps
from django.core import checks
from django.db import DEFAULT_DB_ALIAS, transaction

from .. import limits, queue, tracing
from ..attempts import run_and_report
from ..compat import BaseTaskBackend, task_enqueued
from ..conf import Options
from ..exceptions import InvalidJobType, QueueNotFound
from ..reporter import Reporter
from ..results import task_result
from ..runner import Runner
from ..task import JobTask, resolve_task
from ..validation import check_schema_is_valid
from .building import build_job, build_jobs, check_registered, database_for, set_function
from .databases import Databases

__all__ = ["DatabaseBackend"]

#: System check id: a TASKS backend is a DatabaseBackend but django_jobs is not in INSTALLED_APPS.
APP_NOT_INSTALLED = "django_jobs.E009"


class DatabaseBackend(BaseTaskBackend):
    task_class = JobTask

    supports_defer = True
    supports_async_task = True
    supports_get_result = True
    supports_priority = True

    def __init__(self, alias, params):
        super().__init__(alias, params)
        self.job_options = Options.from_dict(alias, self.options)

    @property
    def database(self) -> str:
        """
        The database alias this backend's jobs live in; with several (OPTIONS['DATABASES']),
        the first: the one its recurring jobs go to, and the admin shows.
        """
        if self.job_options.DATABASES:
            return self.job_options.DATABASES[0]
        return database_for(self.job_options)

    @cached_property
    def databases(self) -> list[str]:
        """Every database alias this backend's jobs live in (one, unless OPTIONS['DATABASES'] lists several)."""
        return self.job_options.aliases or [self.database]

    @cached_property
    def placement(self) -> Databases:
        """Which database takes a job, and which one a result id names."""
        return Databases(self.alias, self.databases)

    def locate(self, result_id) -> tuple[str, str | int]:
        """``(database alias, job id)`` of a result id (``"alias:id"`` with several databases)."""
        return self.placement.locate(result_id)

    def _write(self, jobs, action):
        """``action(alias)`` in the database that takes ``jobs`` (a batch goes to one); returns its result."""
        if not self.placement.several:
            return action(self.database)
        required = set().union(*(getattr(job, "depends_on_databases", ()) for job in jobs))
        return self.placement.write(action, self.placement.place(jobs, required))

    def validate_task(self, task):
        if self.queues and task.queue_name not in self.queues:
            raise QueueNotFound(
                f"Queue {task.queue_name!r} is not valid for backend {self.alias!r}: "
                f"TASKS[{self.alias!r}]['QUEUES'] is {sorted(self.queues)}."
            )
        if not isinstance(task.priority, (int, float)) or task.priority != task.priority:
            limits.priority(task.priority)  # "5" or NaN: Django's own check would crash on it
        super().validate_task(task)
        if isinstance(task, JobTask):
            if task.max_attempts is not None:
                limits.attempts(task.max_attempts)
            if task.backoff is not None and not callable(task.backoff):
                raise InvalidJobType(f"backoff must be callable, not {task.backoff!r}.")
            if task.concurrency_limit is not None and (
                not isinstance(task.concurrency_limit, int) or task.concurrency_limit < 1
            ):
                raise InvalidJobType(f"concurrency_limit must be an integer >= 1, not {task.concurrency_limit!r}.")
            if task.rate_limit is not None:
                limits.rate(task.rate_limit)
            elif task.rate_limit_key is not None:
                raise InvalidJobType("rate_limit_key needs a rate_limit (such as '100/m') to count against.")
            for name in ("rate_limit_key", "fairness_key"):
                value = getattr(task, name)
                if (
                    value is not None
                    and not callable(value)
                    and (not isinstance(value, str) or not 0 < len(value) <= 255)
                ):
                    raise InvalidJobType(
                        f"{name} must be a non-empty string of at most 255 characters or a callable, not {value!r}."
                    )
            check_schema_is_valid(task)
            self._check_atomic(task)
            for name in ("uniqkey", "coalesce"):
                value = getattr(task, name)
                if value is not None and (not isinstance(value, str) or not value or len(value) > 255):
                    raise InvalidJobType(f"{name} must be a non-empty string of at most 255 characters, not {value!r}.")

    def _check_atomic(self, task):
        """
        ``atomic=True`` holds only for writes to the jobs database: it must be the
        ``default`` database, the one a job's queries use unless told otherwise.
        """
        if not isinstance(task.atomic, bool):
            raise InvalidJobType(f"atomic must be True or False, not {task.atomic!r}.")
        if not task.atomic:
            return
        if len(self.databases) > 1:
            raise InvalidJobType(
                f"{task.module_path} is atomic, but backend {self.alias!r} spreads its jobs over databases "
                f"{self.databases}: its writes to the default database could not roll back with its attempt in "
                "another one. Drop atomic=True, or use a backend whose jobs live in the default database only."
            )
        if self.database != DEFAULT_DB_ALIAS:
            raise InvalidJobType(
                f"{task.module_path} is atomic, but backend {self.alias!r} keeps its jobs in database "
                f"{self.database!r}, not {DEFAULT_DB_ALIAS!r}: its writes to the default database could not roll "
                "back with its attempt. Keep the jobs in the default database, or drop atomic=True."
            )
        if task.coalesce is not None:
            raise InvalidJobType(
                f"{task.module_path} is atomic and coalesces: the jobs it would claim could not share its transaction."
            )

    def check(self, **kwargs):
        """System checks of this backend (Django's ``check_tasks`` calls it): its jobs need django_jobs' tables."""
        yield from super().check(**kwargs)
        if not apps.is_installed("django_jobs"):
            yield checks.Error(
                f"TASKS[{self.alias!r}] uses django_jobs' DatabaseBackend, but django_jobs is not installed.",
                hint="Add 'django_jobs' to INSTALLED_APPS (its models hold the jobs).",
                obj=self.alias,
                id=APP_NOT_INSTALLED,
            )

    def build_job(self, task, args, kwargs, *, using=None):
        """
        An unsaved, checked Job for ``task(*args, **kwargs)`` (``replace_with`` inserts it
        later) in database ``using`` (default: this backend's only one).
        """
        using = using or self.database
        job = build_job(self, task, args, kwargs, using=using)
        if self.placement.several:
            self.placement.place([job], {using})  # its key must not place it in another database
        return job

    def enqueue(self, task, args, kwargs):
        with tracing.enqueue_span(task.queue_name, task.module_path) as span:
            job = build_job(self, task, args, kwargs)

            def insert(using):
                set_function(job, task.module_path, using)
                return using, queue.insert(job, using=using)

            using, enqueued = self._write([job], insert)
            tracing.sent(span, enqueued.job.pk)
        return self._announce(task, enqueued, using=using)

    def enqueue_many(self, calls):
        """
        Enqueue ``(task, args, kwargs)`` triples in one transaction and one
        write (``queue.insert_many``), in one database. Returns their results
        in order; nothing is written if any is invalid.
        """
        calls = [(task, tuple(args), dict(kwargs)) for task, args, kwargs in calls]
        # Each distinct task is checked once, not once per job.
        for task in {id(task): task for task, _args, _kwargs in calls}.values():
            if task.get_backend() is not self:
                raise InvalidJobType(f"{task.module_path} uses backend {task.backend!r}, not {self.alias!r}.")
            self.validate_task(task)
            check_registered(task)
        with tracing.enqueue_span(None, None) as span:
            tracing.batch_of(span, [task for task, _args, _kwargs in calls])
            built = build_jobs(self, calls)

            def insert(using):
                with transaction.atomic(using=using):
                    func_ids: dict = {}  # one FuncMap look-up per function, not per job
                    for (task, _args, _kwargs), job in zip(calls, built):
                        set_function(job, task.module_path, using, func_ids)
                    return using, queue.insert_many(built, using=using)

            using, enqueued = self._write(built, insert)
        tasks: dict = {}  # jobs enqueued alike share their TaskResult's task
        return [self._announce(task, e, tasks, using=using) for (task, _a, _k), e in zip(calls, enqueued)]

    def run_here(self, task, args, kwargs):
        """
        Enqueue ``task`` already claimed by this process, run it now, record
        how it ended, and return its TaskResult (``django_jobs.enqueue_and_run``).
        """
        from .. import logcapture

        logcapture.install()
        with tracing.enqueue_span(task.queue_name, task.module_path) as span:
            job = build_job(self, task, args, kwargs)

            def add_and_claim(using):
                set_function(job, task.module_path, using)
                claimed = queue.add_and_claim(
                    job,
                    worker_id=f"{socket.gethostname()[:60]}:{os.getpid()}:here",
                    lease=self.job_options.lease,
                    using=using,
                )
                return using, claimed

            using, claimed = self._write([job], add_and_claim)
            tracing.sent(span, claimed.id)
        run_and_report(Runner(using=using, options=self.job_options), Reporter(using=using), claimed)
        return self._result(queue.get_job(claimed.id, using=using), using=using)

    def _announce(self, task, enqueued, tasks=None, *, using):
        if enqueued.created:
            # The row was inserted: state and times are what was just written.
            result = task_result(enqueued.job, task, [], tasks=tasks, database=using)
        else:
            result = self._result(enqueued.job, created=False, using=using)
        task_enqueued.send(type(self), task_result=result)
        return result

    def get_result(self, result_id):
        using, job_id = self.locate(result_id)
        return self._result(queue.get_job(job_id, using=using), using=using)

    def _result(self, job, *, created=True, using):
        task = resolve_task(job.func.path)
        return task_result(job, task, queue.runs(job.pk, using=using), created=created, database=using)
