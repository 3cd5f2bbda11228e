"""
PostgreSQL's session connections: a worker's own connection, outside Django's
per-thread ones, in autocommit, on which it LISTENs for new jobs and cancels
and holds its liveness lock; and the scheduler leader's, which holds the
leadership lock. Both locks are session-level: PostgreSQL drops them with the
connection when the process dies.
"""

import logging

from django.db import DatabaseError, connections

from ..reconnect import Reconnect
from .base import PollingListener

logger = logging.getLogger("django_jobs.worker")

CHANNEL = "django_jobs"
#: Payload: the id of a job cancelled while it may be running.
CANCEL_CHANNEL = "django_jobs_cancel"
#: Advisory lock key of the scheduler leader ("djobs" in ASCII).
LEADER_LOCK_KEY = 0x646A6F6273
#: The first key of a worker's liveness lock (``pg_advisory_lock(WORKER_LOCK_SPACE, registry id)``):
#: held on the worker's listening connection for as long as it lives.
WORKER_LOCK_SPACE = 0x646A6F62  # "djob"


class DedicatedConnection:
    """A connection of our own, outside Django's per-thread ones, in autocommit."""

    def __init__(self, using):
        self.using = using
        self.wrapper = None

    def get(self):
        if self.wrapper is None:
            self.wrapper = connections.create_connection(self.using)
            self.wrapper.ensure_connection()
            self.on_connect(self.wrapper.connection)
        return self.wrapper.connection

    def on_connect(self, conn):
        pass

    def close(self):
        if self.wrapper is not None:
            try:
                self.wrapper.close()
            except Exception:
                pass
            self.wrapper = None


class PostgreSQLListener(DedicatedConnection):
    """
    LISTENs for NOTIFY from enqueues; polls while the database is unreachable.
    With a worker's registry id, it also holds that worker's liveness lock.
    """

    def __init__(self, using, stop_event, worker_pk=None):
        super().__init__(using)
        self.polling = PollingListener(stop_event)
        self.worker_pk = worker_pk
        self.reconnect = Reconnect("Listening for new jobs (polling meanwhile)")

    def on_connect(self, conn):
        conn.execute(f"LISTEN {CHANNEL}")
        conn.execute(f"LISTEN {CANCEL_CHANNEL}")
        if self.worker_pk is not None:
            # Session level: it lives exactly as long as this connection (so this process).
            conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (WORKER_LOCK_SPACE, self.worker_pk & 0x7FFFFFFF))

    def wait(self, timeout):
        try:
            conn = self.get()
            self.reconnect.succeeded()
            cancelled = set()
            for notify in conn.notifies(timeout=timeout, stop_after=1):
                if notify.channel == CANCEL_CHANNEL:
                    cancelled.add(int(notify.payload))
            return cancelled
        except Exception as e:  # psycopg errors, or Django's wrapped ones
            self.reconnect.failed(e)  # logged, backed off: not one line per poll while the database is away
            self.close()
            return self.polling.wait(timeout)


class AdvisoryLockLeadership(DedicatedConnection):
    """The leader is whoever holds the advisory lock on a live connection."""

    def __init__(self, using):
        super().__init__(using)
        self.held = False

    def acquire(self):
        try:
            conn = self.get()
            if self.held:
                conn.execute("SELECT 1")  # still alive, so still ours
            else:
                row = conn.execute("SELECT pg_try_advisory_lock(%s)", (LEADER_LOCK_KEY,)).fetchone()
                self.held = bool(row[0])
        except (DatabaseError, Exception) as e:
            if self.held:
                logger.warning("Lost scheduler leadership: %s", e)
            self.held = False
            self.close()
        return self.held

    def release(self):
        self.held = False
        self.close()
