"""
SQLite: how a worker claims jobs, and elects a scheduler leader.

Claim: ``BEGIN IMMEDIATE`` takes SQLite's single write lock before reading,
so the SELECT of due jobs and the UPDATE that claims them see the same
database and no other process can claim in between; other claimers wait up
to the connection's ``timeout``. Then one JobRun per attempt, and COMMIT.

SQLite has no NOTIFY: idle workers poll every POLL_INTERVAL seconds. It runs
on one host, so the database clock is this host's clock.

Leadership: an exclusive ``flock`` on a file beside the database. The kernel
drops it when the process dies.
"""

import fcntl

from django.utils import timezone

from .base import CLAIM_COLUMNS, DatabaseOps

CLAIM_SQL = """
UPDATE {job} SET
    state = 'running',
    attempts = attempts + 1,
    attempts_left = attempts_left - 1,
    worker_id = %s,
    started_at = COALESCE(started_at, %s),
    last_attempted_at = %s,
    grabbed_until = CASE
        WHEN max_work_duration IS NOT NULL AND max_work_duration < %s
        THEN django_format_dtdelta('+', %s, max_work_duration)
        ELSE %s END
WHERE id IN (
    SELECT id FROM {job}
    WHERE state = 'ready' AND run_after <= %s
      AND (expires_at IS NULL OR expires_at > %s)
      {queue_filter}{coalesce_filter}
    ORDER BY priority DESC, run_after, id
    LIMIT %s
)
RETURNING {columns}
"""

INSERT_RUN_SQL = """
INSERT INTO {run} (job_id, attempt, worker_id, started_at, outcome,
                   exception_class_path, message, traceback)
VALUES (%s, %s, %s, %s, 'running', '', '', '')
"""


class SQLiteOps(DatabaseOps):
    vendor = "sqlite"

    def claim(self, *, worker_id, queues, limit, lease, coalesce=None):
        from ..models import Job, JobRun

        ops = self.connection.ops
        now = timezone.now()
        now_db = ops.adapt_datetimefield_value(now)
        until_db = ops.adapt_datetimefield_value(now + lease)
        lease_us = ops.adapt_durationfield_value(lease)
        queue_filter = ""
        queue_params = []
        if queues:
            queue_filter = f"AND queue_name IN ({', '.join(['%s'] * len(queues))})"
            queue_params = list(queues)
        coalesce_filter = "AND func_id = %s AND coalesce_key = %s" if coalesce else ""
        sql = CLAIM_SQL.format(
            job=self.qn(Job._meta.db_table),
            queue_filter=queue_filter,
            coalesce_filter=coalesce_filter,
            columns=", ".join(CLAIM_COLUMNS),
        )
        params = [worker_id, now_db, now_db, lease_us, now_db, until_db, now_db, now_db, *queue_params, *(coalesce or ()), limit]
        insert_run = INSERT_RUN_SQL.format(run=self.qn(JobRun._meta.db_table))

        with self.write_transaction() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
            if rows:
                cursor.executemany(insert_run, [(row[0], row[1], worker_id, now_db) for row in rows])
        rows.sort(key=lambda row: (-row[CLAIM_COLUMNS.index("priority")], row[0]))
        return self._claimed(worker_id, rows)

    def write_transaction(self):
        return ImmediateTransaction(self.connection)

    def _datetime(self, value):
        return self.connection.ops.convert_datetimefield_value(value, None, self.connection) if value else value

    def _duration(self, value):
        from datetime import timedelta

        return timedelta(microseconds=value) if value is not None else None

    def leadership(self, worker_id):
        return FileLockLeadership(self.connection.settings_dict["NAME"])


class ImmediateTransaction:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` on Django's connection, which must be in autocommit."""

    def __init__(self, connection):
        self.connection = connection

    def __enter__(self):
        self.connection.ensure_connection()
        if self.connection.in_atomic_block:
            # Already inside the caller's transaction (a test, or atomic()):
            # its write lock, if any, is the one we would take.
            self.nested = True
            self.cursor = self.connection.cursor()
            return self.cursor
        self.nested = False
        self.cursor = self.connection.cursor()
        self.cursor.execute("BEGIN IMMEDIATE")
        return self.cursor

    def __exit__(self, exc_type, exc, tb):
        try:
            if not self.nested:
                self.cursor.execute("ROLLBACK" if exc_type else "COMMIT")
        finally:
            self.cursor.close()
        return False


class FileLockLeadership:
    def __init__(self, database_name):
        self.path = None if str(database_name) in ("", ":memory:") or "mode=memory" in str(database_name) else f"{database_name}.leader.lock"
        self.file = None
        self.held = False

    def acquire(self):
        if self.held:
            return True
        if self.path is None:  # an in-memory database has one process
            self.held = True
            return True
        if self.file is None:
            self.file = open(self.path, "a+")
        try:
            fcntl.flock(self.file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            self.held = True
        except BlockingIOError:
            self.held = False
        return self.held

    def release(self):
        if self.file is not None:
            fcntl.flock(self.file.fileno(), fcntl.LOCK_UN)
            self.file.close()
            self.file = None
        self.held = False
