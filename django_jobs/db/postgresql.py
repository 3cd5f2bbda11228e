"""
PostgreSQL: how a worker claims jobs, is woken, and elects a scheduler leader.

Claim: one statement. ``picked`` locks up to ``limit`` due ready rows,
skipping rows another worker's claim holds (``FOR UPDATE SKIP LOCKED``), in
the order of the partial index ``django_jobs_claim_idx``; ``claimed`` moves
them to running with a lease from the database clock; ``runs`` opens a JobRun
per attempt. All of it commits together, so a claimed job always has its run.

Wake-up: migration 0002 installs a trigger that runs
``pg_notify('django_jobs', queue_name)`` when a due job becomes ready (insert
or retry). NOTIFY is transactional: a worker hears of a job only once the
enqueuing transaction commits, and never of a rolled-back one. Workers LISTEN
on a dedicated connection and fall back to polling every POLL_INTERVAL.

Leadership: the scheduler leader holds a session-level advisory lock on its
own connection; if the process dies, PostgreSQL drops the connection and the
lock, and another worker takes it on its next try.
"""

import logging

from django.db import DatabaseError, connections

from .base import CLAIM_COLUMNS, DatabaseOps, PollingListener

logger = logging.getLogger("django_jobs.worker")

CHANNEL = "django_jobs"
#: Payload: the id of a job cancelled while it may be running.
CANCEL_CHANNEL = "django_jobs_cancel"
#: Advisory lock key of the scheduler leader ("djobs" in ASCII).
LEADER_LOCK_KEY = 0x646A6F6273

CLAIM_SQL = """
WITH picked AS (
    SELECT id FROM {job}
    WHERE state = 'ready' AND run_after <= statement_timestamp()
      AND (expires_at IS NULL OR expires_at > statement_timestamp())
      {queue_filter}{coalesce_filter}
    ORDER BY priority DESC, run_after, id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE {job} AS job SET
        state = 'running',
        attempts = job.attempts + 1,
        attempts_left = job.attempts_left - 1,
        worker_id = %(worker_id)s,
        started_at = COALESCE(job.started_at, statement_timestamp()),
        last_attempted_at = statement_timestamp(),
        grabbed_until = statement_timestamp() + LEAST(%(lease)s, COALESCE(job.max_work_duration, %(lease)s))
    FROM picked
    WHERE job.id = picked.id
    RETURNING {returning}
), runs AS (
    INSERT INTO {run} (job_id, attempt, worker_id, started_at, outcome,
                       exception_class_path, message, traceback)
    SELECT id, attempts, %(worker_id)s, statement_timestamp(), 'running', '', '', '' FROM claimed
)
SELECT {columns} FROM claimed ORDER BY priority DESC, id
"""


class PostgreSQLOps(DatabaseOps):
    vendor = "postgresql"

    def claim(self, *, worker_id, queues, limit, lease, coalesce=None):
        from ..models import Job, JobRun

        sql = CLAIM_SQL.format(
            job=self.qn(Job._meta.db_table),
            run=self.qn(JobRun._meta.db_table),
            queue_filter="AND queue_name = ANY(%(queues)s)" if queues else "",
            coalesce_filter="AND func_id = %(func_id)s AND coalesce_key = %(coalesce)s" if coalesce else "",
            returning=", ".join(f"job.{c}" for c in CLAIM_COLUMNS),
            columns=", ".join(CLAIM_COLUMNS),
        )
        params = {"limit": limit, "worker_id": worker_id, "lease": lease, "queues": list(queues or ())}
        if coalesce:
            params["func_id"], params["coalesce"] = coalesce
        with self.connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        return self._claimed(worker_id, rows)

    def announce_cancel(self, job_id):
        with self.connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, %s)", [CANCEL_CHANNEL, str(job_id)])

    def listener(self, stop_event):
        return PostgreSQLListener(self.using, stop_event)

    def leadership(self, worker_id):
        return AdvisoryLockLeadership(self.using)


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
    """LISTENs for NOTIFY from enqueues; polls while the database is unreachable."""

    def __init__(self, using, stop_event):
        super().__init__(using)
        self.polling = PollingListener(stop_event)

    def on_connect(self, conn):
        conn.execute(f"LISTEN {CHANNEL}")
        conn.execute(f"LISTEN {CANCEL_CHANNEL}")

    def wait(self, timeout):
        try:
            conn = self.get()
            cancelled = set()
            for notify in conn.notifies(timeout=timeout, stop_after=1):
                if notify.channel == CANCEL_CHANNEL:
                    cancelled.add(int(notify.payload))
            return cancelled
        except Exception as e:  # psycopg errors, or Django's wrapped ones
            logger.warning("Listening for new jobs failed (%s); polling until it reconnects.", e)
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
