"""
Recurring jobs: entries of ``TASKS[alias]["OPTIONS"]["RECURRING"]``, each a
task enqueued on a cron schedule (see docs/recurring.md).

The scheduler leader of a database calls ``Recurring.run()`` at every tick,
for the entries of every DatabaseBackend whose jobs live in that database.
Each entry has a RecurringState row holding the latest occurrence dealt
with; the leader moves it forward with a guarded UPDATE (``WHERE
last_occurrence = <what it read>``) in the same transaction as the jobs it
enqueues for the occurrences in between. Two leaders (one that lost its
leadership without knowing yet, and its successor) cannot both win that
UPDATE, so an occurrence is enqueued at most once, whether or not its job
is still alive; and since the row survives restarts, a restarted leader
knows which occurrences it missed. Each job also gets the uniqkey
``recurring:<name>:<occurrence>``.
"""

import logging
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models.functions import Now
from django.utils import timezone

from .arguments import as_json
from .compat import InvalidTask
from .db import get_ops
from .exceptions import JobsError
from .task import JobTask, resolve_task

logger = logging.getLogger("django_jobs.recurring")

#: What to do with occurrences that came due while no leader was running.
MISSED_POLICIES = ("skip", "run_once")
#: Keys an entry may have.
KEYS = frozenset({"task", "cron", "timezone", "args", "kwargs", "queue_name", "priority", "missed", "grace"})
#: An occurrence enqueued later than this many seconds after its time was missed (the entry's "grace").
DEFAULT_GRACE = 60.0
#: Longest entry name (the uniqkey ``recurring:<name>:<ISO time>`` must fit in 255 characters).
MAX_NAME_LENGTH = 200
#: At most this many on-time occurrences of one entry are enqueued per tick; the rest wait for the next.
MAX_PER_TICK = 1000

ONE_MICROSECOND = timedelta(microseconds=1)


class EntryError(ValueError):
    """A RECURRING entry is unusable. ``kind`` says what is wrong (for the system check's id)."""

    def __init__(self, kind, message):
        self.kind = kind
        super().__init__(message)


@dataclass(frozen=True)
class Entry:
    """One checked RECURRING entry."""

    name: str
    backend: str
    task: str
    cron: str
    timezone: ZoneInfo
    args: list = field(default_factory=list)
    kwargs: dict = field(default_factory=dict)
    queue_name: str | None = None
    priority: int | None = None
    missed: str = "skip"
    grace: float = DEFAULT_GRACE

    def _iter(self, start):
        from croniter import croniter

        return croniter(self.cron, start.astimezone(self.timezone))

    def next_after(self, moment):
        """The first occurrence strictly after ``moment``, or None if there is none."""
        from croniter import CroniterBadDateError

        try:
            return self._iter(moment).get_next(datetime)
        except CroniterBadDateError:
            return None

    def latest_at_or_before(self, moment):
        """The latest occurrence at or before ``moment``, or None."""
        from croniter import CroniterBadDateError

        try:
            return self._iter(moment + ONE_MICROSECOND).get_prev(datetime)
        except CroniterBadDateError:
            return None

    def uniqkey(self, occurrence):
        return f"recurring:{self.name}:{occurrence.isoformat()}"

    def options(self):
        """``Task.using()`` options of this entry's jobs (without the uniqkey)."""
        options: dict[str, str | int] = {}
        if self.queue_name is not None:
            options["queue_name"] = self.queue_name
        if self.priority is not None:
            options["priority"] = self.priority
        return options


def parse(name, spec, backend):
    """
    The Entry for ``spec`` (a dict of RECURRING) on ``backend`` (a
    DatabaseBackend), or EntryError for the first problem found.
    """
    problems = check_entry(name, spec, backend)
    if problems:
        raise problems[0]
    return Entry(
        name=name,
        backend=backend.alias,
        task=spec["task"],
        cron=spec["cron"],
        timezone=ZoneInfo(spec.get("timezone") or settings.TIME_ZONE or "UTC"),
        args=list(spec.get("args") or ()),
        kwargs=dict(spec.get("kwargs") or {}),
        queue_name=spec.get("queue_name"),
        priority=spec.get("priority"),
        missed=spec.get("missed", "skip"),
        grace=float(spec.get("grace", DEFAULT_GRACE)),
    )


def check_entry(name, spec, backend):
    """Every problem of one entry, as EntryErrors (empty if it is usable)."""
    from croniter import CroniterBadDateError, croniter

    from .validation import bind_arguments

    where = f"RECURRING entry {name!r} of TASKS[{backend.alias!r}]"
    if not isinstance(name, str) or not name or len(name) > MAX_NAME_LENGTH:
        return [
            EntryError(
                "entry", f"{where}: the name must be a non-empty string of at most {MAX_NAME_LENGTH} characters."
            )
        ]
    if not isinstance(spec, dict):
        return [EntryError("entry", f"{where} must be a dict, not {type(spec).__name__}.")]
    problems = []
    unknown = set(spec) - KEYS
    if unknown:
        problems.append(EntryError("entry", f"{where} has unknown key(s) {sorted(unknown)}; known: {sorted(KEYS)}."))

    cron = spec.get("cron")
    if not isinstance(cron, str) or not cron.strip():
        problems.append(EntryError("cron", f"{where}: 'cron' must be a cron expression, not {cron!r}."))
    else:
        try:
            croniter(cron, timezone.now()).get_next(datetime)
        except CroniterBadDateError:
            problems.append(EntryError("cron", f"{where}: cron expression {cron!r} never comes due."))
        except (ValueError, KeyError, TypeError) as e:
            problems.append(EntryError("cron", f"{where}: bad cron expression {cron!r}: {e}"))

    zone = spec.get("timezone")
    if zone is not None:
        try:
            if not isinstance(zone, str):
                raise TypeError(zone)
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            problems.append(
                EntryError("timezone", f"{where}: unknown timezone {zone!r} (an IANA name such as 'Europe/Paris').")
            )

    missed = spec.get("missed", "skip")
    if missed not in MISSED_POLICIES:
        problems.append(
            EntryError("missed", f"{where}: 'missed' must be one of {list(MISSED_POLICIES)}, not {missed!r}.")
        )
    grace = spec.get("grace", DEFAULT_GRACE)
    if isinstance(grace, bool) or not isinstance(grace, (int, float)) or not math.isfinite(grace) or grace <= 0:
        problems.append(EntryError("missed", f"{where}: 'grace' must be a number of seconds > 0, not {grace!r}."))

    path = spec.get("task")
    task = None
    if not isinstance(path, str) or not path:
        problems.append(EntryError("task", f"{where}: 'task' must be the dotted path of a task, not {path!r}."))
    else:
        try:
            task = resolve_task(path)
        except InvalidTask as e:
            problems.append(EntryError("task", f"{where}: {e}"))

    args, kwargs = spec.get("args", []), spec.get("kwargs", {})
    if not isinstance(args, (list, tuple)):
        problems.append(EntryError("arguments", f"{where}: 'args' must be a list, not {type(args).__name__}."))
        args = None
    if not isinstance(kwargs, dict):
        problems.append(EntryError("arguments", f"{where}: 'kwargs' must be a dict, not {type(kwargs).__name__}."))
        kwargs = None
    if task is not None and not isinstance(task, JobTask):
        problems.append(
            EntryError(
                "task",
                f"{where}: {path} is declared for task backend {task.backend!r}, "
                "which is not a django_jobs DatabaseBackend.",
            )
        )
        task = None
    if task is not None:
        options = {k: spec[k] for k in ("queue_name", "priority") if spec.get(k) is not None}
        try:
            task.using(backend=backend.alias, **options)
        except (InvalidTask, TypeError, ValueError) as e:
            problems.append(EntryError("arguments", f"{where}: {e}"))
        if args is not None and kwargs is not None:
            try:
                as_json(list(args), "args")
                as_json(dict(kwargs), "kwargs")
                bind_arguments(task, args, kwargs)
            except InvalidTask as e:
                problems.append(EntryError("arguments", f"{where}: {e}"))
    return problems


def database_backends():
    """The DatabaseBackends of settings.TASKS, by alias (backends that fail to load are left out)."""
    from .compat import task_backends

    found = {}
    for alias in getattr(settings, "TASKS", {}):
        try:
            instance = task_backends[alias]
        except Exception:  # reported by Django's own check of the backends
            continue
        if issubclass(instance.task_class, JobTask):  # a django_jobs DatabaseBackend
            found[alias] = instance
    return found


def database_now(using):
    """The database's clock (see ``DatabaseOps.now``)."""
    return get_ops(using).now()


class Recurring:
    """The recurring entries whose jobs live in database ``using``; ``run()`` enqueues what is due."""

    def __init__(self, using):
        self.using = using
        self.entries = None

    def load(self):
        entries = []
        for backend in database_backends().values():
            if backend.database != self.using:
                continue
            recurring = backend.job_options.RECURRING
            if not isinstance(recurring, dict):
                logger.error("Ignoring TASKS[%r]['OPTIONS']['RECURRING']: not a dict.", backend.alias)
                continue
            for name, spec in recurring.items():
                try:
                    entries.append(parse(name, spec, backend))
                except EntryError as e:
                    logger.error("Ignoring %s", e)
        return entries

    def run(self, now=None):
        """Enqueue the due occurrences of every entry. Returns how many jobs were enqueued."""
        from .models import RecurringState

        if self.entries is None:
            self.entries = self.load()
        if not self.entries:
            return 0
        now = database_now(self.using) if now is None else now
        last = dict(
            RecurringState.objects.using(self.using)
            .filter(name__in=[e.name for e in self.entries])
            .values_list("name", "last_occurrence")
        )
        enqueued = 0
        for entry in self.entries:
            try:
                enqueued += run_entry(entry, last.get(entry.name), now, using=self.using)
            except DatabaseError:
                raise
            except Exception:
                logger.exception("Recurring job %r failed to enqueue; will try again.", entry.name)
        return enqueued


def plan(entry, last, now):
    """
    What to do for ``entry`` at ``now`` when occurrences up to ``last`` were
    dealt with: ``(new_last, occurrences to enqueue, latest missed occurrence)``,
    or None if nothing is due.

    Occurrences in (last, now] are due. Those within ``entry.grace`` seconds
    of now are on time and each is enqueued; older ones were missed: "skip"
    drops them, "run_once" enqueues the most recent of them only.
    """
    # In UTC: arithmetic and comparisons on wall-clock times would go wrong across DST changes.
    last, now = last.astimezone(UTC), now.astimezone(UTC)
    first = entry.next_after(last)
    if first is None or first > now:
        return None
    horizon = now - timedelta(seconds=entry.grace)
    on_time: list[datetime] = []
    occurrence = entry.next_after(max(last, horizon))
    while occurrence is not None and occurrence <= now and len(on_time) < MAX_PER_TICK:
        on_time.append(occurrence)
        occurrence = entry.next_after(occurrence)
    missed = None
    if first <= horizon:
        missed = entry.latest_at_or_before(horizon)
        if missed is not None and missed <= last:
            missed = None
    new_last = on_time[-1] if on_time else missed
    if new_last is None:
        return None
    enqueue = list(on_time)
    if missed is not None and entry.missed == "run_once":
        enqueue.insert(0, missed)
    return new_last, enqueue, missed


def run_entry(entry, last, now, *, using):
    """One entry's tick: see ``plan``. Returns how many jobs were enqueued."""
    from .models import RecurringState

    if last is None:
        # First time this entry is seen: it begins now; nothing before is back-filled.
        try:
            with transaction.atomic(using=using):
                RecurringState.objects.using(using).create(name=entry.name, last_occurrence=now)
            logger.info("Recurring job %r (%s, %s) starts now.", entry.name, entry.cron, entry.timezone.key)
        except IntegrityError:
            pass  # another leader just did it
        return 0
    planned = plan(entry, last, now)
    if planned is None:
        return 0
    new_last, occurrences, missed = planned
    enqueued = 0
    with transaction.atomic(using=using):
        moved = (
            RecurringState.objects.using(using)
            .filter(name=entry.name, last_occurrence=last)
            .update(last_occurrence=new_last, changed_at=Now())
        )
        if not moved:
            return 0  # another leader dealt with these occurrences
        for occurrence in occurrences:
            enqueued += enqueue_occurrence(entry, occurrence, using=using)
    if missed is not None:
        logger.warning(
            "Recurring job %r missed its occurrences up to %s (while no scheduler ran): %s.",
            entry.name,
            missed.isoformat(),
            "enqueued the latest once" if entry.missed == "run_once" else "skipped",
        )
    return enqueued


def enqueue_occurrence(entry, occurrence, *, using):
    """Enqueue the job of one occurrence; 1 if it was enqueued, 0 if refused (and logged)."""
    try:
        # A task of another backend is no JobTask: its using() refuses uniqkey (TypeError, logged below).
        task = cast("JobTask[..., Any]", resolve_task(entry.task)).using(
            backend=entry.backend, uniqkey=entry.uniqkey(occurrence), **entry.options()
        )
        with transaction.atomic(using=using):
            result = task.enqueue(*entry.args, **entry.kwargs)
    except (JobsError, InvalidTask, TypeError) as e:
        logger.error(
            "Recurring job %r: the occurrence at %s could not be enqueued: %s", entry.name, occurrence.isoformat(), e
        )
        return 0
    logger.info("Recurring job %r: enqueued job %s for %s.", entry.name, result.id, occurrence.isoformat())
    return 1
