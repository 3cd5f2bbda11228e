"""
Adapters: how the benchmark enqueues, fills, starts workers and reads
outcomes for each system. Imported only inside a driver process, after
Django is set up with that system's settings (bench/project/settings.py).
"""

import io
import os
import sys
import time
import uuid

from django.db import connection

PY = sys.executable
#: Seconds since the epoch of a stored datetime on SQLite (unixepoch(x, 'subsec') needs SQLite 3.42).
SQLITE_EPOCH = "((julianday({}) - 2440587.5) * 86400.0)"


def django_cmd(*args):
    return [PY, "-m", "django", *args]


#: Flow-control workloads (django_jobs only): W2 under a rate limit that never binds, and fair queuing.
FLOW_KINDS = ("rated", "fair")
NEVER_BINDS = "1000000/s"
FAIR_KEYS = 1000


class Adapter:
    name = ""
    label = ""
    #: The settings used, as printed in the output and docs/performance.md.
    settings = ""
    bulk_note = ""

    def __init__(self, slots, poll):
        self.slots = slots
        self.poll = poll

    # -- enqueue ------------------------------------------------------------------------
    def enqueue_one(self, kind, i=0):
        raise NotImplementedError

    def enqueue_bulk(self, n):
        """Enqueue ``n`` no-op jobs with the system's public bulk API; None if it has none."""
        return None

    def fill(self, kind, n, first=0):
        """``n`` waiting jobs of ``kind`` (argument i = first..first+n-1), as fast as the system's API allows."""
        raise NotImplementedError

    def fill_sql(self, n):
        """``n`` waiting no-op jobs: one enqueued through the API, cloned n-1 times by INSERT ... SELECT."""
        self.enqueue_one("noop")
        table, key = self.table, self.key
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = %s ORDER BY ordinal_position",
                [table],
            )
            cols = [c for (c,) in cursor.fetchall() if c != key]
            collist = ", ".join(f'"{c}"' for c in cols)
            cursor.execute(f'SELECT "{key}" FROM "{table}" LIMIT 1')
            (first,) = cursor.fetchone()
            key_expr = self.sql_new_key()
            key_col = f'"{key}", ' if key_expr else ""
            cursor.execute(
                f'INSERT INTO "{table}" ({key_col}{collist}) SELECT {key_expr + ", " if key_expr else ""}{collist} '
                f'FROM "{table}", generate_series(1, %s) WHERE "{key}" = %s',
                [n - 1, first],
            )

    table = ""
    key = "id"

    def sql_new_key(self):
        return ""

    # -- workers ----------------------------------------------------------------------
    def worker_cmds(self):
        raise NotImplementedError

    # -- outcomes ------------------------------------------------------------------------
    def outcome(self):
        """(succeeded, failed for good, first finish epoch, last finish epoch)."""
        raise NotImplementedError

    def done_count(self):
        ok, failed, _first, _last = self.outcome()
        return ok + failed

    def _query(self, sql, params=(), counts=2):
        """One row; its first ``counts`` values are counts (NULL: 0)."""
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
        return tuple(0 if v is None and i < counts else v for i, v in enumerate(row))


class Ours(Adapter):
    name = "ours"
    label = "django_jobs"
    table = "django_jobs_job"

    def __init__(self, slots, poll, processes=1):
        super().__init__(slots, poll)
        self.processes = processes
        per = max(1, slots // processes)
        self.settings = (
            f"runworker --concurrency {per}"
            + (f" x {processes} processes" if processes > 1 else " (1 process, threads)")
            + f"; LISTEN/NOTIFY on PostgreSQL, POLL_INTERVAL {poll}s; MAX_ATTEMPTS 2, retry at once"
        )
        self.bulk_note = "django_jobs.enqueue_many (one COPY per call on PostgreSQL, one INSERT on SQLite)"

    def enqueue_one(self, kind, i=0):
        from . import jobs

        task = getattr(jobs, kind)
        return task.enqueue() if kind == "noop" else task.enqueue(i)

    def enqueue_bulk(self, n):
        import django_jobs

        from . import jobs

        django_jobs.enqueue_many([(jobs.noop,)] * n)
        return n

    def fill(self, kind, n, first=0):
        import django_jobs

        from . import jobs

        if kind in FLOW_KINDS:
            return self.fill_flow(kind, n)
        task = getattr(jobs, kind)
        for start in range(first, first + n, 5000):
            calls = [(task, () if kind == "noop" else (i,)) for i in range(start, min(first + n, start + 5000))]
            django_jobs.enqueue_many(calls)

    def fill_flow(self, kind, n):
        """
        W2R: no-ops under a rate limit that never binds (one key: the task).
        FAIR: no-ops of FAIR_KEYS tenants, each with its fairness_key, enqueued tenant after tenant.
        """
        import django_jobs

        from . import jobs

        if kind == "rated":
            task = jobs.noop.using(rate_limit=NEVER_BINDS)
            calls = [(task,)] * n
        else:
            per_key = [jobs.tenant.using(fairness_key=f"tenant-{k}") for k in range(FAIR_KEYS)]
            calls = [(per_key[i * FAIR_KEYS // n], (i,)) for i in range(n)]
        for start in range(0, n, 5000):
            django_jobs.enqueue_many(calls[start : start + 5000])

    def worker_cmds(self):
        per = max(1, self.slots // self.processes)
        return [django_cmd("runworker", "--concurrency", str(per)) for _ in range(self.processes)]

    def outcome(self):
        return self._query(
            "SELECT count(*) FILTER (WHERE state = 'succeeded'), count(*) FILTER (WHERE state = 'failed'), "
            "extract(epoch FROM min(finished_at)), extract(epoch FROM max(finished_at)) "
            "FROM django_jobs_job WHERE state IN ('succeeded', 'failed')"
            if connection.vendor == "postgresql"
            else "SELECT sum(state = 'succeeded'), sum(state = 'failed'), "
            f"min({SQLITE_EPOCH.format('finished_at')}), max({SQLITE_EPOCH.format('finished_at')}) "
            "FROM django_jobs_job WHERE state IN ('succeeded', 'failed')"
        )

    def finished_before(self, t):
        return self._query(
            "SELECT count(*), extract(epoch FROM max(finished_at)) FROM django_jobs_job "
            "WHERE state IN ('succeeded', 'failed') AND finished_at <= to_timestamp(%s)",
            [t],
            counts=1,
        )


class Ours2P(Ours):
    name = "ours2p"
    label = "django_jobs (2 proc)"

    def __init__(self, slots, poll):
        super().__init__(slots, poll, processes=min(2, slots))


class DjangoTasksDB(Adapter):
    name = "dtdb"
    label = "django-tasks-db"
    table = "django_tasks_database_dbtaskresult"

    def __init__(self, slots, poll):
        super().__init__(slots, poll)
        self.settings = (
            f"{slots} x db_worker --interval {poll} --no-startup-delay --no-reload -v 0 "
            "(one task at a time per process; no retries)"
        )
        self.bulk_note = "no bulk API"

    def enqueue_one(self, kind, i=0):
        from . import jobs

        task = getattr(jobs, kind)
        return task.enqueue() if kind == "noop" else task.enqueue(i)

    def fill(self, kind, n, first=0):
        from django_tasks_db.models import DBTaskResult, get_date_max

        for start in range(first, first + n, 5000):
            DBTaskResult.objects.bulk_create(
                [
                    DBTaskResult(
                        id=uuid.uuid4(),
                        args_kwargs={"args": [] if kind == "noop" else [i], "kwargs": {}},
                        priority=0,
                        task_path=f"bench.jobs.{kind}",
                        queue_name="default",
                        run_after=get_date_max(),
                        backend_name="default",
                    )
                    for i in range(start, min(first + n, start + 5000))
                ]
            )

    def sql_new_key(self):
        return "gen_random_uuid()"

    def worker_cmds(self):
        args = [
            "db_worker",
            "--interval",
            str(self.poll),
            "--no-startup-delay",
            "--no-reload",
            "-v",
            "0",
            "--queue-name",
            "default",
        ]
        return [django_cmd(*args) for _ in range(self.slots)]

    def outcome(self):
        if connection.vendor == "postgresql":
            sql = (
                "SELECT count(*) FILTER (WHERE status = 'SUCCESSFUL'), count(*) FILTER (WHERE status = 'FAILED'), "
                "extract(epoch FROM min(finished_at)), extract(epoch FROM max(finished_at)) "
                "FROM django_tasks_database_dbtaskresult WHERE status IN ('SUCCESSFUL', 'FAILED')"
            )
        else:
            sql = (
                "SELECT sum(status = 'SUCCESSFUL'), sum(status = 'FAILED'), "
                f"min({SQLITE_EPOCH.format('finished_at')}), max({SQLITE_EPOCH.format('finished_at')}) "
                "FROM django_tasks_database_dbtaskresult WHERE status IN ('SUCCESSFUL', 'FAILED')"
            )
        return self._query(sql)

    def finished_before(self, t):
        return self._query(
            "SELECT count(*), extract(epoch FROM max(finished_at)) FROM django_tasks_database_dbtaskresult "
            "WHERE status IN ('SUCCESSFUL', 'FAILED') AND finished_at <= to_timestamp(%s)",
            [t],
            counts=1,
        )


class Procrastinate(Adapter):
    name = "procrastinate"
    label = "procrastinate"
    table = "procrastinate_jobs"

    def __init__(self, slots, poll):
        super().__init__(slots, poll)
        self.settings = (
            f"procrastinate worker --concurrency {slots} (1 process, asyncio; sync jobs in threads), "
            "listen_notify on, Django connector; RetryStrategy(max_attempts=1, wait=0)"
        )
        self.bulk_note = "Task.batch_defer (one INSERT per call)"

    def _task(self, kind):
        from . import pjobs

        return getattr(pjobs, kind)

    def enqueue_one(self, kind, i=0):
        task = self._task(kind)
        return task.defer() if kind == "noop" else task.defer(i=i)

    def enqueue_bulk(self, n):
        self._task("noop").batch_defer(*([{}] * n))
        return n

    def fill(self, kind, n, first=0):
        task = self._task(kind)
        for start in range(first, first + n, 5000):
            stop = min(first + n, start + 5000)
            task.batch_defer(*([{}] * (stop - start) if kind == "noop" else [{"i": i} for i in range(start, stop)]))

    def worker_cmds(self):
        return [django_cmd("procrastinate", "worker", "--concurrency", str(self.slots))]

    def outcome(self):
        ok, failed = self._query(
            "SELECT count(*) FILTER (WHERE status = 'succeeded'), count(*) FILTER (WHERE status = 'failed') "
            "FROM procrastinate_jobs WHERE status IN ('succeeded', 'failed')"
        )
        first, last = self._query(
            "SELECT extract(epoch FROM min(at)), extract(epoch FROM max(at)) FROM procrastinate_events "
            "WHERE type IN ('succeeded', 'failed')"
        )
        return ok, failed, first, last

    def done_count(self):
        return sum(self._query("SELECT count(*) FROM procrastinate_jobs WHERE status IN ('succeeded', 'failed')"))

    def finished_before(self, t):
        return self._query(
            "SELECT count(*), extract(epoch FROM max(at)) FROM procrastinate_events "
            "WHERE type IN ('succeeded', 'failed') AND at <= to_timestamp(%s)",
            [t],
            counts=1,
        )


class DjangoQ2(Adapter):
    name = "djq"
    label = "django-q2"
    table = "django_q_ormq"

    def __init__(self, slots, poll):
        super().__init__(slots, poll)
        self.settings = (
            f"qcluster, ORM broker; workers {slots}, poll {poll}s, bulk 10, timeout 1, retry 2 (a failed task "
            "is delivered again after 2 s; retry must exceed timeout), max_attempts 2, save_limit 0 (every result kept)"
        )
        self.bulk_note = "no bulk API"

    def enqueue_one(self, kind, i=0):
        from django_q.tasks import async_task

        return async_task(f"bench.qjobs.{kind}") if kind == "noop" else async_task(f"bench.qjobs.{kind}", i)

    def _packages(self, kind, start, stop):
        """What async_task() writes for each call, without a round trip per job."""
        from django.utils import timezone
        from django_q.humanhash import uuid as q_uuid
        from django_q.signing import SignedPackage

        now = timezone.now()
        for i in range(start, stop):
            tag = q_uuid()
            task = {
                "id": tag[1],
                "name": tag[0],
                "func": f"bench.qjobs.{kind}",
                "args": () if kind == "noop" else (i,),
                "kwargs": {},
                "started": now,
            }
            yield SignedPackage.dumps(task)

    def fill(self, kind, n, first=0):
        from django.utils import timezone
        from django_q.conf import Conf
        from django_q.models import OrmQ

        for start in range(first, first + n, 5000):
            now = timezone.now()
            OrmQ.objects.bulk_create(
                [
                    OrmQ(key=Conf.CLUSTER_NAME, payload=p, lock=now)
                    for p in self._packages(kind, start, min(first + n, start + 5000))
                ]
            )

    def fill_sql(self, n):
        # Every payload is signed and carries its own task id: made here, loaded with COPY.
        from django.utils import timezone
        from django_q.conf import Conf

        lock = timezone.now().isoformat()
        with connection.cursor() as cursor, cursor.copy('COPY django_q_ormq ("key", payload, lock) FROM STDIN') as copy:
            for start in range(0, n, 20000):
                buf = io.StringIO()
                for p in self._packages("noop", start, min(n, start + 20000)):
                    buf.write(f"{Conf.CLUSTER_NAME}\t{p}\t{lock}\n")
                copy.write(buf.getvalue())

    def worker_cmds(self):
        return [django_cmd("qcluster")]

    def outcome(self):
        if connection.vendor == "postgresql":
            sql = (
                "SELECT count(*) FILTER (WHERE success), count(*) FILTER (WHERE NOT success AND attempt_count >= 2), "
                "extract(epoch FROM min(stopped)), extract(epoch FROM max(stopped)) FROM django_q_task"
            )
        else:
            sql = (
                "SELECT sum(success), sum(NOT success AND attempt_count >= 2), "
                f"min({SQLITE_EPOCH.format('stopped')}), max({SQLITE_EPOCH.format('stopped')}) FROM django_q_task"
            )
        return self._query(sql)

    def recorded_now(self):
        # Results are saved (and acknowledged) by the monitor after the worker's "stopped" time:
        # count what is recorded at the end of the window.
        return self._query("SELECT count(*) FROM django_q_task WHERE success")[0]


class Bare(Ours):
    """PostgreSQL alone: a job row INSERT + COMMIT in a loop, through Django's connection (W1's baseline)."""

    name = "bare"
    label = "bare INSERT+COMMIT"

    def __init__(self, slots, poll):
        super().__init__(slots, poll)
        self.settings = (
            "Django connection (psycopg 3), loop of: BEGIN; INSERT INTO bench_bare (every column of a no-op job row) "
            "VALUES (...); COMMIT. bench_bare is LIKE django_jobs_job INCLUDING ALL (same indexes, no trigger)"
        )


ADAPTERS = {a.name: a for a in (Ours, Ours2P, DjangoTasksDB, Procrastinate, DjangoQ2, Bare)}


def adapter(name, slots, poll):
    return ADAPTERS[name](slots, poll)


def now():
    return time.time()


def env_for_workers():
    return dict(os.environ)
