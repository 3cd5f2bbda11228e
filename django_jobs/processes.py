"""
Running attempts in child processes (``runworker --processes``).

A child can be killed: a cancelled job that does not stop within KILL_GRACE
of being asked, or an attempt that overruns its max_work_duration. A job
that takes its interpreter down (``os._exit``, a crash, the OOM killer) takes
only its child with it: the worker records the attempt as failed and starts
a new child. Each job thread of the worker owns one child at a time.

Parent and child speak JSON over a pipe: {"job": {...}} and {"cancel": id}
to the child, {"outcome": "<how it ended, for the log>", "exiting": bool} back (a child exits after a
MemoryError, with CHILD_MEMORY_LIMIT_MB as its address-space limit).
"""

import json
import logging
import multiprocessing
import signal
import time
from typing import Any

from . import queue
from .attempt_log import job_fields
from .child import child_main, encode_claimed
from .exceptions import JobNotClaimed, JobTimeout, WorkerLost
from .queue import ErrorInfo

logger = logging.getLogger("django_jobs.worker")


def _describe_exit(code):
    if code is not None and code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exited with code {code}"


class ChildProcess:
    """One child that runs attempts for one job thread of the worker."""

    def __init__(self, *, backend, using, kill_grace):
        self.backend, self.using, self.kill_grace = backend, using, kill_grace
        # The child and our end of its pipe, None while no child runs: run() starts one first. Any, not
        # Optional: mypy cannot see that _start() has set them.
        self.process: Any = None
        self.conn: Any = None

    def _start(self):
        context = multiprocessing.get_context("spawn")
        self.conn, child_conn = context.Pipe()
        self.process = context.Process(target=child_main, args=(child_conn, self.backend, self.using), daemon=True)
        self.process.start()
        child_conn.close()

    def kill(self):
        if self.process is not None and self.process.is_alive():
            self.process.kill()
            self.process.join(5)
        self.process = self.conn = None

    def run(self, claimed, cancel_event, *, max_work_duration=None):
        """
        Run one attempt in the child; returns a description of how it ended.
        The child logs how its attempts end; this logs those it could not (it died, or was killed).
        """
        started = time.monotonic()
        if self.process is None or not self.process.is_alive():
            self._start()
        self.conn.send_bytes(encode_claimed(claimed))
        deadline = time.monotonic() + max_work_duration.total_seconds() if max_work_duration else None
        cancelled_at = None
        while True:
            try:
                if self.conn.poll(0.05):
                    reply = json.loads(self.conn.recv_bytes())
                    if reply.get("exiting"):
                        self.process.join(10)
                        self.process = self.conn = None
                    return reply["outcome"]
            except (EOFError, OSError):
                pass  # the child died; handled below
            if not self.process.is_alive():
                how = _describe_exit(self.process.exitcode)
                self.process = self.conn = None
                return self._fail(claimed, WorkerLost, f"the child process running it {how}", started)
            if cancel_event is not None and cancel_event.is_set():
                if cancelled_at is None:
                    cancelled_at = time.monotonic()
                    self.conn.send_bytes(json.dumps({"cancel": claimed.id}).encode())
                elif time.monotonic() - cancelled_at > self.kill_grace:
                    logger.warning(
                        "Job %s did not stop within %ss of its cancellation: killing it.",
                        claimed.id,
                        self.kill_grace,
                        extra=job_fields(claimed),
                    )
                    self.kill()
                    logger.info(
                        "Job %s %s attempt %s killed after cancellation (child process)",
                        claimed.id,
                        claimed.func_path,
                        claimed.attempt,
                        extra={**job_fields(claimed), "outcome": "cancelled", "duration": time.monotonic() - started},
                    )
                    return "killed after cancellation"
            if deadline is not None and time.monotonic() > deadline:
                logger.warning(
                    "Job %s overran its max_work_duration of %s: killing it.",
                    claimed.id,
                    max_work_duration,
                    extra=job_fields(claimed),
                )
                self.kill()
                return self._fail(
                    claimed, JobTimeout, f"killed after exceeding max_work_duration ({max_work_duration})", started
                )

    def _fail(self, claimed, exception_class, message, started):
        """Record the attempt as failed with ``exception_class`` (the child cannot), and log it."""
        error = ErrorInfo.without_traceback(exception_class, message)
        try:
            transition = queue.fail(claimed, error, retry_in=0, using=self.using)
            how, outcome = f"{transition.name}: {message}", "failed" if transition.name == "fail" else "retrying"
        except JobNotClaimed:
            how, outcome = f"lost ({message}); it was no longer claimed", "dropped"
        logger.error(
            "Job %s %s attempt %s %s (child process)",
            claimed.id,
            claimed.func_path,
            claimed.attempt,
            how,
            extra={**job_fields(claimed), "outcome": outcome, "duration": time.monotonic() - started},
        )
        return how
