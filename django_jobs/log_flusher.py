"""
Live logs: what running attempts log and print is stored while they run, so
that ``django_jobs.logs()``, ``manage.py jobs show`` and the admin show it
before the attempt ends, and a cancelled or lost attempt keeps what it had
logged. The report of the attempt then stores only the lines not stored yet.
"""

import logging
import threading

from django.db import connections

from . import queue
from .attempt_log import job_fields

logger = logging.getLogger("django_jobs.worker")

#: Seconds between two flushes: a line is readable at most about this long after it was logged.
FLUSH_INTERVAL = 0.5


class LogFlusher:
    """A thread storing, every FLUSH_INTERVAL, the lines each attempt of ``runner`` captured since the last time."""

    def __init__(self, runner, *, using, interval=FLUSH_INTERVAL):
        self.runner, self.using, self.interval = runner, using, interval
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="django_jobs-log-flusher", daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(10)

    def _loop(self):
        try:
            while not self._stopping.wait(self.interval):
                self.flush()
        finally:
            connections.close_all()

    def flush(self):
        """Store the new lines of each running attempt (guarded: only while it holds its job)."""
        for claimed, capturing in self.runner.live_captures():
            with capturing.lock:  # the attempt's report waits: its lines are these or the ones after
                lines = capturing.take()
                if not lines:
                    continue
                try:
                    queue.add_logs(claimed, lines, using=self.using)
                except Exception as e:
                    capturing.put_back(lines)  # stored with the next flush, or the report
                    connections[self.using].close()
                    logger.warning(
                        "Storing the log lines of job %s failed (%s).", claimed.id, e, extra=job_fields(claimed)
                    )
