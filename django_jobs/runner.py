"""Running one claimed attempt and reporting its outcome to the queue service."""

import logging
import os
import socket
import time
import traceback

from django.utils import timezone
from django.utils.module_loading import import_string

from . import logcapture, queue
from .arguments import as_json
from .compat import TaskError, TaskResultStatus, task_finished, task_started
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
    job = Job(  # type: ignore[misc]  # never saved: run_after=None, which the column refuses, is not written
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
        runs = list(
            JobRun.objects.using(using)
            .filter(job_id=claimed.id)
            .only("worker_id", "outcome", "attempt", "exception_class_path", "traceback")
        )
    return task_result(job, task, runs)


class Outcome:
    """How an attempt ended, as the worker reports it to the queue (applied to coalesced siblings too)."""

    def __init__(self, kind, *, value=None, exc=None, retry_in=None, run_after=None, permanent=False):
        self.kind, self.value, self.exc = kind, value, exc
        self.retry_in, self.run_after, self.permanent = retry_in, run_after, permanent


class Runner:
    """Runs claimed attempts for one worker; safe to call from several threads."""

    def __init__(self, *, using, options, track=None, complete_later=None):
        self.using = using
        self.options = options
        #: ``track(claimed, running: bool)``: the worker's in-flight bookkeeping (leases, cancels).
        self.track = track or (lambda claimed, running: None)
        #: ``complete_later(claimed, result, outcome)``: takes over the report of
        #: attempts that simply returned, to record them in a batch (the worker's
        #: ``queue.complete_and_claim``), then call ``announce``. None: report each now.
        self.complete_later = complete_later
        #: The exception class path of the last failed attempt this runner reported.
        self.last_error = ""

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
            if claimed.bad_arguments:
                raise InvalidJobArguments(claimed.bad_arguments)
            if not isinstance(claimed.args, list) or not isinstance(claimed.kwargs, dict):
                raise InvalidJobArguments("stored args must be a JSON array and kwargs a JSON object.")
        except Exception as exc:
            # Unknown or unimportable function: no retry can help.
            return self._report(claimed, None, Outcome("failed", exc=exc, permanent=True), [], ())
        result = running_result(claimed, task, self.using)
        task_started.send(sender=type(task.get_backend()), task_result=result)
        context = None
        with logcapture.capture() as logs:
            try:
                if task.takes_context:
                    context = JobContext(
                        task_result=result,
                        job_id=claimed.id,
                        worker_id=claimed.worker_id,
                        claim_siblings=lambda limit: self._claim_siblings(claimed, limit),
                        **({"cancel_event": cancel_event} if cancel_event is not None else {}),
                    )
                    value = task.call(context, *claimed.args, **claimed.kwargs)
                else:
                    value = task.call(*claimed.args, **claimed.kwargs)
                outcome = Outcome("succeeded", value=as_json(value, "the return value"))
            except KeyboardInterrupt:
                raise
            except Decline as exc:
                run_after = exc.run_after if exc.run_after is not None else self._delay(task, exc, result)
                outcome = Outcome("declined", exc=exc, run_after=run_after or 0)
            except BaseException as exc:
                permanent = isinstance(exc, (PermanentFailure, InvalidJobArguments))
                outcome = Outcome("failed", exc=exc, permanent=permanent)
                if not permanent:
                    try:
                        outcome.retry_in = self._delay(task, exc, result)
                    except Exception:
                        logger.exception("Backoff of job %s raised; not retrying", claimed.id)
        siblings = context.siblings if context else []
        replacements = context.replacements if context else ()
        described = self._report(claimed, result, outcome, logs, replacements)
        for sibling in siblings:
            self._report(sibling, None, outcome, (), ())
        return described

    def _claim_siblings(self, claimed, limit):
        siblings = queue.claim_coalesced(claimed, limit=limit, lease=self.options.lease, using=self.using)
        for sibling in siblings:
            self.track(sibling, True)
        return siblings

    def _delay(self, task, exc, result):
        backoff = task.backoff if isinstance(task, JobTask) and task.backoff is not None else self.options.backoff
        if isinstance(backoff, str):
            backoff = import_string(backoff)
        return backoff(exc, result)

    def _report(self, claimed, result, outcome, logs, replacements):
        """Report ``outcome`` for ``claimed``; returns a description for the log line."""
        description = outcome.kind
        if self.complete_later is not None and outcome.kind == "succeeded" and not logs and not replacements:
            self.complete_later(claimed, result, outcome)
            return description
        try:
            if outcome.kind == "succeeded":
                queue.complete(claimed, outcome.value, logs=list(logs), replacements=replacements, using=self.using)
            elif outcome.kind == "declined":
                queue.decline(claimed, run_after=outcome.run_after, logs=list(logs), using=self.using)
            else:
                exc = outcome.exc
                self.last_error = f"{type(exc).__module__}.{type(exc).__qualname__}"
                exit_status = exc.exit_status if isinstance(exc, PermanentFailure) else 1
                retry_in = None if outcome.permanent or claimed.attempts_left <= 0 else outcome.retry_in
                state = queue.fail(
                    claimed,
                    error_info(exc),
                    retry_in=retry_in,
                    exit_status=exit_status,
                    logs=list(logs),
                    using=self.using,
                )
                if state == JobState.READY:
                    description = f"failed (retry in {retry_in:.1f}s)"
        except JobNotClaimed:
            logger.warning(
                "Job %s attempt %s was taken back or cancelled; its outcome is dropped", claimed.id, claimed.attempt
            )
            description = "dropped (no longer claimed)"
            result = None
        except Exception as exc:
            if outcome.kind != "succeeded" or not replacements:
                raise
            # replace_with's jobs could not be inserted: nothing changed, the attempt fails.
            return self._report(claimed, result, Outcome("failed", exc=exc, permanent=True), logs, ())
        finally:
            if claimed is not None:
                self.track(claimed, False)
        self.announce(result, outcome, description)
        return description

    def announce(self, result, outcome, description):
        """Send task_finished for a reported attempt (``result`` None: nothing to announce)."""
        if result is not None:
            task_finished.send(
                sender=type(result.task.get_backend()), task_result=self._finished(result, outcome, description)
            )

    @staticmethod
    def _finished(result, outcome, description):
        """
        The attempt's TaskResult after its report, built from what was just
        written rather than read back (which would cost two queries per job).
        ``finished_at`` is this host's clock, within milliseconds of the stored one.
        """
        changes = {}
        if outcome.kind == "succeeded":
            changes = {
                "status": TaskResultStatus.SUCCESSFUL,
                "finished_at": timezone.now(),
                "_return_value": outcome.value,
            }
        elif outcome.kind == "failed":
            error = error_info(outcome.exc)
            errors = [
                *result.errors,
                TaskError(exception_class_path=error.exception_class_path, traceback=error.traceback),
            ]
            retried = description.startswith("failed (retry")
            changes = {
                "status": TaskResultStatus.READY if retried else TaskResultStatus.FAILED,
                "finished_at": None if retried else timezone.now(),
                "errors": errors,
            }
        else:  # declined: ready again
            changes = {"status": TaskResultStatus.READY}
        for name, value in changes.items():
            object.__setattr__(result, name, value)
        return result


def run_here(task, args, kwargs, *, backend):
    """Enqueue ``task`` already claimed by this process, run it now, and return its TaskResult."""
    logcapture.install()
    using = backend.database
    built = queue.build_job(task, args, kwargs, using=using)
    claimed = queue.add_and_claim(
        built, worker_id=f"{socket.gethostname()[:60]}:{os.getpid()}:here", lease=backend.job_options.lease, using=using
    )
    Runner(using=using, options=backend.job_options).run(claimed)
    return backend.get_result(claimed.id)
