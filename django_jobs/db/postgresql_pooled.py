"""
PostgreSQL behind a transaction pooler (PgBouncer's ``pool_mode =
transaction``, ``OPTIONS['POOLED']``): each transaction may run on another
server connection, so nothing may outlive one. No LISTEN (workers poll every
POLL_INTERVAL, and find cancels by polling too), no session advisory lock
(a worker's liveness is its heartbeat alone), and scheduler leadership is a
lease row (``LeaderLease``) instead of a lock held by a connection.

The lease: the leader pushes ``expires_at`` forward at every scheduler tick,
in one guarded statement that succeeds only for the holder, or for anyone
once the lease has expired. PostgreSQL locks the row for the statement, so
two workers never both hold it. A leader that dies leads until its lease
expires; one that stops gracefully gives it up at once. A leader stalled
past its lease (a long pruning pass) learns at its next tick that it lost;
meanwhile its successor may start its duties too, each of which is a guarded
statement, as they are when a session lock's connection drops mid-pass.
"""

import logging
from datetime import timedelta
from typing import Any

from django.db import DatabaseError, connections

logger = logging.getLogger("django_jobs.worker")

#: The lease row of the scheduler leader.
SCHEDULER = "scheduler"

#: Take or keep the lease: returns a row only when this worker holds it now.
ACQUIRE_SQL = """
INSERT INTO {table} AS lease (name, holder, expires_at)
VALUES (%(name)s, %(holder)s, statement_timestamp() + %(lease)s)
ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
WHERE lease.holder = EXCLUDED.holder OR lease.expires_at <= statement_timestamp()
RETURNING holder
"""

#: Give the lease up (a graceful stop): the next worker to try takes it at once.
RELEASE_SQL = "DELETE FROM {table} WHERE name = %(name)s AND holder = %(holder)s"


class LeaseLeadership:
    """The leader is the worker holding the lease row; each statement is its own transaction."""

    def __init__(self, using, worker_id, lease):
        self.using = using
        self.worker_id = worker_id
        #: How long a lease lasts unless renewed: a dead leader is replaced after at most this.
        self.lease = timedelta(seconds=lease)
        self.held = False

    def _execute(self, sql):
        from ..models import LeaderLease

        connection = connections[self.using]
        table = connection.ops.quote_name(LeaderLease._meta.db_table)
        with connection.cursor() as cursor:
            params: dict[str, Any] = {"name": SCHEDULER, "holder": self.worker_id, "lease": self.lease}
            cursor.execute(sql.format(table=table), params)
            return cursor.fetchall() if cursor.description else None

    def acquire(self):
        try:
            self.held = bool(self._execute(ACQUIRE_SQL))
        except DatabaseError as e:
            if self.held:
                logger.warning("Lost scheduler leadership: %s", e)
            self.held = False
            connections[self.using].close()
        return self.held

    def release(self):
        if self.held:
            self.held = False
            try:
                self._execute(RELEASE_SQL)
            except DatabaseError as e:  # the lease expires by itself
                logger.warning("Could not give up scheduler leadership (%s); its lease will expire.", e)
