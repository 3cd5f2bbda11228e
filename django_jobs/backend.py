"""``django.tasks`` backend: translates Tasks and TaskResults to Job rows, through the queue service."""

from django.db import transaction

from . import queue
from .compat import BaseTaskBackend, task_enqueued
from .conf import Options
from .exceptions import InvalidJobType, QueueNotFound
from .models import JobRun
from .results import task_result
from .task import JobTask, resolve_task
from .validation import check_schema_is_valid


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
        return queue.database_for(self.job_options)

    def validate_task(self, task):
        if self.queues and task.queue_name not in self.queues:
            raise QueueNotFound(
                f"Queue {task.queue_name!r} is not in TASKS[{self.alias!r}]['QUEUES'] ({sorted(self.queues)})."
            )
        super().validate_task(task)
        if isinstance(task, JobTask):
            if task.max_attempts is not None and (not isinstance(task.max_attempts, int) or task.max_attempts < 1):
                raise InvalidJobType(f"max_attempts must be an integer >= 1, not {task.max_attempts!r}.")
            if task.backoff is not None and not callable(task.backoff):
                raise InvalidJobType(f"backoff must be callable, not {task.backoff!r}.")
            if task.concurrency_limit is not None and (
                not isinstance(task.concurrency_limit, int) or task.concurrency_limit < 1
            ):
                raise InvalidJobType(f"concurrency_limit must be an integer >= 1, not {task.concurrency_limit!r}.")
            check_schema_is_valid(task)
            for name in ("uniqkey", "coalesce"):
                value = getattr(task, name)
                if value is not None and (not isinstance(value, str) or not value or len(value) > 255):
                    raise InvalidJobType(f"{name} must be a non-empty string of at most 255 characters, not {value!r}.")

    def enqueue(self, task, args, kwargs):
        return self._announce(task, queue.enqueue(task, args, kwargs, using=self.database))

    def enqueue_many(self, calls):
        """
        Enqueue ``(task, args, kwargs)`` triples in one transaction and one
        write (``queue.insert_many``). Returns their results in order; nothing
        is written if any is invalid.
        """
        calls = [(task, tuple(args), dict(kwargs)) for task, args, kwargs in calls]
        # Each distinct task is checked once, not once per job.
        for task in {id(task): task for task, _args, _kwargs in calls}.values():
            if task.get_backend() is not self:
                raise InvalidJobType(f"{task.module_path} uses backend {task.backend!r}, not {self.alias!r}.")
            self.validate_task(task)
            queue.check_registered(task)
        with transaction.atomic(using=self.database):
            func_ids: dict[str, int] = {}  # one FuncMap look-up per function, not per job
            built = [
                queue.build_job(task, args, kwargs, using=self.database, func_ids=func_ids, task_checked=True)
                for task, args, kwargs in calls
            ]
            enqueued = queue.insert_many(built, using=self.database)
        tasks: dict = {}  # jobs enqueued alike share their TaskResult's task
        return [self._announce(task, e, tasks) for (task, _a, _k), e in zip(calls, enqueued)]

    def _announce(self, task, enqueued, tasks=None):
        if enqueued.created:
            # The row was inserted: state and times are what was just written.
            result = task_result(enqueued.job, task, [], tasks=tasks)
        else:
            result = self._result(enqueued.job, created=False)
        task_enqueued.send(type(self), task_result=result)
        return result

    def get_result(self, result_id):
        return self._result(queue.get_job(result_id, using=self.database))

    def _result(self, job, *, created=True):
        task = resolve_task(job.func.path)
        runs = list(JobRun.objects.using(self.database).filter(job_id=job.pk).order_by("attempt"))
        return task_result(job, task, runs, created=created)
