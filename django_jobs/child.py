"""
The child side of ``runworker --processes`` (see ``processes``). This module
imports nothing of Django's models at import time: a spawned child imports it
before ``django.setup()``.
"""

import json
import logging
import os
import signal
import threading
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from .backend import DatabaseBackend

logger = logging.getLogger("django_jobs.worker")


def encode_claimed(claimed):
    def default(value):
        if isinstance(value, datetime):
            return {"datetime": value.isoformat()}
        if isinstance(value, timedelta):
            return {"seconds": value.total_seconds()}
        raise TypeError(f"cannot encode {value!r}")

    return json.dumps({"job": asdict(claimed)}, default=default).encode()


def decode_claimed(data):
    def hook(obj):
        if obj.keys() == {"datetime"}:
            return datetime.fromisoformat(obj["datetime"])
        if obj.keys() == {"seconds"}:
            return timedelta(seconds=obj["seconds"])
        return obj

    from .db.base import ClaimedJob

    return ClaimedJob(**json.loads(data, object_hook=hook)["job"])


def resident_mb():
    """This process's resident memory now, in MB (Linux's /proc; elsewhere its peak)."""
    try:
        with open("/proc/self/statm") as statm:
            pages = int(statm.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worn_out(ran, options):
    """
    Whether this child should make way for a fresh one: it ran CHILD_MAX_JOBS
    attempts, or holds more than CHILD_MAX_RSS_MB (memory a job kept, or a
    heap that never shrinks back, would otherwise stay with it for good).
    """
    if options.CHILD_MAX_JOBS is not None and ran >= options.CHILD_MAX_JOBS:
        logger.info("Child %s ran %d jobs (CHILD_MAX_JOBS): a fresh one takes over.", os.getpid(), ran)
        return True
    if options.CHILD_MAX_RSS_MB is not None and (rss := resident_mb()) > options.CHILD_MAX_RSS_MB:
        logger.info(
            "Child %s holds %.0f MB, more than CHILD_MAX_RSS_MB (%s): a fresh one takes over.",
            os.getpid(),
            rss,
            options.CHILD_MAX_RSS_MB,
        )
        return True
    return False


def child_main(conn, backend_alias, using=None):
    """
    The child: set Django up, then run the attempts the parent sends until the pipe closes.
    ``using``: the database its worker claims from (default: the backend's).
    """
    import queue as queue_module

    import django

    django.setup()
    from . import logcapture
    from .attempt_log import job_fields, log_outcome
    from .attempts import run_and_report
    from .compat import task_backends
    from .log_flusher import LogFlusher
    from .log_output import log_to_stderr_unless_configured
    from .queue.errors import class_path
    from .reporter import Reporter, describe
    from .runner import Runner

    log_to_stderr_unless_configured()  # as its parent does: the attempts' lines are logged here
    logcapture.install()
    logcapture.capture_print()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when we stop
    backend = cast("DatabaseBackend", task_backends[backend_alias])  # the worker's, so ours
    using = using or backend.database
    runner = Runner(using=using, options=backend.job_options)
    reporter = Reporter(using=using, patience=backend.job_options.LEASE_SECONDS / 2)
    LogFlusher(runner, using=using).start()  # a daemon thread: it ends with the child
    if limit_mb := backend.job_options.CHILD_MEMORY_LIMIT_MB:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (limit_mb * 2**20, limit_mb * 2**20))
    attempts: queue_module.SimpleQueue[dict | None] = queue_module.SimpleQueue()
    cancel_events: dict[int, threading.Event] = {}

    def read():
        try:
            while True:
                message = json.loads(conn.recv_bytes())
                if "cancel" in message:
                    if event := cancel_events.get(message["cancel"]):
                        event.set()
                else:
                    attempts.put(message)
        except (EOFError, OSError):
            attempts.put(None)

    threading.Thread(target=read, daemon=True).start()
    options = backend.job_options
    ran = 0
    while (message := attempts.get()) is not None:
        claimed = decode_claimed(json.dumps(message))
        cancel_events[claimed.id] = event = threading.Event()
        exiting = False
        try:
            report, transition = run_and_report(runner, reporter, claimed, event)
            how = describe(report, transition)
            log_outcome(report, transition, how, report.duration, " (child process)")
            # After a MemoryError, a fresh child for the next job: this one's heap may be leaking.
            exiting = report.error is not None and report.error.exception_class_path == class_path(MemoryError)
        except Exception:
            logger.exception(
                "Reporting job %s failed; its lease will expire and it will be retried.",
                claimed.id,
                extra=job_fields(claimed),
            )
            how = "report failed"
        finally:
            cancel_events.pop(claimed.id, None)
        ran += 1
        exiting = exiting or worn_out(ran, options)
        conn.send_bytes(json.dumps({"outcome": how, "exiting": exiting}).encode())
        if exiting:
            return
