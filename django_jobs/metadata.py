"""
Saving a running attempt's metadata (``context.save_metadata()``), and
reading the progress it holds for displays.

Metadata is written on the job's own connection, at once, unless that
connection is inside a transaction: an atomic job's (``atomic=True``), or
one the job opened itself. Written there, the metadata would be seen only
once that transaction commits and, on PostgreSQL, the write would lock the
job's row (whose lease the heartbeat renews) until then. So on PostgreSQL it
is then written by a thread of its own, on a connection of its own, and is
readable at once. On SQLite no other connection can write while a
transaction holds the database's single write lock: the metadata is written
in that transaction, becomes readable when it commits, and rolls back with it.
"""

from concurrent.futures import ThreadPoolExecutor

from django.db import connections

from . import queue


class MetadataSaver:
    """Stores one attempt's metadata; ``close()`` when the attempt ends."""

    def __init__(self, claimed, *, using):
        self.claimed = claimed
        self.using = using
        self._executor = None

    def __call__(self, metadata):
        """Store ``metadata`` (JSON-ready); False when the attempt no longer holds its job."""
        connection = connections[self.using]
        if connection.in_atomic_block and connection.vendor != "sqlite":
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="django_jobs-metadata")
            if self._executor.submit(self._write_aside, metadata).result():
                return True
            # Not found from another connection: the job may be one this transaction inserted and no other
            # connection sees yet (enqueue_and_run in a transaction). Written here then.
        return queue.save_metadata(self.claimed, metadata, using=self.using)

    def _write_aside(self, metadata):
        try:
            return queue.save_metadata(self.claimed, metadata, using=self.using)
        except Exception:
            connections[self.using].close()  # a fresh connection for the next save
            raise

    def _close_connection(self):
        """Run on the writing thread: ``connections`` gives each thread its own."""
        connections[self.using].close()

    def close(self):
        """Close the connection of the thread writing aside, if one was started."""
        if self._executor is not None:
            self._executor.submit(self._close_connection).result()
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
