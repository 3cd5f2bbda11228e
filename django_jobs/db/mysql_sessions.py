"""
MariaDB/MySQL's session connections: a worker's own connection, outside
Django's per-thread ones, which holds its liveness lock; and the scheduler
leader's, which holds the leadership lock. Both are named locks
(``GET_LOCK``): the server releases them when the connection ends, so when
the process dies.

Named locks belong to the server, not to a database: their names carry the
database's name (``lock_name``).
"""

import hashlib
import logging
import time

from django.db import connections

from ..reconnect import Reconnect
from .base import PollingListener
from .postgresql_sessions import DedicatedConnection

logger = logging.getLogger("django_jobs.worker")

#: MySQL refuses lock names longer than this.
LOCK_NAME_LENGTH = 64

#: How often (seconds) a waiting worker checks that its liveness connection still holds its lock.
CHECK_EVERY = 5.0


def lock_name(kind, database, suffix=""):
    """``django_jobs:<kind>:<database><suffix>``; a long database name is shortened to its hash."""
    name = f"django_jobs:{kind}:{database}{suffix}"
    if len(name) > LOCK_NAME_LENGTH:
        name = f"django_jobs:{kind}:{hashlib.sha256(str(database).encode()).hexdigest()[:16]}{suffix}"
    return name


def worker_lock_name(database, worker_pk):
    """The liveness lock of the worker with registry id ``worker_pk``."""
    return lock_name("worker", database, f":{worker_pk}")


def _fetch_one(conn, sql, params=()):
    cursor = conn.cursor()
    try:
        cursor.execute(sql, params)
        return cursor.fetchone()
    finally:
        cursor.close()


class MySQLListener(DedicatedConnection):
    """
    Polls: MariaDB and MySQL have no NOTIFY. With a worker's registry id, its
    connection holds that worker's liveness lock for as long as the process
    lives; it is checked every CHECK_EVERY seconds, and taken again on a new
    connection if the server was restarted.
    """

    def __init__(self, using, stop_event, worker_pk=None):
        super().__init__(using)
        self.polling = PollingListener(stop_event)
        self.worker_pk = worker_pk
        self.checked_at = None
        self.reconnect = Reconnect("Holding the worker's liveness lock")

    def on_connect(self, conn):
        name = worker_lock_name(connections[self.using].settings_dict["NAME"], self.worker_pk)
        (got,) = _fetch_one(conn, "SELECT GET_LOCK(%s, 0)", [name])
        if not got:
            logger.warning("Could not take the worker's liveness lock %s: another connection holds it.", name)

    def wait(self, timeout):
        if self.worker_pk is not None and (self.checked_at is None or time.monotonic() - self.checked_at > CHECK_EVERY):
            self.checked_at = time.monotonic()
            try:
                _fetch_one(self.get(), "SELECT 1")
                self.reconnect.succeeded()
            except Exception as e:  # MySQLdb errors, or Django's wrapped ones
                self.reconnect.failed(e)  # logged, backed off; the next check connects again
                self.close()
        return self.polling.wait(timeout)


class NamedLockLeadership(DedicatedConnection):
    """The leader is whoever holds the named lock ``django_jobs:leader:<database>`` on a live connection."""

    def __init__(self, using):
        super().__init__(using)
        self.held = False

    def acquire(self):
        try:
            conn = self.get()
            if self.held:
                _fetch_one(conn, "SELECT 1")  # still alive, so still ours
            else:
                (got,) = _fetch_one(
                    conn, "SELECT GET_LOCK(%s, 0)", [lock_name("leader", connections[self.using].settings_dict["NAME"])]
                )
                self.held = bool(got)
        except Exception as e:
            if self.held:
                logger.warning("Lost scheduler leadership: %s", e)
            self.held = False
            self.close()
        return self.held

    def release(self):
        self.held = False
        self.close()
