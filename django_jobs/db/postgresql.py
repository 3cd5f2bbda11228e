"""
PostgreSQL: how a worker claims jobs, is woken, and elects a scheduler leader.

Claim: one statement. ``picked`` locks up to ``limit`` due ready rows,
skipping rows another worker's claim holds (``FOR UPDATE SKIP LOCKED``), in
the order of the partial index ``django_jobs_claim_idx`` (priority, then fair
round); ``claimed`` moves them to running with a lease from the database
clock; ``runs`` opens a JobRun per attempt. All of it commits together, so a
claimed job always has its run. Limited jobs (concurrency and rate limits)
are chosen first, under an advisory lock per resource (``claim``).

Wake-up: triggers run ``pg_notify('django_jobs', queue_name)`` when a due
job becomes ready: once per INSERT or COPY statement for the queues it gave
due jobs (migration 0005), and per row for a retry or run-now (0002). NOTIFY
is transactional: a worker hears of a job only once the enqueuing
transaction commits, and never of a rolled-back one. Workers LISTEN
on a dedicated connection and fall back to polling every POLL_INTERVAL.

Leadership: the scheduler leader holds a session-level advisory lock on its
own connection; if the process dies, PostgreSQL drops the connection and the
lock, and another worker takes it on its next try.

Behind a transaction pooler (``OPTIONS['POOLED']``) without a direct
``LISTEN_DATABASE``, none of this session state is kept: workers poll, and
leadership is a lease row (``postgresql_pooled``).
"""

import logging
import time

from django.db import transaction
from django.db.models import Q

from ..transitions import CLAIM, COMPLETE
from . import postgresql_rates, rates
from .base import CLAIM_COLUMNS, KILL_MARGIN, DatabaseOps, PollingListener, declared
from .postgresql_pooled import LeaseLeadership
from .postgresql_sessions import CANCEL_CHANNEL, WORKER_LOCK_SPACE, AdvisoryLockLeadership, PostgreSQLListener

logger = logging.getLogger("django_jobs.worker")

HELD_WORKER_LOCKS = """
    SELECT objid::bigint FROM pg_locks
    WHERE locktype = 'advisory' AND classid::bigint = %s AND objsubid = 2 AND granted
      AND objid::bigint = ANY(%s::bigint[])
"""

#: Records attempts that returned (their rows in ``done``), and their runs, in one statement (``COMPLETE``).
COMPLETE_MANY_SQL = declared(
    """
WITH done (id, attempt, value) AS (VALUES {values}),
locked AS (
    -- Rows are locked in id order, as every multi-row statement here locks them (see RENEW_SQL):
    -- two such statements can wait for each other, never deadlock.
    -- Each locked row carries its report, so the UPDATE joins it alone, by primary key.
    SELECT job.id, done.attempt, done.value FROM {job} AS job JOIN done ON job.id = done.id
    ORDER BY job.id FOR UPDATE OF job
),
recorded AS (
    UPDATE {job} AS job SET
        state = $target,
        finished_at = statement_timestamp(),
        keep_until = statement_timestamp() + job.keep_for,
        grabbed_until = NULL,
        return_value = locked.value::jsonb,
        exit_status = 0
    FROM locked
    WHERE job.id = locked.id AND job.attempts = locked.attempt
      AND job.state IN ($sources) AND job.worker_id = %s
    RETURNING job.id, job.attempts
), runs AS (
    UPDATE {run} AS run SET outcome = $run_outcome, finished_at = statement_timestamp(), exit_status = 0
    FROM recorded
    WHERE run.job_id = recorded.id AND run.attempt = recorded.attempts
)
-- Whether a job may wait for it: only then does the caller look for jobs to release (one round trip less).
SELECT id, EXISTS (SELECT 1 FROM {dependency} AS link WHERE link.dependency_id = recorded.id) FROM recorded
""",
    COMPLETE,
)

#: Declared transitions and the statements that apply them (checked against each other by the tests).
STATEMENTS = {"claim": "CLAIM_SQL", "complete": "COMPLETE_MANY_SQL"}

#: Renews a worker's leases, locking the rows in id order (a batched completion locks them so too).
RENEW_SQL = """
UPDATE {job} AS job SET grabbed_until = CASE
        WHEN job.max_work_duration IS NOT NULL
             AND job.last_attempted_at + job.max_work_duration + %(margin)s < statement_timestamp() + %(lease)s
        THEN job.last_attempted_at + job.max_work_duration + %(margin)s
        ELSE statement_timestamp() + %(lease)s END
FROM (
    SELECT id FROM {job} WHERE id = ANY(%(ids)s) AND state = 'running' AND worker_id = %(worker_id)s
    ORDER BY id FOR UPDATE
) AS locked
WHERE job.id = locked.id
"""

#: Shared by both claim paths: which ready rows are due and may be claimed.
DUE = """
    state = 'ready' AND run_after <= statement_timestamp()
    AND (expires_at IS NULL OR expires_at > statement_timestamp())
    AND NOT EXISTS (SELECT 1 FROM {queues} p WHERE p.name = job.queue_name AND p.paused)
"""

#: Moves the picked rows to running and opens their runs, in one statement (``CLAIM``).
CLAIM_SQL = declared(
    """
WITH picked AS (
    {pick}
), claimed AS (
    UPDATE {job} AS job SET
        state = $target,
        attempts = job.attempts + 1,
        attempts_left = job.attempts_left - 1,
        worker_id = %(worker_id)s,
        started_at = COALESCE(job.started_at, statement_timestamp()),
        last_attempted_at = statement_timestamp(),
        grabbed_until = statement_timestamp()
            + LEAST(%(lease)s, COALESCE(job.max_work_duration + %(kill_margin)s, %(lease)s))
    FROM picked
    WHERE job.id = picked.id AND job.state IN ($sources)
    RETURNING {returning}, job.fair_round
), runs AS (
    INSERT INTO {run} (job_id, attempt, worker_id, started_at, outcome,
                       exception_class_path, message, traceback)
    SELECT id, attempts, %(worker_id)s, statement_timestamp(), $run_outcome, '', '', '' FROM claimed
)
SELECT {columns} FROM claimed{unflushed} ORDER BY priority DESC, fair_round, id
""",
    CLAIM,
)

#: Joined to a claim made alone (``claim_alone``): its transaction commits without waiting for the WAL flush.
UNFLUSHED = ", (SELECT set_config('synchronous_commit', 'off', true)) AS unflushed"

#: The next due unlimited jobs, skipping rows other claims hold.
PICK_NEXT = """
    SELECT id FROM {job} AS job
    WHERE {due} AND concurrency_key IS NULL AND rate_key IS NULL
      {filters}
    ORDER BY priority DESC, fair_round, run_after, id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
"""

#: Limited jobs: candidates (rate-limited ones, but of full keys; those under a concurrency limit),
#: each part read in its index's order. Not locked: every limited job is claimed only by the
#: holder of its resources' advisory locks, and CLAIM_SQL skips any that stopped being ready.
LIMITED_CANDIDATES = """
    (SELECT id, concurrency_key, concurrency_limit, queue_name, rate_key, rate_limit, rate_period, priority,
            fair_round, run_after FROM {job} AS job
     WHERE {due} AND rate_key IS NOT NULL AND rate_key <> ALL(ARRAY(SELECT key FROM ({full_keys}) AS f)) {filters}
     ORDER BY priority DESC, fair_round, run_after, id LIMIT %(rate_candidates)s)
    UNION ALL
    (SELECT id, concurrency_key, concurrency_limit, queue_name, NULL, NULL, NULL, priority,
            fair_round, run_after FROM {job} AS job
     WHERE {due} AND rate_key IS NULL
       AND (concurrency_key IS NOT NULL OR queue_name = ANY(%(limited_queues)s)) {filters}
     ORDER BY priority DESC, fair_round, run_after, id LIMIT %(candidates)s)
    ORDER BY priority DESC, fair_round, run_after, id
    LIMIT %(candidates)s
"""
#: A claim's try at each resource's lock, all in one statement (transaction-scoped: released when
#: the claim commits, after its claims are visible to the next holder's count).
TRY_LOCKS = """
    SELECT resource, pg_try_advisory_xact_lock(hashtextextended('django_jobs:' || resource, 0))
    FROM unnest(%s::text[]) AS resource
"""
RUNNING_BY_KEY = """
    SELECT concurrency_key, count(*) FROM {job}
    WHERE state = 'running' AND concurrency_key = ANY(%s) GROUP BY concurrency_key
"""
RUNNING_BY_QUEUE = """
    SELECT queue_name, count(*) FROM {job}
    WHERE state = 'running' AND queue_name = ANY(%s) GROUP BY queue_name
"""


class PostgreSQLOps(DatabaseOps):
    vendor = "postgresql"

    def is_deadlock(self, error):
        return getattr(error.__cause__, "sqlstate", None) == "40P01"  # deadlock_detected

    def claim_alone(self, **claim_options):
        """
        An unlimited claim made alone is one statement, in autocommit, whose
        commit does not wait for the WAL to reach disk (``synchronous_commit``
        off for that transaction only): the pick-up of a job by an idle worker
        waits for no fsync. At-least-once still holds: the WAL is flushed in
        order, so anything the claimed attempt later commits durably (its
        report, its own writes) makes the claim durable first; a crash can only
        lose a claim whose attempt wrote nothing durable yet, and its job is
        then ready again, as if never claimed. Limited claims (several
        statements) and a claim inside the caller's transaction take the usual path.
        """
        if claim_options.get("limited") or claim_options.get("coalesce") or self.connection.in_atomic_block:
            return super().claim_alone(**claim_options)
        return self.claim(**claim_options, flushed=False)

    def claim(
        self,
        *,
        worker_id,
        queues,
        limit,
        lease,
        coalesce=None,
        queue_limits=None,
        limited=False,
        backend=None,
        flushed=True,
    ):
        """
        Unlimited jobs: one statement (PICK_NEXT inside CLAIM_SQL). Limited
        jobs, first and only when ``limited``: in one transaction, lock the
        candidates, take each resource's advisory lock (a claimer that cannot
        get it skips those jobs), count what runs (and what each rate key has
        claimed), claim what fits, and add the rate-limited claims to their
        buckets before the locks go with the commit.
        """
        from ..models import Job, JobRun, QueueState, RateBucket

        queue_limits = queue_limits or {}
        tables = {
            "job": self.qn(Job._meta.db_table),
            "run": self.qn(JobRun._meta.db_table),
            "bucket": self.qn(RateBucket._meta.db_table),
        }
        due = DUE.format(queues=self.qn(QueueState._meta.db_table))
        filters = ""
        if queues:
            filters += " AND queue_name = ANY(%(queues)s)"
        if backend:
            filters += " AND backend = %(backend)s"
        if coalesce:
            filters += " AND func_id = %(func_id)s AND coalesce_key = %(coalesce)s"
        params = {
            "worker_id": worker_id,
            "lease": lease,
            "kill_margin": KILL_MARGIN,
            "queues": list(queues or ()),
            "backend": backend,
            "limited_queues": sorted(queue_limits),
            "candidates": self.LIMITED_CANDIDATES,
        }
        if coalesce:
            params["func_id"], params["coalesce"] = coalesce
        claim_sql = CLAIM_SQL.format(
            returning=", ".join(f"job.{c}" for c in CLAIM_COLUMNS),
            columns=", ".join(CLAIM_COLUMNS),
            **tables,
            pick="{pick}",
            unflushed="" if flushed else UNFLUSHED,
        )
        rows = []
        considered, rate_wait = 0, None
        if limited:
            with transaction.atomic(using=self.using, savepoint=False), self.connection.cursor() as cursor:
                candidates, ids, contended = self._choose_limited(
                    cursor, tables, due, filters, params, queue_limits, limit
                )
                considered = len(candidates)
                if ids:
                    cursor.execute(
                        claim_sql.format(pick="SELECT unnest(%(ids)s::bigint[]) AS id"), {**params, "ids": ids}
                    )
                    rows += cursor.fetchall()
                    postgresql_rates.count_rate_claims(cursor, tables, rows, rates.rate_limits(candidates))
                if len(rows) < limit:  # the worker may go idle: tell it when a full key frees a claim
                    rate_wait = postgresql_rates.rate_wait(cursor, tables, filters, params)
                    if rate_wait is None and postgresql_rates.rate_jobs_due(cursor, tables, filters, params):
                        contended = True  # another claimer took them, or a key freed between the reads
                    if contended:  # another claimer held a rate key, or took its jobs: look again in a moment
                        rate_wait = rates.CONTENDED_WAIT if rate_wait is None else min(rate_wait, rates.CONTENDED_WAIT)
        if len(rows) < limit:
            next_filters = filters + (" AND queue_name <> ALL(%(limited_queues)s)" if queue_limits else "")
            pick = PICK_NEXT.format(due=due, filters=next_filters, **tables)
            with self.connection.cursor() as cursor:
                cursor.execute(claim_sql.format(pick=pick), {**params, "limit": limit - len(rows)})
                rows += cursor.fetchall()
        claimed = self._claimed(worker_id, rows, considered)
        claimed.rate_wait = rate_wait
        return claimed

    def _choose_limited(self, cursor, tables, due, filters, params, queue_limits, limit):
        sql = LIMITED_CANDIDATES.format(
            due=due, filters=filters, full_keys=postgresql_rates.FULL_KEYS.format(**tables), **tables
        )
        # Rate-limited candidates are rarely skipped (full keys are left out): a few more than the claim takes.
        cursor.execute(sql, {**params, "rate_candidates": min(self.LIMITED_CANDIDATES, 2 * limit + 8)})
        candidates = cursor.fetchall()
        if not candidates:
            return [], [], False
        keys = sorted({c[1] for c in candidates if c[1] is not None})
        limited_queues = sorted({c[3] for c in candidates if c[3] in queue_limits})
        rate_keys = sorted({c[4] for c in candidates if c[4] is not None})
        resources = [("key", k) for k in keys] + [("queue", q) for q in limited_queues]
        resources += [("rate", r) for r in rate_keys]
        names = {f"{kind}:{name}": (kind, name) for kind, name in resources}
        cursor.execute(TRY_LOCKS, [list(names)])
        locked = {names[name] for name, got in cursor.fetchall() if got}
        running = {}
        if keys:
            cursor.execute(RUNNING_BY_KEY.format(**tables), [keys])
            running.update({("key", k): n for k, n in cursor.fetchall()})
        if limited_queues:
            cursor.execute(RUNNING_BY_QUEUE.format(**tables), [limited_queues])
            running.update({("queue", q): n for q, n in cursor.fetchall()})
        if rate_keys:
            cursor.execute(postgresql_rates.RATE_COUNTED.format(**tables), [rate_keys])
            running.update({("rate", r): n for r, n in cursor.fetchall()})
        chosen = self.choose_limited(candidates, running, queue_limits, locked.__contains__, limit)
        return candidates, chosen, any(("rate", r) not in locked for r in rate_keys)

    def complete_many(self, worker_id, succeeded):
        from ..models import Dependency, Job, JobRun

        rows = self._done_rows(succeeded)
        sql = COMPLETE_MANY_SQL.format(
            values=", ".join(["(%s::bigint, %s::integer, %s::text)"] * len(rows)),
            job=self.qn(Job._meta.db_table),
            run=self.qn(JobRun._meta.db_table),
            dependency=self.qn(Dependency._meta.db_table),
        )
        with self.connection.cursor() as cursor:
            cursor.execute(sql, [*(v for row in rows for v in row), worker_id])
            return dict(cursor.fetchall())

    def renew_leases(self, worker_id, job_ids, lease):
        from ..models import Job

        params = {"ids": sorted(job_ids), "worker_id": worker_id, "lease": lease, "margin": KILL_MARGIN}
        with self.connection.cursor() as cursor:
            cursor.execute(RENEW_SQL.format(job=self.qn(Job._meta.db_table)), params)
            return cursor.rowcount

    #: From this many rows, insert_jobs copies instead of INSERTing.
    COPY_FROM = 20

    def insert_jobs(self, columns, rows):
        """
        A batch goes in by COPY: a multi-row INSERT's thousands of parameters
        cost more to bind and plan than the rows cost to write. COPY cannot
        return the ids, so they are drawn from the table's sequence first, in
        the same statement as the database's time, which stands in for the
        defaults of ``enqueued_at`` and (unless given) ``run_after``. The
        NOTIFY trigger fires for copied rows as for inserted ones.
        """
        if len(rows) < self.COPY_FROM:
            return super().insert_jobs(columns, rows)
        from ..models import Job

        table = Job._meta.db_table
        defaults = [c for c in ("enqueued_at", "run_after") if c not in columns]
        with self.connection.cursor() as cursor:
            cursor.execute(
                "SELECT array(SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)),"
                " statement_timestamp()",
                [table, len(rows)],
            )
            ids, now = cursor.fetchone()
            names = ", ".join(map(self.qn, ["id", *defaults, *columns]))
            sql = f"COPY {self.qn(table)} ({names}) FROM STDIN"
            started = time.monotonic()
            with cursor.cursor.copy(sql) as copy:  # psycopg's cursor: Django's wrapper has no copy()
                for pk, row in zip(ids, rows, strict=True):
                    copy.write_row([pk, *[now] * len(defaults), *row])
            if self.connection.queries_logged:  # so that DEBUG and query counts see it
                self.connection.queries_log.append(
                    {"sql": f"{sql} -- {len(rows)} rows", "time": f"{time.monotonic() - started:.3f}"}
                )
        run_after = columns.index("run_after") if "run_after" in columns else None
        return [(pk, now, now if run_after is None else row[run_after]) for pk, row in zip(ids, rows, strict=True)]

    def write_transaction(self):
        return transaction.atomic(using=self.using, savepoint=False)

    def announce_cancel(self, job_id):
        with self.connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, %s)", [CANCEL_CHANNEL, str(job_id)])

    def now(self):
        """The server's clock (``clock_timestamp()``: the time now, not the transaction's start)."""
        with self.connection.cursor() as cursor:
            cursor.execute("SELECT clock_timestamp()")
            return cursor.fetchone()[0]

    def listener(self, stop_event, worker_pk=None):
        """LISTEN on a connection of its own (to ``sessions.database``); behind a pooler without one, poll."""
        direct = self.sessions.database(self.using)
        if direct is None:
            return PollingListener(stop_event)
        return PostgreSQLListener(direct, stop_event, worker_pk)

    def workers_alive(self, workers):
        """
        The workers whose session lock is held: their connection, so their
        process, lives. pg_locks shows every session's locks, whichever
        connection asks (a pooled one too); a worker that keeps no session
        state (POOLED, no LISTEN_DATABASE) holds none, and its heartbeat
        alone says whether it lives.
        """
        if not workers:
            return set()
        keys = {pk & 0x7FFFFFFF: pk for pk, _host, _pid in workers}
        with self.connection.cursor() as cursor:
            cursor.execute(HELD_WORKER_LOCKS, [WORKER_LOCK_SPACE, sorted(keys)])
            return {keys[objid] for (objid,) in cursor.fetchall()}

    def leadership(self, worker_id):
        direct = self.sessions.database(self.using)
        if direct is None:
            return LeaseLeadership(self.using, worker_id, self.sessions.leader_lease)
        return AdvisoryLockLeadership(direct)

    def estimated_rows(self, queryset):
        import json

        # EXPLAIN plans the query without running it; its top node's "Plan Rows"
        # comes from the table's statistics (pg_class.reltuples, scaled to its size now).
        plan = json.loads(queryset.order_by().values("pk").explain(format="json"))
        if isinstance(plan, list):
            plan = plan[0]
        return int(plan["Plan"]["Plan Rows"])

    def argument_condition(self, value, key=None):
        """JSON containment (``@>``) on args or kwargs."""
        if key is None:
            return Q(args__contains=[value])
        return Q(kwargs__contains={key: value})
