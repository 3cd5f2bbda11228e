"""Running one claimed attempt and reporting its outcome to the queue service."""

import logging
import time
import traceback
from datetime import datetime

from django.tasks.signals import task_finished, task_started
from django.utils.module_loading import import_string

from . import logcapture, queue
from .arguments import as_json
from .exceptions import Decline, InvalidJobArguments, JobNotClaimed, PermanentFailure
from .models import Job, JobRun
from .results import task_result
from .states import JobState
from .task import JobContext, JobTask, resolve_task

logger = logging.getLogger("django_jobs.worker")


def error_info(exc):
    cls = type(exc)
    try:
        message = str(exc)
    except Exception as e:  # an exception whose str() raises
        message = f"<str() of {cls.__qualname__} raised {type(e).__qualname__}>"
    return queue.ErrorInfo(
        exception_class_path=f"{cls.__module__}.{cls.__qualname__}",
        message=message,
        traceback="".join(traceback.format_exception(exc)),
    )


def running_result(claimed, task, using):
    """A TaskResult of the attempt in progress, for context and signals."""
    job = Job(
        pk=claimed.id,
        backend=claimed.backend,
        queue_name=claimed.queue_name,
        priority=claimed.priority,
        args=claimed.args,
        kwargs=claimed.kwargs,
        state=JobState.RUNNING,
        enqueued_at=claimed.enqueued_at,
        started_at=claimed.started_at,
        last_attempted_at=claimed.last_attempted_at,
        run_after=None,
    )
    if claimed.attempt == 1:
        runs = [JobRun(worker_id=claimed.worker_id, attempt=1)]
    else:
        runs = list(JobRun.objects.using(using).filter(job_id=claimed.id).only("worker_id", "outcome", "attempt", "exception_class_path", "traceback"))
    return task_result(job, task, runs)


class Runner:
    """Runs claimed attempts for one worker; safe to call from several threads."""

    def __init__(self, *, using, options):
        self.using = using
        self.options = options

    def run(self, claimed, cancel_event=None):
        started = time.monotonic()
        logger.info("Job %s %s attempt %s started", claimed.id, claimed.func_path, claimed.attempt)
        outcome = self._run(claimed, cancel_event)
        logger.info(
            "Job %s %s attempt %s %s in %.3fs",
            claimed.id,
            claimed.func_path,
            claimed.attempt,
            outcome,
            time.monotonic() - started,
        )
        return outcome

    def _run(self, claimed, cancel_event):
        try:
            task = resolve_task(claimed.func_path)
        except Exception as exc:
            # Unknown or unimportable function: no retry can help.
            return self._report_failure(claimed, exc, None, task=None, permanent=True, logs=())
        result = running_result(claimed, task, self.using)
        task_started.send(sender=type(task.get_backend()), task_result=result)
        with logcapture.capture() as logs:
            try:
                if task.takes_context:
                    context = JobContext(
                        task_result=result,
                        job_id=claimed.id,
                        worker_id=claimed.worker_id,
                        **({"cancel_event": cancel_event} if cancel_event is not None else {}),
                    )
                    value = task.call(context, *claimed.args, **claimed.kwargs)
                else:
                    value = task.call(*claimed.args, **claimed.kwargs)
                value = as_json(value, "the return value")
            except KeyboardInterrupt:
                raise
            except Decline as exc:
                return self._report(claimed, result, "declined", lambda: queue.decline(
                    claimed, run_after=exc.run_after if exc.run_after is not None else self._delay(task, exc, result) or 0,
                    logs=list(logs), using=self.using))
            except InvalidJobArguments as exc:
                return self._report_failure(claimed, exc, result, task=task, permanent=True, logs=logs)
            except BaseException as exc:
                return self._report_failure(claimed, exc, result, task=task, permanent=isinstance(exc, PermanentFailure), logs=logs)
        object.__setattr__(result, "_return_value", value)
        return self._report(claimed, result, "succeeded", lambda: queue.complete(claimed, value, logs=logs, using=self.using))

    def _delay(self, task, exc, result):
        backoff = task.backoff if isinstance(task, JobTask) and task.backoff is not None else self.options.backoff
        if isinstance(backoff, str):
            backoff = import_string(backoff)
        return backoff(exc, result)

    def _report_failure(self, claimed, exc, result, *, task, permanent, logs):
        error = error_info(exc)
        retry_in = None
        if not permanent and claimed.attempts_left > 0 and task is not None:
            try:
                retry_in = self._delay(task, exc, result)
            except Exception:
                logger.exception("Backoff of job %s raised; not retrying", claimed.id)
        exit_status = getattr(exc, "exit_status", 1) if isinstance(exc, PermanentFailure) else 1
        state = None

        def report():
            nonlocal state
            state = queue.fail(claimed, error, retry_in=retry_in, exit_status=exit_status, logs=list(logs), using=self.using)

        outcome = self._report(claimed, result, "failed", report)
        if outcome == "failed" and state == JobState.READY:
            return f"failed (retry in {retry_in:.1f}s)"
        return outcome

    def _report(self, claimed, result, outcome, report):
        try:
            report()
        except JobNotClaimed:
            logger.warning("Job %s attempt %s was taken back or cancelled; its outcome is dropped", claimed.id, claimed.attempt)
            return "dropped (no longer claimed)"
        if result is not None:
            result.refresh()
            task_finished.send(sender=type(result.task.get_backend()), task_result=result)
        return outcome
