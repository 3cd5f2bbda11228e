"""
What a database must provide to run the queue.

The claim protocol, for every database:

1. In one transaction, pick up to ``limit`` ready jobs of the worker's queues
   whose ``run_after`` has passed, highest priority first, oldest first.
2. Move them to ``running``: one more attempt, one less in the budget, the
   lease (``grabbed_until``) set from the database clock, the claimant's id.
3. Insert one JobRun per claimed job (outcome ``running``).
4. Commit, and return what the worker needs to run them.

No two claims can pick the same job: PostgreSQL skips rows another claim has
locked (``FOR UPDATE SKIP LOCKED``); SQLite takes its single write lock first
(``BEGIN IMMEDIATE``).
"""

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from string import Template

from django.db import connections

from .sessions import Sessions


@dataclass(slots=True)
class ClaimedJob:
    """A job as one attempt sees it. Every report back is guarded by (id, attempt, worker_id)."""

    id: int
    attempt: int
    worker_id: str
    func_id: int
    args: list
    kwargs: dict
    backend: str
    queue_name: str
    priority: int
    enqueued_at: datetime
    started_at: datetime
    last_attempted_at: datetime
    attempts_left: int
    max_work_duration: timedelta | None
    coalesce: str | None
    func_path: str = ""
    #: Why the stored arguments could not be read (a row edited by hand), if they could not.
    bad_arguments: str | None = None
    #: The job's W3C trace context (``tracing``), None when its enqueue was not traced.
    trace_context: dict | None = None
    #: When the job was due to run (its run_after as claimed).
    run_after: datetime | None = None

    @property
    def due_at(self) -> datetime:
        """When the job became due: the later of its enqueue and its run_after."""
        return self.enqueued_at if self.run_after is None else max(self.enqueued_at, self.run_after)


#: An attempt with a max_work_duration holds its lease this much longer, so
#: that a worker killing it (``--processes``) records why before the
#: scheduler takes it back as lost.
KILL_MARGIN = timedelta(seconds=1)


def declared(sql, transition):
    """
    ``sql`` with the parts a declared transition decides filled in:
    ``$target`` (the state it sets), ``$sources`` (the states it may start
    from, for ``state IN ($sources)``) and ``$run_outcome`` (what the attempt's
    run becomes). A test checks that such a statement sets exactly the
    transition's declared columns.
    """
    return Template(sql).substitute(
        target=f"'{transition.target}'",
        sources=transition.sql_sources(),
        run_outcome=f"'{transition.run_outcome}'",
    )


class ClaimBatch(list):
    """
    The ClaimedJobs of one claim; also says how many limited jobs it
    considered, and in how many seconds a rate key that is full now frees
    (None: none is full), so that a worker sleeps until then.
    """

    limited_candidates = 0
    rate_wait: float | None = None


#: Columns a claim returns, in ClaimedJob's order after worker_id.
CLAIM_COLUMNS = (
    "id",
    "attempts",
    "func_id",
    "args",
    "kwargs",
    "backend",
    "queue_name",
    "priority",
    "enqueued_at",
    "started_at",
    "last_attempted_at",
    "attempts_left",
    "max_work_duration",
    "coalesce_key",
    "trace_context",
    "run_after",
)


class DatabaseOps:
    vendor: str | None = None
    #: Where workers may keep session state (``db.sessions``): by default, on the job database.
    sessions = Sessions()

    def __init__(self, using):
        self.using = using
        self.connection = connections[using]
        self.qn = self.connection.ops.quote_name

    # -- claiming ------------------------------------------------------------
    def claim(self, *, worker_id, queues, limit, lease, coalesce=None, queue_limits=None, limited=False, backend=None):
        """
        Claim up to ``limit`` due jobs of unpaused queues (``queues`` None: any
        queue). With ``coalesce=(func_id, value)``, only jobs of that function
        with that coalesce value. With ``backend``, only jobs enqueued through
        that TASKS alias (a worker serves one backend).

        Jobs under a concurrency limit (a ``concurrency_key``, or a queue in
        ``queue_limits``: {queue: limit}) are claimed only when ``limited`` is
        true, first, through ``choose_limited``. Returns ClaimedJobs.
        """
        raise NotImplementedError

    #: How many due limited jobs one claim considers.
    LIMITED_CANDIDATES = 200

    @staticmethod
    def choose_limited(candidates, running, limits, lockable, limit):
        """
        Pick, in the candidates' (priority) order, up to ``limit`` job ids that
        keep every resource within its limit.

        ``candidates``: (id, concurrency_key, concurrency_limit, queue_name),
        optionally followed by (rate_key, rate_limit, rate_period). A job uses
        resource ``("key", k)`` if it has a key, ``("queue", q)`` if its queue
        is in ``limits``, and ``("rate", r)`` if it has a rate key. ``running``
        counts each resource's use: its running jobs, or for a rate key its
        claims still counted (``db.rates``); ``lockable(resource)`` says
        whether this claim may count on that resource (it holds its lock).
        """
        counts = dict(running)
        chosen: list[int] = []
        for job_id, key, key_limit, queue_name, *rate in candidates:
            if len(chosen) >= limit:
                break
            needs = []
            if key is not None:
                needs.append((("key", key), key_limit or 1))
            if queue_name in limits:
                needs.append((("queue", queue_name), limits[queue_name]))
            if rate and rate[0] is not None:
                needs.append((("rate", rate[0]), rate[1]))
            if all(lockable(r) and counts.get(r, 0) < cap for r, cap in needs):
                for r, _cap in needs:
                    counts[r] = counts.get(r, 0) + 1
                chosen.append(job_id)
        return chosen

    # -- enqueueing ---------------------------------------------------------
    def last_rounds(self, queue_name, keys):
        """
        {fairness key: the highest fair_round of its ready jobs in ``queue_name``},
        for those of ``keys`` that have some: one index look-up per key, however
        many jobs each has waiting.
        """
        from ..models import Job

        qn = self.qn
        found: dict[str, int] = {}
        keys = sorted(keys)
        per_key = (
            f"SELECT max({qn('fair_round')}) FROM {qn(Job._meta.db_table)} "  # noqa: S608 (names from the model)
            f"WHERE {qn('state')} = 'ready' AND {qn('fairness_key')} IS NOT NULL "
            f"AND {qn('queue_name')} = %s AND {qn('fairness_key')} = %s"
        )
        with self.connection.cursor() as cursor:
            for start in range(0, len(keys), 200):
                chunk = keys[start : start + 200]
                cursor.execute(
                    "SELECT " + ", ".join([f"({per_key})"] * len(chunk)), [v for k in chunk for v in (queue_name, k)]
                )
                found.update((k, r) for k, r in zip(chunk, cursor.fetchone()) if r is not None)
        return found

    #: (INSERT … VALUES prefix, one row's placeholders, RETURNING) by columns.
    _insert_statements: dict = {}

    def insert_jobs(self, columns, rows):
        """
        Insert new jobs: ``rows`` are lists of values, already prepared by
        their fields, for ``columns``; the columns left out take their
        defaults (``enqueued_at`` and, unless given, ``run_after``: the
        database clock). Returns each row's (id, enqueued_at, run_after), in
        order. Here: multi-row INSERTs … RETURNING, within the database's
        limit on parameters per statement.
        """
        from ..models import Job

        key = (self.vendor, columns)
        if (statement := self._insert_statements.get(key)) is None:
            qn = self.qn  # names from the model's metadata, quoted; values are parameters
            statement = self._insert_statements[key] = (
                f"INSERT INTO {qn(Job._meta.db_table)} ({', '.join(map(qn, columns))}) VALUES ",  # noqa: S608
                f"({', '.join(['%s'] * len(columns))})",
                f" RETURNING {qn('id')}, {qn('enqueued_at')}, {qn('run_after')}",
            )
        prefix, row, returning = statement
        per_statement = max(1, min(self.connection.features.max_query_params or 65_535, 65_535) // len(columns))
        inserted = []
        with self.connection.cursor() as cursor:
            for start in range(0, len(rows), per_statement):
                chunk = rows[start : start + per_statement]
                cursor.execute(prefix + ", ".join([row] * len(chunk)) + returning, [v for r in chunk for v in r])
                inserted += [
                    (pk, self.from_db_datetime(enqueued_at), self.from_db_datetime(run_after))
                    for pk, enqueued_at, run_after in cursor.fetchall()
                ]
        return inserted

    # -- reporting ----------------------------------------------------------
    def complete_many(self, worker_id, succeeded):
        """
        Record attempts that returned: ``succeeded`` is ``(ClaimedJob, return
        value)`` pairs. Each job moves to succeeded, and its run with it, only
        while this attempt holds it (state running, same attempt, same
        worker): the guard of ``queue.complete``, for a batch at once. Runs in
        the caller's transaction. Returns the ids recorded, each mapped to
        whether another job depends on it (None: not known; the caller looks).
        """
        raise NotImplementedError

    @staticmethod
    def _done_rows(succeeded):
        """(id, attempt, return value as JSON text or None) for complete_many's VALUES."""
        return [
            (claimed.id, claimed.attempt, None if value is None else json.dumps(value)) for claimed, value in succeeded
        ]

    def renew_leases(self, worker_id, job_ids, lease):
        """
        Renew ``worker_id``'s leases on ``job_ids`` (running jobs it holds): to
        now + ``lease``, but a job with a max_work_duration at most to
        last_attempted_at + max_work_duration + KILL_MARGIN. Returns how many.
        """
        from django.db.models import Case, F, Q, When
        from django.db.models.functions import Now
        from django.db.models.lookups import LessThan

        from ..models import Job

        renewed = Now() + lease
        deadline = F("last_attempted_at") + F("max_work_duration") + KILL_MARGIN
        return (
            Job.objects.using(self.using)
            .filter(pk__in=job_ids, state="running", worker_id=worker_id)
            .update(
                grabbed_until=Case(
                    When(Q(max_work_duration__isnull=False) & LessThan(deadline, renewed), then=deadline),
                    default=renewed,
                )
            )
        )

    def write_transaction(self):
        """A context manager: one transaction in which claims (and reports) are made together."""
        raise NotImplementedError

    def is_deadlock(self, error):
        """
        Whether ``error`` (a Django DatabaseError) is the database ending this
        transaction as a deadlock's victim: the transaction may simply be run
        again. SQLite has no deadlocks (one writer at a time).
        """
        return False

    def claim_alone(self, **claim_options):
        """
        A claim with nothing recorded beside it (a worker's claim when no
        attempt returned since its last one): ``claim`` in a write transaction
        of its own. A database may commit it faster (PostgreSQL).
        """
        with self.write_transaction():
            return self.claim(**claim_options)

    def announce_cancel(self, job_id):
        """Tell the worker running ``job_id`` that it was cancelled (in the caller's transaction)."""

    def _claimed(self, worker_id, rows, limited_candidates=0):
        claimed = ClaimBatch()
        claimed.limited_candidates = limited_candidates
        for row in rows:
            values = dict(zip(CLAIM_COLUMNS, row))
            values["attempt"] = values.pop("attempts")
            values["coalesce"] = values.pop("coalesce_key")
            for name in ("args", "kwargs"):
                if isinstance(values[name], (str, bytes)):
                    try:
                        values[name] = json.loads(values[name])
                    except ValueError as e:
                        values["bad_arguments"] = f"stored {name} are not valid JSON: {e}"
                        values[name] = [] if name == "args" else {}
            if isinstance(values["trace_context"], (str, bytes)):
                try:
                    values["trace_context"] = json.loads(values["trace_context"])
                except ValueError:
                    values["trace_context"] = None  # edited by hand: the attempt is traced on its own
            for name in ("enqueued_at", "started_at", "last_attempted_at", "run_after"):
                values[name] = self.from_db_datetime(values[name])
            values["max_work_duration"] = self._duration(values["max_work_duration"])
            claimed.append(ClaimedJob(worker_id=worker_id, **values))
        return claimed

    def from_db_datetime(self, value):
        return value

    def _duration(self, value):
        return value

    # -- threads ---------------------------------------------------------------
    @property
    def single_threaded(self):
        """
        True when a second connection writing while one writes fails at once instead of waiting
        (SQLite's in-memory database, Django's default test database): a worker then runs its
        jobs one at a time on its own thread.
        """
        return False

    # -- waking and waiting --------------------------------------------------
    def listener(self, stop_event, worker_pk=None):
        """
        A Listener whose ``wait(timeout)`` returns when work may have arrived,
        when ``stop_event`` is set, or after ``timeout`` seconds. It returns
        the ids of jobs announced as cancelled meanwhile (a set, maybe empty).
        ``worker_pk``: the registry id of the worker listening, whose liveness
        the listener's connection may carry (PostgreSQL: a session lock).
        """
        return PollingListener(stop_event)

    # -- worker liveness ---------------------------------------------------------
    def workers_alive(self, workers):
        """
        Of ``workers`` (registry rows: ``(id, host, pid)``), the ids of those
        provably still running, whatever their heartbeat says. Here none can be
        proven (the heartbeats decide alone); SQLite asks this host's kernel,
        PostgreSQL looks for each worker's session lock.
        """
        return set()

    # -- the clock ---------------------------------------------------------------
    def now(self):
        """The database's clock, read now: here this host's (a database that lives on this host)."""
        from django.utils import timezone

        return timezone.now()

    # -- leadership ------------------------------------------------------------
    def leadership(self, worker_id):
        """A Leadership: ``acquire()`` says whether this process leads the scheduler."""
        raise NotImplementedError

    # -- estimating ------------------------------------------------------------
    def estimated_rows(self, queryset):
        """
        The planner's estimate of how many rows ``queryset`` matches, without
        reading them; None if this database gives no estimate (then count).
        """
        return None

    # -- searching -------------------------------------------------------------
    def argument_condition(self, value, key=None):
        """
        A filter on jobs: a positional argument equal to the JSON ``value``, or
        with ``key``, that keyword argument equal to it. Types count: 1 is not "1".
        """
        raise NotImplementedError


class PollingListener:
    """Nothing wakes us but time: sleep until the timeout or the stop event."""

    def __init__(self, stop_event):
        self.stop_event = stop_event

    def wait(self, timeout):
        self.stop_event.wait(timeout)
        return set()

    def close(self):
        pass
