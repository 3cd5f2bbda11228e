"""Backend options (``TASKS[alias]["OPTIONS"]``) and their defaults."""

from dataclasses import dataclass, field, fields
from datetime import timedelta

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string


@dataclass(frozen=True)
class Options:
    #: Database alias the jobs live in; None asks the database routers.
    DATABASE: str | None = None
    #: Attempts a job gets unless its task says otherwise.
    MAX_ATTEMPTS: int = 1
    #: ``backoff(exception, task_result) -> seconds | None``, or its dotted path.
    BACKOFF: object = "django_jobs.backoff.exponential"
    #: How long a claim lasts without a heartbeat; workers renew at a third of it.
    LEASE_SECONDS: float = 30.0
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
    #: Largest args (and, separately, kwargs) accepted at enqueue, in bytes of JSON.
    MAX_ARGUMENTS_BYTES: int = 1_000_000
    #: Per-queue concurrency limits across all workers: {"reports": 2}.
    QUEUE_CONCURRENCY: dict = field(default_factory=dict)
    #: How long finished jobs are kept (seconds or timedelta; None: forever).
    KEEP_FINISHED_FOR: float | timedelta | None = timedelta(days=7)
    #: How often the scheduler leader prunes finished jobs past their time.
    PRUNE_INTERVAL: float = 60.0
    #: Recurring jobs: {name: {"task": path, "cron": ..., "timezone": ..., ...}} (docs/recurring.md).
    RECURRING: dict = field(default_factory=dict)
    #: The bearer token that may read ``jobs/metrics`` besides staff users (None: staff only).
    METRICS_TOKEN: str | None = None

    @classmethod
    def from_dict(cls, alias, options):
        known = {f.name for f in fields(cls)}
        unknown = set(options) - known
        if unknown:
            raise ImproperlyConfigured(
                f"TASKS[{alias!r}]['OPTIONS'] has unknown option(s) {sorted(unknown)}; known: {sorted(known)}."
            )
        opts = cls(**options)
        if not isinstance(opts.MAX_ATTEMPTS, int) or opts.MAX_ATTEMPTS < 1:
            raise ImproperlyConfigured(f"TASKS[{alias!r}]['OPTIONS']['MAX_ATTEMPTS'] must be an integer >= 1.")
        for queue_name, limit in dict(opts.QUEUE_CONCURRENCY).items():
            if not isinstance(limit, int) or limit < 1:
                raise ImproperlyConfigured(
                    f"TASKS[{alias!r}]['OPTIONS']['QUEUE_CONCURRENCY'][{queue_name!r}] must be an integer >= 1."
                )
        if opts.PREFETCH is not None and (not isinstance(opts.PREFETCH, int) or opts.PREFETCH < 0):
            raise ImproperlyConfigured(f"TASKS[{alias!r}]['OPTIONS']['PREFETCH'] must be None or an integer >= 0.")
        if opts.METRICS_TOKEN is not None and (not isinstance(opts.METRICS_TOKEN, str) or not opts.METRICS_TOKEN):
            raise ImproperlyConfigured(
                f"TASKS[{alias!r}]['OPTIONS']['METRICS_TOKEN'] must be None or a non-empty string."
            )
        for name in ("LEASE_SECONDS", "POLL_INTERVAL", "SCHEDULER_INTERVAL"):
            if getattr(opts, name) <= 0:
                raise ImproperlyConfigured(f"TASKS[{alias!r}]['OPTIONS'][{name!r}] must be > 0.")
        return opts

    @property
    def backoff(self):
        return import_string(self.BACKOFF) if isinstance(self.BACKOFF, str) else self.BACKOFF

    @property
    def lease(self):
        return timedelta(seconds=self.LEASE_SECONDS)
