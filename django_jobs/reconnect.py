"""Waiting for the database to answer again, without flooding the log."""

import logging
import time

logger = logging.getLogger("django_jobs.worker")


class Reconnect:
    """
    Delays between tries after a database error: the first try again at once
    (a dropped connection is usually back on the next connect), then doubling
    from ``first`` up to ``longest`` seconds. Logs the first failure, then only
    when the delay grows, with how long it has been failing.
    """

    def __init__(self, what, *, first=0.1, longest=5.0):
        self.what, self.first, self.longest = what, first, longest
        self.failures = 0
        self.since = None

    def failed(self, error) -> float:
        """Record a failure; returns the seconds to wait before the next try."""
        self.failures += 1
        if self.since is None:
            self.since = time.monotonic()
        delay = 0.0 if self.failures == 1 else min(self.first * 2 ** (self.failures - 2), self.longest)
        if self.failures == 1:
            logger.warning("%s failed (%s); trying again at once.", self.what, error)
        elif delay < self.longest or self.failures == 2 or (self.failures & (self.failures - 1)) == 0:
            logger.warning(
                "%s still failing after %.1fs and %d tries (%s); next try in %.1fs.",
                self.what,
                time.monotonic() - self.since,
                self.failures,
                error,
                delay,
            )
        return delay

    def succeeded(self):
        if self.failures > 1:
            logger.warning("%s works again after %.1fs.", self.what, time.monotonic() - (self.since or 0))
        self.failures, self.since = 0, None
