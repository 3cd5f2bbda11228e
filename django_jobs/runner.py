"""
Running one claimed attempt: resolve its task, call it with its context,
capture what it logs, and describe how it ended as an AttemptReport. The
runner writes nothing; the worker's reporter records the report.
"""

import logging
import threading
import time
from dataclasses import replace
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from django.utils.module_loading import import_string

from . import limits, logcapture, queue, tracing
from .arguments import as_json
from .attempt_log import job_fields, log_started
from .compat import task_started
from .exceptions import Decline, InvalidJobArguments, PermanentFailure
from .metadata import MetadataSaver
from .models import JobRun
from .queue import ErrorInfo
from .report import AttemptReport
from .results import task_result
from .states import TASK_STATUS, JobState, RunOutcome
from .task import JobContext, JobTask, resolve_task

logger = logging.getLogger("django_jobs.worker")


def is_atomic(task):
    """Whether ``task`` runs in the transaction that records its success (``atomic=True``)."""
    return isinstance(task, JobTask) and task.atomic


def task_of(claimed):
    """The task ``claimed`` runs, or None when it cannot be found (its attempt will fail)."""
    try:
        return resolve_task(claimed.func_path)
    except Exception:
        return None


def running_result(claimed, task, using, tasks=None):
    """
    A TaskResult of the attempt in progress, for context and signals. Built
    from what the claim returned, not from model instances: a model's
    ``__init__`` per job was a quarter of a worker thread's time on short jobs.
    """
    job = SimpleNamespace(
        pk=claimed.id,
        backend=claimed.backend,
        queue_name=claimed.queue_name,
        priority=claimed.priority,
        args=claimed.args,
        kwargs=claimed.kwargs,
        enqueued_at=claimed.enqueued_at,
        started_at=claimed.started_at,
        finished_at=None,
        last_attempted_at=claimed.last_attempted_at,
        run_after=None,  # the task's run_after: None, as for a job that was not deferred
        metadata=None,
        return_value=None,
    )
    runs: list[Any]
    if claimed.attempt == 1:
        runs = [SimpleNamespace(worker_id=claimed.worker_id, outcome=RunOutcome.RUNNING, exception_class_path="")]
    else:
        runs = list(
            JobRun.objects.using(using)
            .filter(job_id=claimed.id)
            .only("worker_id", "outcome", "attempt", "exception_class_path", "traceback")
        )
    return task_result(job, task, runs, status=TASK_STATUS[JobState.RUNNING], database=using, tasks=tasks)


class Runner:
    """Runs claimed attempts for one worker; safe to call from several threads."""

    def __init__(self, *, using, options):
        self.using = using
        self.options = options
        self._lock = threading.Lock()
        #: Coalesced siblings claimed by attempts still running: their leases are renewed with theirs.
        self._siblings: dict[int, list] = {}
        #: (ClaimedJob, logcapture.Capture) of the attempts running, by (job id, attempt): their live logs.
        self._live: dict[tuple[int, int], tuple] = {}
        #: The Task of each (task, priority, queue, backend) the attempts ran as, shared by their results.
        self._tasks: dict[tuple, Any] = {}

    def live_captures(self):
        """(ClaimedJob, Capture) of each attempt running now, whose lines the log flusher stores."""
        with self._lock:
            return list(self._live.values())

    def held_siblings(self):
        """The ClaimedJobs of coalesced siblings that running attempts hold."""
        with self._lock:
            return [s for siblings in self._siblings.values() for s in siblings]

    def run(self, claimed, cancel_event=None) -> AttemptReport:
        """Run one attempt of ``claimed``; returns how it ended (nothing is written)."""
        with tracing.attempt_span(claimed) as span:
            report = self._run(claimed, cancel_event)
            if (retry_context := tracing.attempt_ended(span, report)) is not None:
                report = replace(report, trace_context=retry_context)
        return report

    def _run(self, claimed, cancel_event):
        started = time.monotonic()
        log_started(claimed)
        try:
            task = resolve_task(claimed.func_path)
            if claimed.bad_arguments:
                raise InvalidJobArguments(claimed.bad_arguments)
            if not isinstance(claimed.args, list) or not isinstance(claimed.kwargs, dict):
                raise InvalidJobArguments("stored args must be a JSON array and kwargs a JSON object.")
        except Exception as exc:
            # Unknown or unimportable function: no retry can help.
            return AttemptReport(
                claimed=claimed, outcome=RunOutcome.FAILED, error=ErrorInfo.of(exc), exception=exc, exit_status=1
            )
        result = running_result(claimed, task, self.using, self._tasks)
        # due_at: when the job became due, for the pickup time of runworker --metrics-port (no query needed).
        task_started.send(sender=type(task.get_backend()), task_result=result, due_at=claimed.due_at)
        context = None
        key = (claimed.id, claimed.attempt)
        atomic = is_atomic(task)
        saver = MetadataSaver(claimed, using=self.using)
        with logcapture.capture() as capturing:
            if not atomic:
                # An atomic job's lines are stored with its report: on SQLite its transaction holds the
                # write lock, which the log flusher would wait for while the report waits for the flusher.
                with self._lock:
                    self._live[key] = (claimed, capturing)
            try:
                if task.takes_context:
                    context = JobContext(
                        task_result=result,
                        job_id=claimed.id,
                        worker_id=claimed.worker_id,
                        claim_siblings=lambda limit: self._claim_siblings(claimed, limit),
                        dependency_results=queue.dependency_results(claimed.id, self.using),
                        metadata=queue.metadata(claimed.id, using=self.using) if claimed.attempt > 1 else {},
                        metadata_saver=saver,
                        **({"cancel_event": cancel_event} if cancel_event is not None else {}),
                    )
                    value = task.call(context, *claimed.args, **claimed.kwargs)
                else:
                    value = task.call(*claimed.args, **claimed.kwargs)
                ending = self._returned(value)
            except Decline as exc:
                ending = self._declined(claimed, task, exc, result)
            except BaseException as exc:
                # KeyboardInterrupt and SystemExit too: raised by the job, they end its attempt, not the worker
                # (signals reach the worker's main thread, or are ignored in a child process).
                ending = self._failure(claimed, task, exc, result)
            finally:
                saver.close()
        with self._lock:
            siblings = tuple(self._siblings.pop(claimed.id, ()))
            self._live.pop(key, None)
        with capturing.lock:  # after a flush in progress: the lines it did not store
            logs = capturing.take()
        return AttemptReport(
            claimed=claimed,
            logs=tuple(logs),
            replacements=tuple(context.replacements) if context else (),
            siblings=siblings,
            result=result,
            duration=time.monotonic() - started,
            **ending,
        )

    @staticmethod
    def _returned(value):
        """
        The function returned ``value``: a success, unless it is not JSON. Then
        the attempt fails with the TypeError Django's Tasks record, for good
        (running the job again would repeat its effects for the same result).
        """
        try:
            return {
                "outcome": RunOutcome.SUCCEEDED,
                "return_value": as_json(value, "the return value", error=TypeError),
            }
        except TypeError as exc:
            return {"outcome": RunOutcome.FAILED, "error": ErrorInfo.of(exc), "exception": exc, "exit_status": 1}

    def _declined(self, claimed, task, exc, result):
        """A Decline: back later, at a moment or after a delay within limits (else the attempt fails)."""
        try:
            if isinstance(exc.run_after, datetime):
                run_after = limits.moment(exc.run_after, "Decline(run_after=...)")
            elif exc.run_after is not None:
                run_after = limits.delay(exc.run_after, "Decline(run_after=...)")
            else:
                run_after = limits.delay(self._delay(task, exc, result) or 0, "the backoff's delay for Decline")
        except Exception as problem:
            return {
                "outcome": RunOutcome.FAILED,
                "error": ErrorInfo.of(problem),
                "exception": problem,
                "exit_status": 1,
            }
        return {"outcome": RunOutcome.DECLINED, "run_after": run_after}

    def _failure(self, claimed, task, exc, result):
        permanent = isinstance(exc, (PermanentFailure, InvalidJobArguments))
        retry_in = None
        if not permanent and claimed.attempts_left > 0:
            try:
                delay = self._delay(task, exc, result)
                retry_in = None if delay is None else limits.delay(delay, "the backoff's delay")
            except Exception:
                logger.exception(
                    "Backoff of job %s failed or gave a delay out of bounds; not retrying",
                    claimed.id,
                    extra=job_fields(claimed),
                )
        return {
            "outcome": RunOutcome.FAILED,
            "error": ErrorInfo.of(exc),
            "exception": exc,
            "retry_in": retry_in,
            "exit_status": exc.exit_status if isinstance(exc, PermanentFailure) else 1,
        }

    def _claim_siblings(self, claimed, limit):
        siblings = queue.claim_coalesced(claimed, limit=limit, lease=self.options.lease, using=self.using)
        with self._lock:
            self._siblings.setdefault(claimed.id, []).extend(siblings)
        return siblings

    def _delay(self, task, exc, result):
        backoff = task.backoff if isinstance(task, JobTask) and task.backoff is not None else self.options.backoff
        if isinstance(backoff, str):
            backoff = import_string(backoff)
        return backoff(exc, result)
