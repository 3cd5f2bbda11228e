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
import json
import os
import socket

from django.db.models import BooleanField
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.duration import duration_microseconds

from ..transitions import CLAIM, COMPLETE
from . import rates
from .base import CLAIM_COLUMNS, KILL_MARGIN, DatabaseOps, declared

DUE = """
    state = 'ready' AND run_after <= %(now)s
    AND (expires_at IS NULL OR expires_at > %(now)s)
    AND queue_name NOT IN (SELECT name FROM {queues} WHERE paused)
"""

#: Moves the picked rows to running (``CLAIM``); their runs are inserted by INSERT_RUN_SQL.
CLAIM_SQL = declared(
    """
UPDATE {job} SET
    state = $target,
    attempts = attempts + 1,
    attempts_left = attempts_left - 1,
    worker_id = %(worker_id)s,
    started_at = COALESCE(started_at, %(now)s),
    last_attempted_at = %(now)s,
    grabbed_until = CASE
        WHEN max_work_duration IS NOT NULL AND max_work_duration + %(margin_us)s < %(lease_us)s
        THEN django_format_dtdelta('+', %(now)s, max_work_duration + %(margin_us)s)
        ELSE %(until)s END
WHERE id IN ({pick}) AND state IN ($sources)
RETURNING {columns}, fair_round
""",
    CLAIM,
)

PICK_NEXT = """
    SELECT id FROM {job}
    WHERE {due} AND concurrency_key IS NULL AND rate_key IS NULL {filters}
    ORDER BY priority DESC, fair_round, run_after, id
    LIMIT %(limit)s
"""

#: Rate keys full now (their counted claims reach their limit) with due jobs waiting, and when each frees a claim.
FULL_RATE_KEYS = """
    SELECT key, until FROM (
        SELECT key, min(counts_until) AS until FROM {bucket}
        WHERE counts_until > %(now)s
        GROUP BY key HAVING sum(claims) >= min(rate_limit)
    ) AS full_key
    WHERE EXISTS (SELECT 1 FROM {job} WHERE rate_key = full_key.key AND state = 'ready' AND run_after <= %(now)s
                  {filters})
"""

#: Limited jobs: candidates (rate-limited ones but of full keys; those under a concurrency limit),
#: each part read in its index's order.
LIMITED_CANDIDATES = """
    SELECT * FROM (
        SELECT id, concurrency_key, concurrency_limit, queue_name, rate_key, rate_limit, rate_period, priority,
               fair_round, run_after FROM {job}
        WHERE {due} AND rate_key IS NOT NULL {not_full} {filters}
        ORDER BY priority DESC, fair_round, run_after, id LIMIT %(rate_candidates)s)
    UNION ALL
    SELECT * FROM (
        SELECT id, concurrency_key, concurrency_limit, queue_name, NULL, NULL, NULL, priority,
               fair_round, run_after FROM {job}
        WHERE {due} AND rate_key IS NULL
          AND (concurrency_key IS NOT NULL OR queue_name IN ({limited_queues})) {filters}
        ORDER BY priority DESC, fair_round, run_after, id LIMIT %(candidates)s)
    ORDER BY priority DESC, fair_round, run_after, id
    LIMIT %(candidates)s
"""

RUNNING = """
    SELECT 'key', concurrency_key, count(*) FROM {job}
    WHERE state = 'running' AND concurrency_key IS NOT NULL GROUP BY concurrency_key
    UNION ALL
    SELECT 'queue', queue_name, count(*) FROM {job}
    WHERE state = 'running' AND queue_name IN ({limited_queues}) GROUP BY queue_name
    UNION ALL
    SELECT 'rate', key, sum(claims) FROM {bucket}
    WHERE counts_until > %(now)s GROUP BY key
"""

#: Adds a claim's rate-limited jobs to their buckets (then DROP_SPENT_BUCKETS drops what no longer counts).
COUNT_RATE_CLAIMS = """
    INSERT INTO {bucket} (key, start, claims, rate_limit, counts_until) VALUES (%s, %s, %s, %s, %s)
    ON CONFLICT (key, start) DO UPDATE SET claims = claims + excluded.claims, rate_limit = excluded.rate_limit
"""
DROP_SPENT_BUCKETS = "DELETE FROM {bucket} WHERE counts_until <= %s"

#: Records attempts that returned (their rows in the VALUES list, ``COMPLETE``); then their runs.
COMPLETE_MANY_SQL = declared(
    """
WITH done (id, attempt, value) AS (VALUES {values})
UPDATE {job} SET
    state = $target,
    finished_at = %s,
    keep_until = CASE WHEN keep_for IS NULL THEN NULL ELSE django_format_dtdelta('+', %s, keep_for) END,
    grabbed_until = NULL,
    return_value = done.value,
    exit_status = 0
FROM done
WHERE {job}.id = done.id AND {job}.attempts = done.attempt AND state IN ($sources) AND worker_id = %s
RETURNING {job}.id, {job}.attempts
""",
    COMPLETE,
)
COMPLETE_RUNS_SQL = declared(
    """
UPDATE {run} SET outcome = $run_outcome, finished_at = %s, exit_status = 0
WHERE (job_id, attempt) IN (VALUES {values})
""",
    COMPLETE,
)

INSERT_RUN_SQL = declared(
    """
INSERT INTO {run} (job_id, attempt, worker_id, started_at, outcome,
                   exception_class_path, message, traceback)
VALUES (%s, %s, %s, %s, $run_outcome, '', '', '')
""",
    CLAIM,
)

#: Declared transitions and the statements that apply them (checked against each other by the tests).
STATEMENTS = {"claim": "CLAIM_SQL", "complete": "COMPLETE_MANY_SQL"}


def _in_list(prefix, values, params):
    """``%(prefix0)s, %(prefix1)s, …`` for an IN list, adding the values to ``params``."""
    names = []
    for i, value in enumerate(values):
        params[f"{prefix}{i}"] = value
        names.append(f"%({prefix}{i})s")
    return ", ".join(names) or "NULL"


#: A positional argument (an element of args) of the JSON value's type and value.
ARGS_CONTAIN_SQL = (
    'EXISTS (SELECT 1 FROM json_each("django_jobs_job"."args") AS e'
    " WHERE e.type = json_type(%s) AND e.value IS json_extract(%s, '$'))"
)
#: The keyword argument named by the first parameter, of the JSON value's type and value.
KWARG_EQUALS_SQL = (
    'EXISTS (SELECT 1 FROM json_each("django_jobs_job"."kwargs") AS e'
    " WHERE e.key = %s AND e.type = json_type(%s) AND e.value IS json_extract(%s, '$'))"
)


class SQLiteOps(DatabaseOps):
    vendor = "sqlite"

    def claim(self, *, worker_id, queues, limit, lease, coalesce=None, queue_limits=None, limited=False, backend=None):
        """
        Everything under BEGIN IMMEDIATE: no other claim runs meanwhile, so
        counting running limited jobs (and each rate key's claims) and
        claiming within the limits is safe.
        """
        from ..models import Job, JobRun, QueueState, RateBucket

        ops = self.connection.ops
        queue_limits = queue_limits or {}
        now = timezone.now()
        params = {
            "worker_id": worker_id,
            "now": ops.adapt_datetimefield_value(now),
            "until": ops.adapt_datetimefield_value(now + lease),
            # What ops.adapt_durationfield_value() returns on SQLite, a Django 6.1 method.
            "lease_us": duration_microseconds(lease),
            "margin_us": duration_microseconds(KILL_MARGIN),
            "candidates": self.LIMITED_CANDIDATES,
            # Rate-limited candidates are rarely skipped (full keys are left out): a few more than the claim takes.
            "rate_candidates": min(self.LIMITED_CANDIDATES, 2 * limit + 8),
        }
        tables = {"job": self.qn(Job._meta.db_table), "bucket": self.qn(RateBucket._meta.db_table)}
        due = DUE.format(queues=self.qn(QueueState._meta.db_table))
        filters = ""
        if queues:
            filters += f" AND queue_name IN ({_in_list('q', queues, params)})"
        if backend:
            filters += " AND backend = %(backend)s"
            params["backend"] = backend
        if coalesce:
            filters += " AND func_id = %(func_id)s AND coalesce_key = %(coalesce)s"
            params["func_id"], params["coalesce"] = coalesce
        limited_queues = _in_list("lq", sorted(queue_limits), params)
        columns = ", ".join(CLAIM_COLUMNS)
        insert_run = INSERT_RUN_SQL.format(run=self.qn(JobRun._meta.db_table))

        rows = []
        candidates = ()
        rate_wait = None
        with self.write_transaction() as cursor:
            if limited:
                cursor.execute(FULL_RATE_KEYS.format(filters=filters, **tables), params)
                full = dict(cursor.fetchall())
                if full:
                    rate_wait = max((self.from_db_datetime(min(full.values())) - now).total_seconds(), 0.0)
                candidates_sql = LIMITED_CANDIDATES.format(
                    due=due,
                    filters=filters,
                    limited_queues=limited_queues,
                    not_full=f"AND rate_key NOT IN ({_in_list('full', sorted(full), params)})" if full else "",
                    **tables,
                )
                cursor.execute(candidates_sql, params)
                candidates = cursor.fetchall()
                if candidates:
                    cursor.execute(RUNNING.format(limited_queues=limited_queues, **tables), params)
                    running = {(kind, name): n for kind, name, n in cursor.fetchall()}
                    ids = self.choose_limited(candidates, running, queue_limits, lambda r: True, limit)
                    if ids:
                        pick = ", ".join(_in_list("id", ids, params).split(", "))
                        cursor.execute(CLAIM_SQL.format(pick=pick, columns=columns, **tables), params)
                        rows += cursor.fetchall()
                        self._count_rate_claims(cursor, tables, now, rows, rates.rate_limits(candidates))
            if len(rows) < limit:
                next_filters = filters + (f" AND queue_name NOT IN ({limited_queues})" if queue_limits else "")
                pick = PICK_NEXT.format(due=due, filters=next_filters, **tables)
                cursor.execute(
                    CLAIM_SQL.format(pick=pick, columns=columns, **tables), {**params, "limit": limit - len(rows)}
                )
                rows += cursor.fetchall()
            if rows:
                cursor.executemany(insert_run, [(row[0], row[1], worker_id, params["now"]) for row in rows])
        # Priority first, then the fair round (the column after CLAIM_COLUMNS), then id.
        rows.sort(key=lambda row: (-row[CLAIM_COLUMNS.index("priority")], row[-1], row[0]))
        claimed = self._claimed(worker_id, rows, len(candidates))
        claimed.rate_wait = rate_wait
        return claimed

    def _count_rate_claims(self, cursor, tables, now, rows, limits):
        """Adds the rate-limited jobs among the claimed ``rows`` (all claimed ``now``) to their buckets."""
        adapt = self.connection.ops.adapt_datetimefield_value
        buckets = rates.bucket_rows([(row[0], now) for row in rows], limits)
        if buckets:
            cursor.executemany(
                COUNT_RATE_CLAIMS.format(**tables),
                [(key, adapt(start), n, cap, adapt(until)) for key, start, n, cap, until in buckets],
            )
            cursor.execute(DROP_SPENT_BUCKETS.format(**tables), [adapt(now)])

    def complete_many(self, worker_id, succeeded):
        from ..models import Job, JobRun

        now = self.connection.ops.adapt_datetimefield_value(timezone.now())
        rows = self._done_rows(succeeded)
        job, run = self.qn(Job._meta.db_table), self.qn(JobRun._meta.db_table)
        with self.write_transaction() as cursor:
            cursor.execute(
                COMPLETE_MANY_SQL.format(values=", ".join(["(%s, %s, %s)"] * len(rows)), job=job),
                [*(v for row in rows for v in row), now, now, worker_id],
            )
            recorded = cursor.fetchall()
            if recorded:
                cursor.execute(
                    COMPLETE_RUNS_SQL.format(values=", ".join(["(%s, %s)"] * len(recorded)), run=run),
                    [now, *(v for row in recorded for v in row)],
                )
        return dict.fromkeys(job_id for job_id, _attempt in recorded)

    def write_transaction(self):
        return ImmediateTransaction(self.connection)

    def from_db_datetime(self, value):
        # SQLite's DatabaseOperations has the converter; django-stubs types connection.ops as their base class.
        return self.connection.ops.convert_datetimefield_value(value, None, self.connection) if value else value  # type: ignore[attr-defined]

    def _duration(self, value):
        from datetime import timedelta

        return timedelta(microseconds=value) if value is not None else None

    @property
    def single_threaded(self):
        """
        An in-memory database (Django's default test database for SQLite) shares one cache among the
        process's connections, and SQLite fails a second writer at once ("database table is
        locked"), without the busy timeout a database file has.
        """
        return self.connection.is_in_memory_db()  # type: ignore[attr-defined]  # SQLite's DatabaseWrapper

    def leadership(self, worker_id):
        return FileLockLeadership(self.connection.settings_dict["NAME"])

    def workers_alive(self, workers):
        """
        SQLite lives on one host, so every worker runs on this one: a worker
        whose process still exists is alive, however late its heartbeat (a
        busy database can hold a heartbeat back for its whole ``timeout``).
        """
        here = socket.gethostname()
        alive = set()
        for pk, host, pid in workers:
            if host[:255] != here[:255]:
                continue
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                continue
            except PermissionError:  # another user's process: it exists
                pass
            alive.add(pk)
        return alive

    def estimated_rows(self, queryset):
        # SQLite keeps no row statistics a plan could be read from: the rows are counted.
        return None

    def argument_condition(self, value, key=None):
        """SQLite's JSON functions: an element of args (or the key of kwargs) of the same type and value."""
        text = json.dumps(value)
        if key is None:
            sql, params = ARGS_CONTAIN_SQL, [text, text]
        else:
            sql, params = KWARG_EQUALS_SQL, [key, text, text]
        return RawSQL(  # noqa: S611 (constant SQL; the values are parameters)
            sql,
            params,
            output_field=BooleanField(),
        )


class ImmediateTransaction:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` on Django's connection, which must be in autocommit."""

    def __init__(self, connection):
        self.connection = connection

    def __enter__(self):
        self.connection.ensure_connection()
        if self.connection.in_atomic_block or self.connection.connection.in_transaction:
            # Already inside the caller's transaction (a test, atomic(), or an
            # outer write_transaction): its write lock is the one we would take.
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
        self.path = (
            None
            if str(database_name) in ("", ":memory:") or "mode=memory" in str(database_name)
            else f"{database_name}.leader.lock"
        )
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
