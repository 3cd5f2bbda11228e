"""Backend options (``TASKS[alias]["OPTIONS"]``) and their defaults."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Self

from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from django.utils.module_loading import import_string

from . import limits
from .exceptions import InvalidJobArguments

if TYPE_CHECKING:
    from .db.sessions import Sessions

#: Most jobs one worker process runs at once (OPTIONS['CONCURRENCY'],
#: ``runworker --concurrency``). Each slot is a thread, or a child process,
#: holding a database connection: a thousand already exceeds PostgreSQL's
#: default max_connections (100) tenfold; more is a typo. Scale out with
#: more worker processes instead.
MAX_CONCURRENCY = 1000

#: Most jobs a worker may claim beyond its free slots (OPTIONS['PREFETCH']).
MAX_PREFETCH = 32 * MAX_CONCURRENCY

#: Largest MAX_ARGUMENTS_BYTES: PostgreSQL's jsonb holds at most 256 MB.
MAX_ARGUMENTS_BYTES = 2**28 - 1


def _count(value: object, what: str, low: int, high: int) -> int:
    """An int (not a bool) within [low, high], or InvalidJobArguments naming ``what``."""
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise InvalidJobArguments(f"{what} must be an integer from {low} to {high}, not {value!r}.")
    return value


def check_databases(opts: "Options", name: Callable[[str], str]) -> None:
    """
    DATABASE and DATABASES, checked against settings.DATABASES: ImproperlyConfigured
    for both given, or a DATABASES that is not a non-empty list of distinct known aliases.
    """
    from django.db import connections

    known = set(connections.databases)
    if opts.DATABASE is not None and opts.DATABASES is not None:
        raise ImproperlyConfigured(f"{name('DATABASE')} and {name('DATABASES')} exclude each other: give one.")
    if opts.DATABASES is None:
        return
    aliases = opts.DATABASES
    if not isinstance(aliases, (list, tuple)) or not aliases or not all(isinstance(a, str) for a in aliases):
        raise ImproperlyConfigured(
            f"{name('DATABASES')} must be a non-empty list of database aliases, not {aliases!r}."
        )
    unknown = [alias for alias in aliases if alias not in known]
    if unknown:
        raise ImproperlyConfigured(
            f"{name('DATABASES')} names {unknown}, not aliases of settings.DATABASES ({sorted(known)})."
        )
    repeated = sorted({alias for alias in aliases if aliases.count(alias) > 1})
    if repeated:
        raise ImproperlyConfigured(f"{name('DATABASES')} names {repeated} more than once.")


@dataclass(frozen=True)
class Options:
    #: Database alias the jobs live in; None asks the database routers.
    DATABASE: str | None = None
    #: Several database aliases to spread the jobs over (instead of DATABASE): docs/several-databases.md.
    DATABASES: list[str] | None = None
    #: The jobs' database is reached through a transaction pooler (PgBouncer's ``pool_mode =
    #: transaction``): workers keep no session state on it (docs/production.md, "Behind PgBouncer").
    POOLED: bool = False
    #: A database alias connected directly (no transaction pooler) to the jobs' PostgreSQL database,
    #: used only for LISTEN and the session advisory locks (None: the jobs' database, unless POOLED).
    LISTEN_DATABASE: str | None = None
    #: Attempts a job gets unless its task says otherwise.
    MAX_ATTEMPTS: int = 1
    #: ``backoff(exception, task_result) -> seconds | None``, or its dotted path.
    BACKOFF: str | Callable[[BaseException, Any], float | None] = "django_jobs.backoff.exponential"
    #: How long a claim lasts without a heartbeat; workers renew at a third of it. The backstop:
    #: a dead worker is normally found within WORKER_DEAD_AFTER seconds (the worker registry).
    LEASE_SECONDS: float = 30.0
    #: Seconds between a worker's heartbeats in the worker registry.
    WORKER_HEARTBEAT: float = 1.0
    #: A worker whose heartbeat is this many seconds old (and, on PostgreSQL, whose session lock is
    #: gone) is dead: the scheduler leader rescues its attempts at once.
    WORKER_DEAD_AFTER: float = 3.0
    #: An attempt lost with its worker does not spend the job's attempts; a job lost this many
    #: times (it keeps killing its worker) fails with WorkerLost.
    MAX_LOST_ATTEMPTS: int = 3
    #: Longest an attempt may run before its lease is no longer renewed (None: no cap).
    MAX_WORK_DURATION: float | None = None
    #: How often an idle worker looks for due jobs (PostgreSQL also wakes on NOTIFY).
    POLL_INTERVAL: float = 1.0
    #: How often the scheduler leader rescues expired leases.
    SCHEDULER_INTERVAL: float = 1.0
    #: Seconds in-flight jobs get to finish after SIGTERM/SIGINT.
    GRACE_PERIOD: float = 30.0
    #: Jobs run at once by one worker process (threads, or child processes).
    CONCURRENCY: int = 4
    #: Most jobs a worker claims beyond its free slots, so that one commit
    #: records and claims a batch. Only as many as its recent attempts say will
    #: start within 50 ms. None: 8 times CONCURRENCY; 0: never. Not with ``--processes``.
    PREFETCH: int | None = None
    #: With child processes: seconds a cancelled job gets to stop before it is killed.
    KILL_GRACE: float = 10.0
    #: With child processes: their address-space limit in MB (RLIMIT_AS); a job
    #: that allocates past it fails with MemoryError and its child is replaced.
    CHILD_MEMORY_LIMIT_MB: int | None = None
    #: With child processes: a child that ran this many attempts is replaced by a fresh one (None: never).
    CHILD_MAX_JOBS: int | None = None
    #: With child processes: a child holding more resident memory than this (MB) after an attempt is
    #: replaced by a fresh one, so memory a job kept is given back (None: never).
    CHILD_MAX_RSS_MB: int | None = 1024
    #: Largest args (and, separately, kwargs) accepted at enqueue, in bytes of JSON.
    MAX_ARGUMENTS_BYTES: int = 1_000_000
    #: Per-queue concurrency limits across all workers: {"reports": 2}.
    QUEUE_CONCURRENCY: dict[str, int] = field(default_factory=dict)
    #: How long finished jobs are kept (seconds or timedelta; None: forever).
    KEEP_FINISHED_FOR: float | timedelta | None = timedelta(days=7)
    #: How often the scheduler leader prunes finished jobs past their time.
    PRUNE_INTERVAL: float = 60.0
    #: How long the worker registry keeps the rows of stopped and gone workers (seconds or timedelta;
    #: None: forever), for the workers page; the leader's pruning pass deletes older ones.
    WORKERS_KEEP_FOR: float | timedelta | None = timedelta(days=7)
    #: Recurring jobs: {name: {"task": path, "cron": ..., "timezone": ..., ...}} (docs/recurring.md).
    RECURRING: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: The bearer token that may read ``jobs/metrics`` besides staff users (None: staff only).
    METRICS_TOKEN: str | None = None

    @classmethod
    def from_dict(cls, alias: str, options: Mapping[str, Any]) -> Self:
        """
        The options of ``TASKS[alias]``, checked: an unknown name, or a value of
        the wrong type or out of its range (django_jobs.limits), raises
        ImproperlyConfigured naming the option.
        """
        known = {f.name for f in fields(cls)}
        unknown = set(options) - known
        if unknown:
            raise ImproperlyConfigured(
                f"TASKS[{alias!r}]['OPTIONS'] has unknown option(s) {sorted(unknown)}; known: {sorted(known)}."
            )
        opts = cls(**options)

        def name(option: str) -> str:
            return f"TASKS[{alias!r}]['OPTIONS'][{option!r}]"

        check_databases(opts, name)
        try:
            limits.attempts(opts.MAX_ATTEMPTS, name("MAX_ATTEMPTS"))
            _count(opts.CONCURRENCY, name("CONCURRENCY"), 1, MAX_CONCURRENCY)
            if opts.PREFETCH is not None:
                _count(opts.PREFETCH, name("PREFETCH"), 0, MAX_PREFETCH)
            for option in ("CHILD_MEMORY_LIMIT_MB", "CHILD_MAX_JOBS", "CHILD_MAX_RSS_MB"):
                if getattr(opts, option) is not None:
                    _count(getattr(opts, option), name(option), 1, 2**31 - 1)
            _count(opts.MAX_ARGUMENTS_BYTES, name("MAX_ARGUMENTS_BYTES"), 1, MAX_ARGUMENTS_BYTES)
            for queue_name, limit in dict(opts.QUEUE_CONCURRENCY).items():
                _count(limit, f"{name('QUEUE_CONCURRENCY')}[{queue_name!r}]", 1, 2**31 - 1)
            _count(opts.MAX_LOST_ATTEMPTS, name("MAX_LOST_ATTEMPTS"), 1, 1000)
            for option in (
                "LEASE_SECONDS",
                "POLL_INTERVAL",
                "SCHEDULER_INTERVAL",
                "PRUNE_INTERVAL",
                "WORKER_HEARTBEAT",
                "WORKER_DEAD_AFTER",
            ):
                if limits.delay(getattr(opts, option), name(option)) == 0:
                    raise InvalidJobArguments(f"{name(option)} must be > 0 seconds, not {getattr(opts, option)!r}.")
            for option in ("GRACE_PERIOD", "KILL_GRACE"):
                limits.delay(getattr(opts, option), name(option))
            limits.duration(opts.KEEP_FINISHED_FOR, name("KEEP_FINISHED_FOR"))
            limits.duration(opts.WORKERS_KEEP_FOR, name("WORKERS_KEEP_FOR"))
            limits.duration(opts.MAX_WORK_DURATION, name("MAX_WORK_DURATION"))
            if not isinstance(opts.POOLED, bool):
                raise InvalidJobArguments(f"{name('POOLED')} must be True or False, not {opts.POOLED!r}.")
            if opts.LISTEN_DATABASE is not None and opts.LISTEN_DATABASE not in connections.databases:
                raise InvalidJobArguments(
                    f"{name('LISTEN_DATABASE')} must be None or an alias of DATABASES "
                    f"({sorted(connections.databases)}), not {opts.LISTEN_DATABASE!r}."
                )
            if opts.METRICS_TOKEN is not None and (not isinstance(opts.METRICS_TOKEN, str) or not opts.METRICS_TOKEN):
                raise InvalidJobArguments(f"{name('METRICS_TOKEN')} must be None or a non-empty string.")
        except InvalidJobArguments as e:
            raise ImproperlyConfigured(str(e)) from None
        return opts

    @property
    def aliases(self) -> list[str] | None:
        """The database aliases the jobs live in, as configured (None: the routers' choice)."""
        if self.DATABASES is not None:
            return list(self.DATABASES)
        return None if self.DATABASE is None else [self.DATABASE]

    @property
    def backoff(self) -> Callable[[BaseException, Any], float | None]:
        """The BACKOFF callable (imported, when given as a dotted path)."""
        return import_string(self.BACKOFF) if isinstance(self.BACKOFF, str) else self.BACKOFF

    @property
    def workers_keep_for(self) -> timedelta | None:
        """WORKERS_KEEP_FOR as a timedelta (None: forever)."""
        return limits.duration(self.WORKERS_KEEP_FOR, "WORKERS_KEEP_FOR")

    @property
    def sessions(self) -> "Sessions":
        """
        POOLED and LISTEN_DATABASE, for the database layer. Where no session lock holds scheduler
        leadership, the leader's lease lasts WORKER_DEAD_AFTER, and at least five scheduler ticks: an
        idle worker ticks at most every SCHEDULER_INTERVAL, and at least every POLL_INTERVAL.
        """
        from .db.sessions import Sessions

        return Sessions(
            pooled=self.POOLED,
            listen_database=self.LISTEN_DATABASE,
            leader_lease=max(
                limits.delay(self.WORKER_DEAD_AFTER, "WORKER_DEAD_AFTER"),
                5 * limits.delay(self.SCHEDULER_INTERVAL, "SCHEDULER_INTERVAL"),
                5 * limits.delay(self.POLL_INTERVAL, "POLL_INTERVAL"),
            ),
        )

    @property
    def lease(self) -> timedelta:
        """LEASE_SECONDS as a timedelta."""
        return timedelta(seconds=self.LEASE_SECONDS)
