from django.db import models
from django.db.models import Q
from django.db.models.functions import Now
from django.utils.translation import gettext_lazy as _

from .states import FINISHED_STATES, LIVE_STATES, JobState, RunOutcome

__all__ = [
    "Dependency",
    "FuncMap",
    "Job",
    "JobLog",
    "JobRun",
    "JobState",
    "QueueState",
    "RateBucket",
    "RecurringState",
    "RunOutcome",
    "Worker",
    "WorkerState",
]


class FuncMap(models.Model):
    """A job function's dotted path, stored once and referred to by a small id."""

    id = models.AutoField(primary_key=True)
    path = models.CharField(max_length=255, unique=True)

    class Meta:
        verbose_name = _("function")

    def __str__(self):
        return self.path


class Job(models.Model):
    """One unit of work. Only ``django_jobs.queue`` changes its state."""

    id = models.BigAutoField(primary_key=True)
    backend = models.CharField(max_length=100, default="default")
    queue_name = models.CharField(max_length=100, default="default")
    func = models.ForeignKey(FuncMap, on_delete=models.PROTECT, related_name="jobs")
    args = models.JSONField(default=list, blank=True)
    kwargs = models.JSONField(default=dict, blank=True)
    priority = models.SmallIntegerField(default=0)
    state = models.CharField(max_length=16, choices=JobState.choices, default=JobState.READY)

    # Times come from the database clock (db_default / Now()), never a worker's.
    enqueued_at = models.DateTimeField(db_default=Now())
    run_after = models.DateTimeField(db_default=Now())
    started_at = models.DateTimeField(null=True, blank=True)
    last_attempted_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    # Attempts: ``attempts`` counts every attempt started (it numbers JobRuns
    # and guards updates); ``attempts_left`` is the budget, given back by a
    # declined or released attempt.
    attempts = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField(default=1)
    attempts_left = models.PositiveIntegerField(default=1)
    #: Attempts lost with their worker (it died or stopped renewing): they do
    #: not spend the budget, but a job lost MAX_LOST_ATTEMPTS times fails.
    lost_attempts = models.PositiveIntegerField(default=0)

    # The lease: who holds the job and until when.
    worker_id = models.CharField(max_length=100, null=True, blank=True)
    grabbed_until = models.DateTimeField(null=True, blank=True)
    max_work_duration = models.DurationField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)

    #: No more than ``concurrency_limit`` running jobs share this key, across all workers (a resource limit:
    #: one job per account, two per external API).
    concurrency_key = models.CharField(max_length=255, null=True, blank=True)
    concurrency_limit = models.PositiveIntegerField(null=True, blank=True)

    #: Rate limits (``rate_limit="100/m"``): no more than ``rate_limit`` jobs sharing ``rate_key`` are
    #: claimed within any ``rate_period`` seconds, across all workers; RateBucket counts their claims.
    rate_key = models.CharField(max_length=255, null=True, blank=True)
    rate_limit = models.PositiveIntegerField(null=True, blank=True)
    rate_period = models.PositiveIntegerField(null=True, blank=True)
    #: Fair queuing: within a priority, jobs are claimed in ``fair_round`` order. The jobs of one
    #: ``fairness_key`` waiting in a queue take consecutive rounds from the queue's current one
    #: (``queue.fairness``), so the keys take turns; a job without a key has round 0.
    fairness_key = models.CharField(max_length=255, null=True, blank=True)
    fair_round = models.BigIntegerField(default=0, db_default=0)

    uniqkey = models.CharField(max_length=255, null=True, blank=True)
    # "coalesce" is an SQL keyword: the column gets another name.
    coalesce = models.CharField(max_length=255, null=True, blank=True, db_column="coalesce_key")

    #: Workflows: how many of the jobs this one depends on have not finished yet (it waits
    #: while any has not); whether it runs once they all finished, whatever their outcome;
    #: and the id of the first job of the workflow it was enqueued in (chain, group).
    dependencies_left = models.PositiveIntegerField(default=0)
    run_on_failure = models.BooleanField(default=False)
    workflow_id = models.BigIntegerField(null=True, blank=True, db_index=True)

    return_value = models.JSONField(null=True, blank=True)
    exit_status = models.SmallIntegerField(null=True, blank=True)
    #: How long a finished job (and its exit status, runs and logs) is kept;
    #: None keeps it until deleted. ``keep_until`` is set when it finishes.
    keep_for = models.DurationField(null=True, blank=True)
    keep_until = models.DateTimeField(null=True, blank=True)
    #: The W3C trace context of the enqueue (OpenTelemetry: ``traceparent``, ``tracestate``) and of the
    #: last failed attempt (``attempt``), which its attempts' spans belong to and link to; None untraced.
    trace_context = models.JSONField(null=True, blank=True)
    #: What the job says of itself while it runs (``context.metadata``, saved with
    #: ``context.save_metadata()``): progress, counts, a stage; None until it saves some.
    #: Kept after it ends.
    metadata = models.JSONField(null=True, blank=True)

    class Meta:
        verbose_name = _("job")
        indexes = [
            # The claim query of a worker of every queue: due unlimited jobs,
            # highest priority first, read in order so a claim stops after
            # ``limit`` rows however many wait.
            models.Index(
                models.F("priority").desc(),
                "fair_round",
                "run_after",
                "id",
                name="django_jobs_claim_any_idx",
                condition=Q(state=JobState.READY, concurrency_key__isnull=True, rate_key__isnull=True),
            ),
            # The same for a worker of some queues; also per-queue counts of ready jobs.
            models.Index(
                "queue_name",
                models.F("priority").desc(),
                "fair_round",
                "run_after",
                "id",
                name="django_jobs_claim_idx",
                condition=Q(state=JobState.READY),
            ),
            # Limited jobs: due ones to claim, and running ones to count.
            models.Index(
                "concurrency_key",
                models.F("priority").desc(),
                "run_after",
                "id",
                name="django_jobs_limited_idx",
                condition=Q(state=JobState.READY, concurrency_key__isnull=False),
            ),
            models.Index(
                fields=["concurrency_key"],
                name="django_jobs_limited_run_idx",
                condition=Q(state=JobState.RUNNING, concurrency_key__isnull=False),
            ),
            # Rate-limited jobs: in claim order (a claim reads only as many as it considers),
            # and by key (whether a full key has jobs waiting).
            models.Index(
                models.F("priority").desc(),
                "fair_round",
                "run_after",
                "id",
                name="django_jobs_rate_idx",
                condition=Q(state=JobState.READY, rate_key__isnull=False),
            ),
            models.Index(
                fields=["rate_key"],
                name="django_jobs_rate_key_idx",
                condition=Q(state=JobState.READY, rate_key__isnull=False),
            ),
            # Fair queuing: a queue's current round, and the last round of each of its keys.
            models.Index(
                fields=["queue_name", "fair_round"],
                name="django_jobs_fair_queue_idx",
                condition=Q(state=JobState.READY, fairness_key__isnull=False),
            ),
            models.Index(
                fields=["queue_name", "fairness_key", "fair_round"],
                name="django_jobs_fair_key_idx",
                condition=Q(state=JobState.READY, fairness_key__isnull=False),
            ),
            # Counting the jobs waiting for their dependencies, per queue (stats.queue_stats).
            models.Index(fields=["queue_name"], name="django_jobs_waiting_idx", condition=Q(state=JobState.WAITING)),
            # Rescuing expired leases.
            models.Index(
                fields=["grabbed_until"],
                name="django_jobs_lease_idx",
                condition=Q(state=JobState.RUNNING),
            ),
            # Coalescing: waiting jobs of one function with one coalesce value.
            models.Index(
                fields=["func", "coalesce"],
                name="django_jobs_coalesce_idx",
                condition=Q(state=JobState.READY, coalesce__isnull=False),
            ),
            # Pruning finished jobs whose time is up.
            models.Index(
                fields=["keep_until"],
                name="django_jobs_prune_idx",
                condition=Q(keep_until__isnull=False),
            ),
            # Expiring waiting and ready jobs nobody started in time.
            models.Index(
                fields=["expires_at"],
                name="django_jobs_expire_idx",
                condition=Q(state__in=[JobState.WAITING, JobState.READY], expires_at__isnull=False),
            ),
            # Listing finished jobs.
            models.Index(
                fields=["state", "finished_at"],
                name="django_jobs_finished_idx",
                condition=Q(state__in=sorted(FINISHED_STATES)),
            ),
            # The dashboard's pick-up latency and run time (django_jobs.timings): every column the
            # query reads is in the index, so PostgreSQL answers from it alone (an index-only scan).
            models.Index(
                fields=["finished_at", "queue_name", "func", "run_after", "last_attempted_at"],
                name="django_jobs_timings_idx",
                condition=Q(state__in=sorted([JobState.FAILED, JobState.SUCCEEDED])),
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["func", "uniqkey"],
                name="django_jobs_live_uniqkey",
                condition=Q(uniqkey__isnull=False, state__in=sorted(LIVE_STATES)),
            ),
            models.CheckConstraint(
                condition=Q(priority__gte=-100, priority__lte=100),
                name="django_jobs_priority_range",
            ),
            models.CheckConstraint(
                condition=Q(state__in=JobState.values),
                name="django_jobs_state_valid",
            ),
        ]
        permissions = [
            ("cancel_job", "Can cancel jobs"),
            ("retry_job", "Can retry jobs"),
            ("run_job", "Can make jobs due now"),
        ]

    def __str__(self):
        return f"#{self.pk} {self.func.path}" if self.func_id else f"#{self.pk}"

    @property
    def path(self):
        return self.func.path


class Dependency(models.Model):
    """``dependent`` waits for ``dependency`` (its ``position``-th entry of ``depends_on``)."""

    id = models.BigAutoField(primary_key=True)
    dependent = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="dependency_links")
    dependency = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="dependent_links")
    position = models.PositiveIntegerField()

    class Meta:
        verbose_name = _("dependency")
        verbose_name_plural = _("dependencies")
        constraints = [
            models.UniqueConstraint(fields=["dependent", "position"], name="django_jobs_dependency_position"),
        ]

    def __str__(self):
        return f"#{self.dependent_id} after #{self.dependency_id}"


class JobRun(models.Model):
    """One attempt at a job."""

    id = models.BigAutoField(primary_key=True)
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="runs")
    attempt = models.PositiveIntegerField()
    worker_id = models.CharField(max_length=100)
    started_at = models.DateTimeField(db_default=Now())
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=RunOutcome.choices, default=RunOutcome.RUNNING)
    exception_class_path = models.CharField(max_length=255, blank=True, default="")
    message = models.TextField(blank=True, default="")
    traceback = models.TextField(blank=True, default="")
    exit_status = models.SmallIntegerField(null=True, blank=True)

    class Meta:
        verbose_name = _("job run")
        ordering = ["job", "attempt"]
        constraints = [
            models.UniqueConstraint(fields=["job", "attempt"], name="django_jobs_run_attempt"),
        ]

    def __str__(self):
        return f"job #{self.job_id} attempt {self.attempt}"


class JobLog(models.Model):
    """A line logged by a job during one attempt."""

    id = models.BigAutoField(primary_key=True)
    run = models.ForeignKey(JobRun, on_delete=models.CASCADE, related_name="logs")
    created_at = models.DateTimeField()
    level = models.PositiveSmallIntegerField(default=20)
    logger = models.CharField(max_length=255, blank=True, default="")
    message = models.TextField()

    class Meta:
        verbose_name = _("job log line")
        ordering = ["run", "id"]

    def __str__(self):
        return self.message[:80]


class QueueState(models.Model):
    """Operator controls of one queue. A queue without a row is running."""

    name = models.CharField(max_length=100, primary_key=True)
    paused = models.BooleanField(default=False)
    changed_at = models.DateTimeField(db_default=Now())

    class Meta:
        verbose_name = _("queue")

    def __str__(self):
        return f"{self.name} ({'paused' if self.paused else 'running'})"


class RateBucket(models.Model):
    """
    How many jobs of one rate key were claimed in one slice of its period (a
    tenth: ``RATE_SLICES``), as of ``start``. A claim counts the buckets whose
    ``counts_until`` (start + period + slice) has not passed: every claim of
    the last period, and a slice more, so a limit is never exceeded in any
    window of its period. Only the claimer holding the key's lock writes them.
    """

    id = models.BigAutoField(primary_key=True)
    key = models.CharField(max_length=255)
    start = models.DateTimeField()
    claims = models.PositiveIntegerField()
    #: The limit of the jobs counted here (a key is full once its buckets' claims reach it).
    rate_limit = models.PositiveIntegerField()
    counts_until = models.DateTimeField()

    class Meta:
        verbose_name = _("rate limit bucket")
        constraints = [models.UniqueConstraint(fields=["key", "start"], name="django_jobs_rate_bucket")]
        indexes = [models.Index(fields=["counts_until"], name="django_jobs_rate_until_idx")]

    def __str__(self):
        return f"{self.key} @ {self.start.isoformat()}: {self.claims}"


class RecurringState(models.Model):
    """
    Where one recurring entry (``OPTIONS['RECURRING']``) has got to: the
    latest occurrence the scheduler leader has dealt with, enqueued or
    skipped. Moved forward only by a guarded UPDATE in the transaction that
    enqueues, so no occurrence is enqueued twice, even across restarts.
    """

    name = models.CharField(max_length=200, primary_key=True)
    last_occurrence = models.DateTimeField()
    changed_at = models.DateTimeField(db_default=Now())

    class Meta:
        verbose_name = _("recurring job state")

    def __str__(self):
        return f"{self.name} (last {self.last_occurrence.isoformat()})"


class Schedule(models.Model):
    """
    A recurring job stored in the database, edited in the admin: like an entry
    of ``OPTIONS['RECURRING']`` (same cron, timezone and occurrence rules), but
    changed without a deploy. The scheduler leader reads the table at every
    tick, so a change takes effect within one SCHEDULER_INTERVAL.
    """

    #: Its RecurringState (and uniqkeys) are named ``schedule:<name>``, within RecurringState's 200 characters.
    name = models.CharField(max_length=191, unique=True)
    task = models.CharField(max_length=255, help_text=_("Dotted path of the task, e.g. myapp.tasks.send_report."))
    cron = models.CharField(
        max_length=100, help_text=_("Five fields (minute hour day month weekday), a sixth for seconds: '0 3 * * *'.")
    )
    timezone = models.CharField(
        max_length=64, blank=True, help_text=_("IANA name such as 'Europe/Paris'; empty: TIME_ZONE.")
    )
    args = models.JSONField(default=list, blank=True, help_text=_("A JSON list."))
    kwargs = models.JSONField(default=dict, blank=True, help_text=_("A JSON object."))
    queue_name = models.CharField(max_length=100, blank=True, help_text=_("Empty: the task's own queue."))
    priority = models.IntegerField(null=True, blank=True, help_text=_("Empty: the task's own priority."))
    enabled = models.BooleanField(default=True, help_text=_("Occurrences while disabled are skipped."))
    #: When the scheduler last enqueued one of its occurrences, and its next occurrence (as of the last tick).
    last_run = models.DateTimeField(null=True, blank=True)
    next_run = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("schedule")
        permissions = [("run_schedule", "Can run schedules now")]

    def __str__(self):
        return self.name


class LeaderLease(models.Model):
    """
    Scheduler leadership behind a transaction pooler (``OPTIONS['POOLED']``),
    where a session advisory lock cannot be held: the leader is the worker
    named here until ``expires_at``, which it pushes forward at every scheduler
    tick with one guarded statement. Another worker takes the row only once
    the lease has expired (its holder died or stopped).
    """

    name = models.CharField(max_length=100, primary_key=True)
    holder = models.CharField(max_length=100)
    expires_at = models.DateTimeField()

    class Meta:
        verbose_name = _("leader lease")

    def __str__(self):
        return f"{self.name}: {self.holder} until {self.expires_at.isoformat()}"


class WorkerState(models.TextChoices):
    RUNNING = "running", _("Running")
    STOPPING = "stopping", _("Stopping")
    STOPPED = "stopped", _("Stopped")
    #: Found dead (its heartbeat stopped, and on PostgreSQL its session lock vanished): its jobs were rescued.
    GONE = "gone", _("Gone")


class Worker(models.Model):
    """
    The registry of worker processes: each heartbeats its row every
    WORKER_HEARTBEAT seconds, so the scheduler leader notices a dead one
    within seconds and rescues its attempts at once (leases stay the backstop).
    """

    id = models.BigAutoField(primary_key=True)
    worker_id = models.CharField(max_length=100, unique=True)
    backend = models.CharField(max_length=100, default="default")
    host = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    #: The queues it claims from; empty: every queue.
    queues = models.JSONField(default=list, blank=True)
    concurrency = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=WorkerState.choices, default=WorkerState.RUNNING)
    started_at = models.DateTimeField(db_default=Now())
    last_heartbeat = models.DateTimeField(db_default=Now())
    stopped_at = models.DateTimeField(null=True, blank=True)
    #: Attempts running now (not those claimed ahead), as of its last heartbeat.
    running = models.PositiveIntegerField(default=0)
    #: Set by an operator: the worker stops gracefully at its next heartbeat.
    stop_requested = models.BooleanField(default=False)

    class Meta:
        verbose_name = _("worker")
        permissions = [("stop_worker", "Can ask workers to stop gracefully")]
        indexes = [
            models.Index(
                fields=["last_heartbeat"],
                name="django_jobs_worker_live_idx",
                condition=Q(status__in=["running", "stopping"]),
            )
        ]

    def __str__(self):
        return self.worker_id
