"""
MariaDB (>= 10.6) and MySQL (>= 8.0): how a worker claims jobs, and elects a scheduler leader.

Claim: in one transaction, ``PICK_NEXT`` locks up to ``limit`` due ready rows,
skipping rows another worker's claim holds (``FOR UPDATE SKIP LOCKED``);
``CLAIM_SQL`` moves them to running with a lease from the database clock,
read once per claim (``UTC_TIMESTAMP``); one JobRun per attempt; commit.
Limited jobs (concurrency and rate limits) are chosen first, by one claimer at
a time: it holds the named lock ``django_jobs:limited:<database>`` from its
count of what runs until its claims commit.

No NOTIFY: idle workers poll every POLL_INTERVAL seconds.

Leadership and worker liveness: named locks (``GET_LOCK``) held on dedicated
connections (``mysql_sessions``); the server drops them with the connection
when the process dies.

Datetimes are stored in UTC (``USE_TZ = True``); the connection's time zone
must be UTC too (``SET time_zone = '+00:00'``), for the columns' defaults
(``CURRENT_TIMESTAMP``) are read in it. See docs/mysql.md.
"""

from datetime import UTC, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils.duration import duration_microseconds

from ..transitions import CLAIM, COMPLETE
from . import rates
from .base import CLAIM_COLUMNS, KILL_MARGIN, DatabaseOps, declared
from .mysql_sessions import MySQLListener, NamedLockLeadership, lock_name, worker_lock_name

DUE = """
    state = 'ready' AND run_after <= %(now)s
    AND (expires_at IS NULL OR expires_at > %(now)s)
    AND NOT EXISTS (SELECT 1 FROM {queues} p WHERE p.name = job.queue_name AND p.paused)
"""

#: The next due unlimited jobs, locked, skipping rows other claims hold.
PICK_NEXT = """
    SELECT id FROM {job} AS job
    WHERE {due} AND concurrency_key IS NULL AND rate_key IS NULL {filters}
    ORDER BY priority DESC, fair_round, run_after, id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
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
        THEN TIMESTAMPADD(MICROSECOND, max_work_duration + %(margin_us)s, %(now)s)
        ELSE %(until)s END
WHERE id IN ({pick}) AND state IN ($sources)
""",
    CLAIM,
)
#: What a claim returns: the rows CLAIM_SQL just moved (no UPDATE … RETURNING here).
CLAIMED = declared(
    """
    SELECT {columns}, fair_round FROM {job}
    WHERE id IN ({pick}) AND state = $target AND worker_id = %(worker_id)s AND last_attempted_at = %(now)s
""",
    CLAIM,
)
INSERT_RUN_SQL = declared(
    """
INSERT INTO {run} (job_id, attempt, worker_id, started_at, outcome, exception_class_path, message, traceback)
VALUES (%s, %s, %s, %s, $run_outcome, '', '', '')
""",
    CLAIM,
)

#: Rate keys full now (their counted claims reach their limit) with due jobs waiting, and when each frees a claim.
FULL_RATE_KEYS = """
    SELECT full_key.`key`, full_key.until FROM (
        SELECT `key`, min(counts_until) AS until FROM {bucket}
        WHERE counts_until > %(now)s
        GROUP BY `key` HAVING sum(claims) >= min(rate_limit)
    ) AS full_key
    WHERE EXISTS (SELECT 1 FROM {job} AS job WHERE rate_key = full_key.`key` AND state = 'ready'
                  AND run_after <= %(now)s {filters})
"""
#: Limited jobs: candidates (rate-limited ones but of full keys; those under a concurrency limit).
LIMITED_CANDIDATES = """
    SELECT * FROM (
        (SELECT id, concurrency_key, concurrency_limit, queue_name, rate_key, rate_limit, rate_period, priority,
                fair_round, run_after FROM {job} AS job
         WHERE {due} AND rate_key IS NOT NULL {not_full} {filters}
         ORDER BY priority DESC, fair_round, run_after, id LIMIT %(rate_candidates)s)
        UNION ALL
        (SELECT id, concurrency_key, concurrency_limit, queue_name, NULL, NULL, NULL, priority,
                fair_round, run_after FROM {job} AS job
         WHERE {due} AND rate_key IS NULL
           AND (concurrency_key IS NOT NULL OR queue_name IN ({limited_queues})) {filters}
         ORDER BY priority DESC, fair_round, run_after, id LIMIT %(candidates)s)
    ) AS candidate
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
    SELECT 'rate', `key`, sum(claims) FROM {bucket}
    WHERE counts_until > %(now)s GROUP BY `key`
"""
#: Adds a claim's rate-limited jobs to their buckets (then DROP_SPENT_BUCKETS drops what no longer counts).
COUNT_RATE_CLAIMS = """
    INSERT INTO {bucket} (`key`, start, claims, rate_limit, counts_until) VALUES (%s, %s, %s, %s, %s)
    ON DUPLICATE KEY UPDATE claims = claims + VALUES(claims), rate_limit = VALUES(rate_limit)
"""
DROP_SPENT_BUCKETS = "DELETE FROM {bucket} WHERE counts_until <= %s"

#: The attempts of a batch that this worker still holds, locked (in id order, as every batch locks them).
RECORDABLE = declared(
    """
    SELECT id, attempts FROM {job}
    WHERE id IN ({ids}) AND (id, attempts) IN ({pairs}) AND state IN ($sources) AND worker_id = %s
    ORDER BY id FOR UPDATE
""",
    COMPLETE,
)
#: Records attempts that returned (``COMPLETE``): RECORDABLE's rows, each with its return value.
COMPLETE_MANY_SQL = declared(
    """
UPDATE {job} SET
    state = $target,
    finished_at = %s,
    keep_until = CASE WHEN keep_for IS NULL THEN NULL ELSE TIMESTAMPADD(MICROSECOND, keep_for, %s) END,
    grabbed_until = NULL,
    return_value = CASE id {values} END,
    exit_status = 0
WHERE id IN ({ids}) AND (id, attempts) IN ({pairs}) AND state IN ($sources) AND worker_id = %s
""",
    COMPLETE,
)
COMPLETE_RUNS_SQL = declared(
    """
UPDATE {run} SET outcome = $run_outcome, finished_at = %s, exit_status = 0
WHERE job_id IN ({ids}) AND (job_id, attempt) IN ({pairs})
""",
    COMPLETE,
)

#: Declared transitions and the statements that apply them (checked against each other by the tests).
STATEMENTS = {"claim": "CLAIM_SQL", "complete": "COMPLETE_MANY_SQL"}

#: How long (seconds) a limited claim waits for another claimer's turn before it leaves limited jobs for now.
LIMITED_LOCK_WAIT = 2


def _in_list(prefix, values, params):
    """``%(prefix0)s, %(prefix1)s, …`` for an IN list, adding the values to ``params``."""
    names = []
    for i, value in enumerate(values):
        params[f"{prefix}{i}"] = value
        names.append(f"%({prefix}{i})s")
    return ", ".join(names) or "NULL"


class MySQLOps(DatabaseOps):
    vendor = "mysql"

    def is_deadlock(self, error):
        return getattr(error.__cause__, "args", (None,))[:1] == (1213,)  # ER_LOCK_DEADLOCK

    def claim(self, *, worker_id, queues, limit, lease, coalesce=None, queue_limits=None, limited=False, backend=None):
        from ..models import Job, JobRun, QueueState, RateBucket

        queue_limits = queue_limits or {}
        now = self.now()
        adapt = self.connection.ops.adapt_datetimefield_value
        params = {
            "worker_id": worker_id,
            "now": adapt(now),
            "until": adapt(now + lease),
            "lease_us": duration_microseconds(lease),
            "margin_us": duration_microseconds(KILL_MARGIN),
            "candidates": self.LIMITED_CANDIDATES,
            # Rate-limited candidates are rarely skipped (full keys are left out): a few more than the claim takes.
            "rate_candidates": min(self.LIMITED_CANDIDATES, 2 * limit + 8),
        }
        tables = {
            "job": self.qn(Job._meta.db_table),
            "run": self.qn(JobRun._meta.db_table),
            "bucket": self.qn(RateBucket._meta.db_table),
        }
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

        rows = []
        candidates = ()
        rate_wait = None
        if limited:
            candidates, rows, rate_wait = self._claim_limited(
                tables, due, filters, limited_queues, params, queue_limits, limit, now
            )
        if len(rows) < limit:
            next_filters = filters + (f" AND queue_name NOT IN ({limited_queues})" if queue_limits else "")
            with transaction.atomic(using=self.using, savepoint=False), self.connection.cursor() as cursor:
                cursor.execute(
                    PICK_NEXT.format(due=due, filters=next_filters, **tables), {**params, "limit": limit - len(rows)}
                )
                rows += self._move(cursor, tables, [pk for (pk,) in cursor.fetchall()], params)
        # Priority first, then the fair round (the column after CLAIM_COLUMNS), then id.
        rows.sort(key=lambda row: (-row[CLAIM_COLUMNS.index("priority")], row[-1], row[0]))
        claimed = self._claimed(worker_id, rows, len(candidates))
        claimed.rate_wait = rate_wait
        return claimed

    def _move(self, cursor, tables, ids, params):
        """Claims the jobs ``ids`` (locked, or limited ones under the limited lock); returns their claim rows."""
        if not ids:
            return []
        params = dict(params)
        pick = _in_list("id", ids, params)
        cursor.execute(CLAIM_SQL.format(pick=pick, **tables), params)
        cursor.execute(CLAIMED.format(pick=pick, columns=", ".join(CLAIM_COLUMNS), **tables), params)
        rows = cursor.fetchall()
        insert_run = INSERT_RUN_SQL.format(**tables)
        cursor.executemany(insert_run, [(row[0], row[1], params["worker_id"], params["now"]) for row in rows])
        return list(rows)

    def _claim_limited(self, tables, due, filters, limited_queues, params, queue_limits, limit, now):
        """
        Limited jobs, under the named lock ``django_jobs:limited:<database>``
        (taken before counting, released once the claims committed): counting
        running limited jobs (and each rate key's claims) and claiming within
        the limits is then safe. Returns (candidates, claim rows, rate wait).
        """
        name = lock_name("limited", self.connection.settings_dict["NAME"])
        with self.connection.cursor() as cursor:
            cursor.execute("SELECT GET_LOCK(%s, %s)", [name, LIMITED_LOCK_WAIT])
            if not cursor.fetchone()[0]:  # another claimer's turn lasted: look again in a moment
                return (), [], rates.CONTENDED_WAIT
        try:
            rows = []
            rate_wait = None
            with transaction.atomic(using=self.using, savepoint=False), self.connection.cursor() as cursor:
                cursor.execute(FULL_RATE_KEYS.format(filters=filters, **tables), params)
                full = dict(cursor.fetchall())
                if full:
                    rate_wait = max((self.from_db_datetime(min(full.values())) - now).total_seconds(), 0.0)
                not_full = f"AND rate_key NOT IN ({_in_list('full', sorted(full), params)})" if full else ""
                sql = LIMITED_CANDIDATES.format(
                    due=due, filters=filters, limited_queues=limited_queues, not_full=not_full, **tables
                )
                cursor.execute(sql, params)
                # The UNION's NULL columns make MariaDB return the rate columns as DECIMAL.
                candidates = [
                    (*c[:5], *(None if v is None else int(v) for v in c[5:7]), *c[7:]) for c in cursor.fetchall()
                ]
                if candidates:
                    cursor.execute(RUNNING.format(limited_queues=limited_queues, **tables), params)
                    running = {(kind, name): int(n) for kind, name, n in cursor.fetchall()}
                    ids = self.choose_limited(candidates, running, queue_limits, lambda r: True, limit)
                    rows = self._move(cursor, tables, ids, params)
                    self._count_rate_claims(cursor, tables, now, rows, rates.rate_limits(candidates))
            return candidates, rows, rate_wait
        finally:
            # On the driver's cursor: a named lock outlives a transaction, even one Django marked for rollback.
            cursor = self.connection.connection.cursor()
            try:
                cursor.execute("SELECT RELEASE_LOCK(%s)", [name])
            finally:
                cursor.close()

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

        now = self.connection.ops.adapt_datetimefield_value(self.now())
        tables = {"job": self.qn(Job._meta.db_table), "run": self.qn(JobRun._meta.db_table)}
        done = {job_id: (attempt, value) for job_id, attempt, value in self._done_rows(succeeded)}
        with transaction.atomic(using=self.using, savepoint=False), self.connection.cursor() as cursor:
            ids, pairs = ", ".join(["%s"] * len(done)), ", ".join(["(%s, %s)"] * len(done))
            pair_values = [v for job_id, (attempt, _value) in done.items() for v in (job_id, attempt)]
            cursor.execute(RECORDABLE.format(ids=ids, pairs=pairs, **tables), [*done, *pair_values, worker_id])
            recorded = cursor.fetchall()
            if not recorded:
                return {}
            ids, pairs = ", ".join(["%s"] * len(recorded)), ", ".join(["(%s, %s)"] * len(recorded))
            pair_values = [v for row in recorded for v in row]
            sql = COMPLETE_MANY_SQL.format(
                values=" ".join(["WHEN %s THEN %s"] * len(recorded)), ids=ids, pairs=pairs, **tables
            )
            values = [v for job_id, _attempt in recorded for v in (job_id, done[job_id][1])]
            cursor.execute(sql, [now, now, *values, *(pk for pk, _ in recorded), *pair_values, worker_id])
            cursor.execute(
                COMPLETE_RUNS_SQL.format(ids=ids, pairs=pairs, **tables),
                [now, *(pk for pk, _ in recorded), *pair_values],
            )
        return dict.fromkeys(job_id for job_id, _attempt in recorded)

    def insert_jobs(self, columns, rows):
        """MariaDB: multi-row INSERTs … RETURNING. MySQL has no RETURNING: one INSERT per job, then its times."""
        if self.connection.mysql_is_mariadb:  # type: ignore[attr-defined]  # MySQL's DatabaseWrapper
            return super().insert_jobs(columns, rows)
        from ..models import Job

        qn = self.qn
        table = qn(Job._meta.db_table)
        insert = f"INSERT INTO {table} ({', '.join(map(qn, columns))}) VALUES ({', '.join(['%s'] * len(columns))})"  # noqa: S608
        ids = []
        with self.connection.cursor() as cursor:
            for row in rows:
                cursor.execute(insert, row)
                ids.append(cursor.lastrowid)
            times: dict[int, tuple] = {}
            for start in range(0, len(ids), 1000):
                chunk = ids[start : start + 1000]
                cursor.execute(
                    f"SELECT id, enqueued_at, run_after FROM {table} WHERE id IN ({', '.join(['%s'] * len(chunk))})",  # noqa: S608
                    chunk,
                )
                times.update((pk, (enqueued, run_after)) for pk, enqueued, run_after in cursor.fetchall())
        return [(pk, *map(self.from_db_datetime, times[pk])) for pk in ids]

    def write_transaction(self):
        return transaction.atomic(using=self.using, savepoint=False)

    def from_db_datetime(self, value):
        if value is None:
            return value
        return self.connection.ops.convert_datetimefield_value(value, None, self.connection)  # type: ignore[attr-defined]

    def _duration(self, value):
        return timedelta(microseconds=value) if value is not None else None

    def now(self):
        """The server's clock, in UTC (``UTC_TIMESTAMP``: whatever the connection's time zone)."""
        with self.connection.cursor() as cursor:
            cursor.execute("SELECT UTC_TIMESTAMP(6)")
            return cursor.fetchone()[0].replace(tzinfo=UTC)

    def listener(self, stop_event, worker_pk=None):
        return MySQLListener(self.using, stop_event, worker_pk)

    def workers_alive(self, workers):
        """The workers whose liveness lock (``GET_LOCK``, on their own connection) is held: their process lives."""
        if not workers:
            return set()
        database = self.connection.settings_dict["NAME"]
        pks = [pk for pk, _host, _pid in workers]
        alive = set()
        with self.connection.cursor() as cursor:
            for start in range(0, len(pks), 500):
                chunk = pks[start : start + 500]
                cursor.execute(
                    "SELECT " + ", ".join(["IS_USED_LOCK(%s) IS NOT NULL"] * len(chunk)),
                    [worker_lock_name(database, pk) for pk in chunk],
                )
                alive |= {pk for pk, held in zip(chunk, cursor.fetchone()) if held}
        return alive

    def leadership(self, worker_id):
        return NamedLockLeadership(self.using)

    def estimated_rows(self, queryset):
        """EXPLAIN's estimate of the rows read (InnoDB's index statistics), scaled by its ``filtered`` share."""
        sql, params = queryset.order_by().values("pk").query.sql_with_params()
        with self.connection.cursor() as cursor:
            cursor.execute("EXPLAIN EXTENDED " + sql if self.connection.mysql_is_mariadb else "EXPLAIN " + sql, params)  # type: ignore[attr-defined]
            names = [column[0].lower() for column in cursor.description]
            row = dict(zip(names, cursor.fetchone()))
        if row.get("rows") is None:
            return None
        return int(int(row["rows"]) * float(row.get("filtered") or 100) / 100)

    def argument_condition(self, value, key=None):
        """JSON containment (``JSON_CONTAINS``) on args or kwargs, as PostgreSQL's ``@>``."""
        if key is None:
            return Q(args__contains=[value])
        return Q(kwargs__contains={key: value})
