"""
Saving a running attempt's metadata (``context.save_metadata()``), and
reading the progress it holds for displays.

A plain job's metadata is written on the job's own connection, at once. An
atomic job's connection is inside the transaction that will record its
success: written there, its metadata would be seen only once it commits and,
on PostgreSQL, the write would lock the job's row (whose lease the heartbeat
renews) until then. So on PostgreSQL an atomic job's metadata is written by a
thread of its own, on a connection of its own, and is readable at once. On
SQLite no other connection can write while the atomic job's transaction holds
the database's single write lock: its metadata is written in that transaction
and becomes readable when the job ends (and is rolled back with it).
"""

from concurrent.futures import ThreadPoolExecutor

from django.db import connections

from . import queue


class MetadataSaver:
    """Stores one attempt's metadata; ``close()`` when the attempt ends."""

    def __init__(self, claimed, *, using, atomic=False):
        self.claimed = claimed
        self.using = using
        #: Write on a connection of its own (an atomic job on a database with row locks).
        self.aside = atomic and connections[using].vendor != "sqlite"
        self._executor = None

    def __call__(self, metadata):
        """Store ``metadata`` (JSON-ready); False when the attempt no longer holds its job."""
        if not self.aside:
            return queue.save_metadata(self.claimed, metadata, using=self.using)
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="django_jobs-metadata")
        return self._executor.submit(self._write_aside, metadata).result()

    def _write_aside(self, metadata):
        try:
            return queue.save_metadata(self.claimed, metadata, using=self.using)
        except Exception:
            connections[self.using].close()  # a fresh connection for the next save
            raise

    def close(self):
        """Close the connection of the thread writing aside, if one was started."""
        if self._executor is not None:
            self._executor.submit(connections[self.using].close).result()
            self._executor.shutdown()
            self._executor = None


def progress_of(metadata):
    """
    ``(progress, total)`` when ``metadata`` holds both as numbers, total above
    0: what the admin draws as a progress bar. None otherwise.
    """
    if not isinstance(metadata, dict):
        return None
    progress, total = metadata.get("progress"), metadata.get("total")
    numbers = (int, float)
    if not isinstance(progress, numbers) or not isinstance(total, numbers) or bool in (type(progress), type(total)):
        return None
    return (progress, total) if total > 0 else None


def describe_progress(metadata):
    """'3 of 10 (30%)' for metadata holding progress and total; None otherwise."""
    found = progress_of(metadata)
    if found is None:
        return None
    progress, total = found
    return f"{progress} of {total} ({max(0, min(100, int(100 * progress / total)))}%)"
