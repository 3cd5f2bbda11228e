"""``django.tasks`` backend: translates Tasks and TaskResults to Job rows, through the queue service."""

from django.tasks.backends.base import BaseTaskBackend
from django.tasks.signals import task_enqueued

from . import queue
from .conf import Options
from .exceptions import InvalidJobType, QueueNotFound
from .models import JobRun
from .results import task_result
from .task import JobTask, resolve_task


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
    def database(self):
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

    def enqueue(self, task, args, kwargs):
        self.validate_task(task)
        enqueued = queue.enqueue(task, args, kwargs, backend=self.alias, options=self.job_options, using=self.database)
        job = enqueued.job
        if enqueued.created:
            # The row was inserted: state and times are what was just written.
            result = task_result(job, task, [])
        else:
            result = self._result(job)
        task_enqueued.send(type(self), task_result=result)
        return result

    def get_result(self, result_id):
        return self._result(queue.get_job(result_id, using=self.database))

    def _result(self, job):
        try:
            task = resolve_task(job.func.path)
        except InvalidJobType:
            raise
        runs = list(JobRun.objects.using(self.database).filter(job_id=job.pk).order_by("attempt"))
        return task_result(job, task, runs)
