"""
Schedules stored in the database (``Schedule``): recurring jobs edited in the
admin, run by the scheduler leader next to the RECURRING entries of settings
and by the same rules (``recurring.plan`` / ``recurring.run_entry``).

Each schedule is turned into a recurring ``Entry`` named ``schedule:<name>``
at every tick, so a change (cron, timezone, arguments, enabled) takes effect
within one SCHEDULER_INTERVAL without restarting workers. Its RecurringState
row is moved forward by the same guarded UPDATE as a settings entry's, in the
transaction that enqueues: an occurrence is enqueued at most once, however
many workers and hosts run. While a schedule is disabled, the leader moves its
RecurringState past the occurrences that come due without enqueuing them: a
paused schedule resumes at its next occurrence, it does not catch up.
"""

import logging

from django.db import DatabaseError, IntegrityError, transaction
from django.db.models.functions import Now

from .compat import InvalidTask
from .models import RecurringState, Schedule
from .recurring import EntryError, check_entry, database_backends, database_now, parse, run_entry
from .task import resolve_task

logger = logging.getLogger("django_jobs.schedules")

#: Prefix of a database schedule's entry name: its RecurringState and uniqkeys never meet a settings entry's.
PREFIX = "schedule:"


def spec_of(schedule):
    """The RECURRING-style dict of a Schedule (only the keys it sets)."""
    spec = {"task": schedule.task, "cron": schedule.cron, "args": schedule.args, "kwargs": schedule.kwargs}
    if schedule.timezone:
        spec["timezone"] = schedule.timezone
    if schedule.queue_name:
        spec["queue_name"] = schedule.queue_name
    if schedule.priority is not None:
        spec["priority"] = schedule.priority
    return spec


def backend_of(schedule):
    """
    The DatabaseBackend a schedule's jobs go to: its task's own backend; the
    first DatabaseBackend of TASKS when the task does not resolve (its check
    then says why). None when TASKS has no DatabaseBackend.
    """
    backends = database_backends()
    try:
        alias = resolve_task(schedule.task).backend
    except InvalidTask:
        alias = None
    return backends.get(alias) or next(iter(backends.values()), None)


def check_schedule(schedule):
    """Every problem of a schedule, as EntryErrors whose messages name it (empty if it is usable)."""
    backend = backend_of(schedule)
    if backend is None:
        return [EntryError("task", "TASKS has no django_jobs DatabaseBackend to run schedules.")]
    problems = check_entry(PREFIX + schedule.name, spec_of(schedule), backend)
    prefix = f"RECURRING entry {PREFIX + schedule.name!r} of TASKS[{backend.alias!r}]"
    return [
        EntryError(p.kind, f"Schedule {schedule.name!r}" + str(p).removeprefix(prefix))
        if str(p).startswith(prefix)
        else p
        for p in problems
    ]


def entry_of(schedule):
    """The recurring Entry of a schedule, or EntryError for its first problem."""
    problems = check_schedule(schedule)
    if problems:
        raise problems[0]
    return parse(PREFIX + schedule.name, spec_of(schedule), backend_of(schedule))


def run_now(schedule):
    """Enqueue one job of the schedule now, outside its cron (no uniqkey). Returns the TaskResult."""
    entry = entry_of(schedule)
    task = resolve_task(entry.task).using(backend=entry.backend, **entry.options())
    return task.enqueue(*entry.args, **entry.kwargs)


class DatabaseSchedules:
    """The schedules of the Schedule table in database ``using``; ``run()`` enqueues what is due."""

    def __init__(self, using):
        self.using = using
        #: Problems already logged, so a broken schedule is logged once, not at every tick.
        self.reported = set()

    def run(self, now=None):
        """One tick: enqueue the due occurrences of enabled schedules, skip those of disabled ones."""
        schedules = list(Schedule.objects.using(self.using).order_by("name"))
        if not schedules:
            return 0
        now = database_now(self.using) if now is None else now
        last = dict(
            RecurringState.objects.using(self.using)
            .filter(name__in=[PREFIX + s.name for s in schedules])
            .values_list("name", "last_occurrence")
        )
        enqueued = 0
        for schedule in schedules:
            try:
                entry = entry_of(schedule)
            except EntryError as e:
                if str(e) not in self.reported:
                    self.reported.add(str(e))
                    logger.error("Ignoring %s", e)
                continue
            if backend_database(entry) != self.using:
                continue  # its jobs live in another database: that database's leader runs it
            try:
                if schedule.enabled:
                    n = run_entry(entry, last.get(entry.name), now, using=self.using)
                    enqueued += n
                    self.note(schedule, entry, now, ran=n > 0)
                else:
                    skip_paused(entry, last.get(entry.name), now, using=self.using)
            except DatabaseError:
                raise
            except Exception:
                logger.exception("Schedule %r failed to enqueue; will try again.", schedule.name)
        return enqueued

    def note(self, schedule, entry, now, *, ran):
        """Record last_run (when an occurrence was enqueued) and next_run on the row, if they changed."""
        changes = {}
        if ran:
            changes["last_run"] = now
        upcoming = entry.next_after(now)
        if upcoming != schedule.next_run:
            changes["next_run"] = upcoming
        if changes:
            # Only these columns: an operator's edit saved meanwhile is kept.
            Schedule.objects.using(self.using).filter(pk=schedule.pk).update(**changes)


def backend_database(entry):
    backend = database_backends().get(entry.backend)
    return backend.database if backend is not None else None


def skip_paused(entry, last, now, *, using):
    """A disabled schedule: move its RecurringState past the occurrences that came due, enqueuing none."""
    latest = entry.latest_at_or_before(now)
    if latest is None:
        return
    if last is None:
        try:
            with transaction.atomic(using=using):
                RecurringState.objects.using(using).create(name=entry.name, last_occurrence=now)
        except IntegrityError:
            pass  # another leader just did it
        return
    RecurringState.objects.using(using).filter(name=entry.name, last_occurrence__lt=latest).update(
        last_occurrence=latest, changed_at=Now()
    )
