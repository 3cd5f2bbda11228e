"""
``manage.py jobs``: look at and steer the queue from a shell or a script.

Every change goes through the queue service (``django_jobs.queue``); errors
become CommandErrors with the exit codes in EXIT_CODES (docs/jobs-command.md).
"""

import json
from datetime import timedelta

from django.core.management.base import (
    BaseCommand,
    CommandError,
    CommandParser,
    DjangoHelpFormatter,
)
from django.db import DatabaseError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from ... import queue
from ...compat import DEFAULT_TASK_BACKEND_ALIAS, InvalidTask, task_backends
from ...exceptions import (
    InvalidJobArguments,
    InvalidJobType,
    InvalidTransition,
    JobNotFound,
    QueueNotFound,
)
from ...models import JobRun
from ...redaction import displayed
from ...states import JobState

#: What a script can rely on.
OK, ERROR, USAGE, NOT_FOUND, INVALID_TRANSITION, INVALID_INPUT = 0, 1, 2, 3, 4, 5
EXIT_CODES = {
    OK: "success",
    ERROR: "any other error (the database is unreachable, ...)",
    USAGE: "bad command line: unknown subcommand or option, bad option value",
    NOT_FOUND: "no such job, queue, task function or backend",
    INVALID_TRANSITION: "the job's state does not allow it (cancel a finished job, retry a running one, ...)",
    INVALID_INPUT: "invalid input: arguments that are not JSON or do not fit the function, a bad priority, ...",
}

STATS_FIELDS = ("waiting", "due", "scheduled", "running", "succeeded", "failed", "cancelled", "expired")

EPILOG = (
    "exit status:\n"
    + "\n".join(f"  {code}  {meaning}" for code, meaning in EXIT_CODES.items())
    + ("\n\nRun 'manage.py jobs SUBCOMMAND --help' for a subcommand's options. See docs/jobs-command.md.")
)

SUB_EPILOG = "exit status:\n" + "\n".join(f"  {code}  {meaning}" for code, meaning in EXIT_CODES.items())


class HelpFormatter(DjangoHelpFormatter):
    """Django's formatter, keeping the line breaks of descriptions and epilogs."""

    def _fill_text(self, text, width, indent):
        return "".join(indent + line for line in text.splitlines(keepends=True))


class Parser(CommandParser):
    """Usage errors exit 2 from the command line (argparse's way) and from call_command (CommandError)."""

    def error(self, message):
        if self.called_from_command_line:
            super().error(message)
        raise CommandError(f"Error: {message}", returncode=USAGE)


def fail(message, code):
    return CommandError(message, returncode=code)


def error_code(e):
    """The exit code for an exception of the service."""
    if isinstance(e, (JobNotFound, QueueNotFound, InvalidJobType)):
        return NOT_FOUND
    if isinstance(e, InvalidTransition):
        return INVALID_TRANSITION
    if isinstance(e, (InvalidJobArguments, InvalidTask, ValueError)):
        return INVALID_INPUT
    return ERROR


def when(value):
    """A datetime for a table: local time to the second, or '-'."""
    if value is None:
        return "-"
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S")


def iso(value):
    return None if value is None else value.isoformat()


def age(seconds):
    """3725.2 -> '1h02m'; None -> '-'."""
    if seconds is None:
        return "-"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"


def table(headers, rows, right=()):
    """Rows as aligned columns; the columns named in ``right`` are aligned right (numbers)."""
    rows = [[str(cell) for cell in row] for row in rows]
    widths = [max([len(h)] + [len(row[i]) for row in rows]) for i, h in enumerate(headers)]

    def line(cells):
        out = [cell.rjust(w) if h in right else cell.ljust(w) for cell, w, h in zip(cells, widths, headers)]
        return "  ".join(out).rstrip()

    return "\n".join([line(headers)] + [line(row) for row in rows])


def json_argument(value, what, kind):
    try:
        parsed = json.loads(value)
    except ValueError as e:
        raise fail(f"--{what} is not valid JSON: {e}", INVALID_INPUT) from None
    if not isinstance(parsed, kind):
        expected = "array" if kind is list else "object"
        raise fail(f"--{what} must be a JSON {expected}, not {value!r}.", INVALID_INPUT)
    return parsed


def job_dict(job):
    args, kwargs, return_value = displayed(job)
    return {
        "id": job.pk,
        "function": job.func.path,
        "backend": job.backend,
        "queue": job.queue_name,
        "state": job.state,
        "priority": job.priority,
        "args": args,
        "kwargs": kwargs,
        "attempts": job.attempts,
        "attempts_left": job.attempts_left,
        "max_attempts": job.max_attempts,
        "enqueued_at": iso(job.enqueued_at),
        "run_after": iso(job.run_after),
        "started_at": iso(job.started_at),
        "last_attempted_at": iso(job.last_attempted_at),
        "finished_at": iso(job.finished_at),
        "expires_at": iso(job.expires_at),
        "keep_until": iso(job.keep_until),
        "worker_id": job.worker_id,
        "cancel_requested": job.cancel_requested,
        "uniqkey": job.uniqkey,
        "coalesce": job.coalesce,
        "concurrency_key": job.concurrency_key,
        "concurrency_limit": job.concurrency_limit,
        "exit_status": job.exit_status,
        "return_value": return_value,
    }


def run_dict(run):
    return {
        "attempt": run.attempt,
        "outcome": run.outcome,
        "worker_id": run.worker_id,
        "started_at": iso(run.started_at),
        "finished_at": iso(run.finished_at),
        "exit_status": run.exit_status,
        "exception": run.exception_class_path or None,
        "message": run.message,
        "traceback": run.traceback,
    }


def log_dict(line):
    return {
        "attempt": line.run.attempt,
        "at": iso(line.created_at),
        "level": line.level,
        "logger": line.logger,
        "message": line.message,
    }


LEVELS = {10: "DEBUG", 20: "INFO", 30: "WARNING", 40: "ERROR", 50: "CRITICAL"}


class Command(BaseCommand):
    help = (
        "Look at and steer django_jobs' queue: statistics, listing and showing jobs, pausing and\n"
        "resuming queues, cancelling, retrying, enqueuing and pruning jobs."
    )

    def create_parser(self, prog_name, subcommand, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        kwargs.setdefault("epilog", EPILOG)
        return super().create_parser(prog_name, subcommand, **kwargs)

    def add_arguments(self, parser):
        parser.__class__ = Parser  # usage errors exit 2, however the command is called
        sub = parser.add_subparsers(dest="action", required=True, metavar="SUBCOMMAND", title="subcommands")

        def add(name, help_text, description=None):
            p = sub.add_parser(
                name,
                help=help_text,
                description=description or help_text,
                epilog=SUB_EPILOG,
                formatter_class=HelpFormatter,
            )
            p.add_argument(
                "--backend",
                default=DEFAULT_TASK_BACKEND_ALIAS,
                help="TASKS alias whose jobs to work on (default: %(default)s).",
            )
            return p

        p = add(
            "stats",
            "Per-queue counts: waiting (due and scheduled), running, finished by state, paused.",
            "Per-queue counts of jobs. waiting = due + scheduled (ready jobs whose run_after has or has not\n"
            "come); 'oldest due' is how long the oldest due job has been waiting.",
        )
        p.add_argument(
            "--queue",
            "-q",
            action="append",
            dest="queues",
            metavar="NAME",
            help="Only this queue; repeat for several (default: all).",
        )
        p.add_argument("--json", action="store_true", help="Print a JSON array, one object per queue.")

        p = add("list", "List jobs, newest first.")
        p.add_argument("--queue", "-q", dest="queue_name", metavar="NAME", help="Only jobs of this queue.")
        p.add_argument(
            "--state",
            "-s",
            action="append",
            dest="states",
            choices=JobState.values,
            metavar="STATE",
            help=f"Only jobs in this state; repeat for several. One of: {', '.join(JobState.values)}.",
        )
        p.add_argument("--page", type=int, default=1, help="Page number, from 1 (default: %(default)s).")
        p.add_argument("--per-page", type=int, default=50, help="Jobs per page, 1-1000 (default: %(default)s).")
        p.add_argument("--json", action="store_true", help="Print a JSON array of jobs.")

        p = add("show", "Show one job with its attempts (runs) and what it logged.")
        p.add_argument("job_id", metavar="JOB_ID", help="The job's id.")
        p.add_argument("--attempt", type=int, help="Only the logs of this attempt.")
        p.add_argument("--json", action="store_true", help='Print a JSON object: the job\'s fields, "runs" and "logs".')

        for name, text in (
            ("pause", "Pause queues: workers stop claiming from them; running jobs finish."),
            ("resume", "Resume paused queues."),
        ):
            p = add(name, text)
            p.add_argument("queue_names", nargs="+", metavar="QUEUE", help="Queue name(s), from TASKS QUEUES.")

        for name, text in (
            ("cancel", "Cancel jobs: a ready one never runs; a running one's worker is asked to stop it."),
            ("retry", "Make failed, cancelled or expired jobs ready again, with a fresh attempt budget."),
            ("run-now", "Make ready jobs due now, skipping their run_after or retry delay."),
        ):
            p = add(name, text, text + "\nWith several ids, each is tried; the exit status is the first failure's.")
            p.add_argument("job_ids", nargs="+", metavar="JOB_ID", help="Job id(s).")

        p = add(
            "enqueue",
            "Enqueue a job by its task's dotted path, with JSON arguments; prints its id.",
            "Enqueue a job by its task's dotted path, with JSON arguments; prints its id.\n"
            "Example: manage.py jobs enqueue myapp.tasks.send --args '[42]' --kwargs '{\"urgent\": true}'",
        )
        p.add_argument("path", metavar="TASK_PATH", help="Dotted path of a @task or @django_jobs.job function.")
        p.add_argument(
            "--args",
            dest="json_args",
            metavar="JSON",
            default="[]",
            help="Positional arguments as a JSON array (default: []).",
        )
        p.add_argument(
            "--kwargs",
            dest="json_kwargs",
            metavar="JSON",
            default="{}",
            help="Keyword arguments as a JSON object (default: {}).",
        )
        p.add_argument("--queue", "-q", dest="queue_name", metavar="NAME", help="Queue (default: the task's).")
        p.add_argument("--priority", type=int, help="Priority, -100 to 100 (default: the task's).")
        when_group = p.add_mutually_exclusive_group()
        when_group.add_argument("--delay", type=float, metavar="SECONDS", help="Due this many seconds from now.")
        when_group.add_argument(
            "--run-after",
            metavar="DATETIME",
            help="Due at this ISO 8601 date and time (with an offset, or in TIME_ZONE).",
        )
        p.add_argument("--max-attempts", type=int, help="Attempts before it fails for good (default: the task's).")
        p.add_argument(
            "--uniqkey",
            help="At most one live job per function with this key; an existing one's id is printed instead.",
        )
        p.add_argument(
            "--json", action="store_true", help='Print a JSON object: {"id": ..., "created": true|false, "state": ...}.'
        )

        p = add(
            "prune",
            "Delete finished jobs whose keep time (KEEP_FINISHED_FOR, keep_for) is up, with their runs and logs.",
        )
        p.add_argument("--json", action="store_true", help='Print {"pruned": N}.')

        p = add("clear", "Delete the waiting (ready) jobs of a queue; running and finished ones stay.")
        p.add_argument("queue_name", metavar="QUEUE", help="Queue name, from TASKS QUEUES.")
        p.add_argument("--yes", action="store_true", required=True, help="Required: confirms the deletion.")

    # -- dispatch ------------------------------------------------------------------------------

    def handle(self, *args, action, backend, **options):
        self.backend = self.database_backend(backend)
        self.using = self.backend.database
        handler = getattr(self, "do_" + action.replace("-", "_"))
        try:
            handler(**options)
        except CommandError:
            raise
        except (JobNotFound, QueueNotFound, InvalidJobType, InvalidTransition, InvalidJobArguments, InvalidTask) as e:
            raise fail(str(e), error_code(e)) from e
        except DatabaseError as e:
            raise fail(f"Database error: {e}", ERROR) from e

    @staticmethod
    def database_backend(alias):
        from ...backend import DatabaseBackend

        try:
            instance = task_backends[alias]
        except Exception as e:
            raise fail(f"Unknown task backend {alias!r}: {e}", NOT_FOUND) from e
        if not isinstance(instance, DatabaseBackend):
            raise fail(
                f"Task backend {alias!r} is {type(instance).__name__}, not django_jobs' DatabaseBackend.", NOT_FOUND
            )
        return instance

    def check_queue(self, name):
        if self.backend.queues and name not in self.backend.queues:
            raise fail(
                f"Queue {name!r} is not in TASKS[{self.backend.alias!r}]['QUEUES'] ({sorted(self.backend.queues)}).",
                NOT_FOUND,
            )

    def out(self, text=""):
        self.stdout.write(text)

    def print_json(self, value):
        self.stdout.write(json.dumps(value, indent=2, default=str))

    # -- subcommands ---------------------------------------------------------------------------

    def do_stats(self, *, queues, json, **_):
        from ...stats import QueueStats, queue_stats

        for name in queues or ():
            self.check_queue(name)
        if queues:
            stats = queue_stats(self.using, queues=list(dict.fromkeys(queues)))
        else:
            # The backend's queues, and any other queue that has jobs in its database.
            stats = {s.name: s for s in queue_stats(self.using)}
            for name in self.backend.queues:
                stats.setdefault(name, QueueStats(name=name))
            stats = [stats[name] for name in sorted(stats)]
        paused = queue.paused_queues(using=self.using)
        rows = []
        for s in stats:
            row = {"queue": s.name, "paused": s.name in paused}
            row.update({f: getattr(s, f) for f in STATS_FIELDS})
            row["oldest_due_age"] = s.oldest_due_age
            rows.append(row)
        if json:
            return self.print_json(rows)
        if not rows:
            return self.out("No queues.")
        headers = ["QUEUE", "STATUS", *[f.upper() for f in STATS_FIELDS], "OLDEST DUE"]
        self.out(
            table(
                headers,
                [
                    [
                        r["queue"],
                        "paused" if r["paused"] else "running",
                        *[r[f] for f in STATS_FIELDS],
                        age(r["oldest_due_age"]),
                    ]
                    for r in rows
                ],
                right=set(headers[2:]),
            )
        )

    def do_list(self, *, queue_name, states, page, per_page, json, **_):
        if queue_name is not None:
            self.check_queue(queue_name)
        if page < 1:
            raise fail("--page must be at least 1.", USAGE)
        if not 1 <= per_page <= 1000:
            raise fail("--per-page must be between 1 and 1000.", USAGE)
        jobs = queue.list_jobs(using=self.using, queue_name=queue_name, states=states, page=page, per_page=per_page)
        if json:
            return self.print_json([job_dict(job) for job in jobs])
        if not jobs:
            return self.out("No jobs.")
        self.out(
            table(
                ["ID", "STATE", "QUEUE", "FUNCTION", "PRIORITY", "ATTEMPTS", "ENQUEUED", "RUN AFTER", "FINISHED"],
                [
                    [
                        job.pk,
                        job.state,
                        job.queue_name,
                        job.func.path,
                        job.priority,
                        f"{job.attempts}/{job.max_attempts}",
                        when(job.enqueued_at),
                        when(job.run_after),
                        when(job.finished_at),
                    ]
                    for job in jobs
                ],
                right={"ID", "PRIORITY", "ATTEMPTS"},
            )
        )

    def do_show(self, *, job_id, attempt, json, **_):
        job = queue.get_job(job_id, using=self.using)
        runs = list(JobRun.objects.using(self.using).filter(job_id=job.pk).order_by("attempt"))
        lines = queue.logs(job.pk, attempt=attempt, using=self.using)
        if json:
            return self.print_json(
                {**job_dict(job), "runs": [run_dict(r) for r in runs], "logs": [log_dict(line) for line in lines]}
            )
        data = job_dict(job)
        self.out(f"Job {job.pk}: {job.func.path}")
        fields = [
            ("state", job.state),
            ("queue", f"{job.queue_name} (backend {job.backend})"),
            ("priority", job.priority),
            ("args", _dumps(data["args"])),
            ("kwargs", _dumps(data["kwargs"])),
            ("attempts", f"{job.attempts} made, {job.attempts_left} left of {job.max_attempts}"),
            ("enqueued", when(job.enqueued_at)),
            ("run after", when(job.run_after)),
            ("started", when(job.started_at)),
            ("last attempt", when(job.last_attempted_at)),
            ("finished", when(job.finished_at)),
        ]
        optional = [
            ("expires", job.expires_at and when(job.expires_at)),
            ("kept until", job.keep_until and when(job.keep_until)),
            ("worker", job.worker_id),
            ("uniqkey", job.uniqkey),
            ("coalesce", job.coalesce),
            ("concurrency", job.concurrency_key and f"{job.concurrency_key} (limit {job.concurrency_limit})"),
            ("exit status", job.exit_status),
            ("return value", _dumps(data["return_value"]) if job.state == JobState.SUCCEEDED else None),
        ]
        fields += [(k, v) for k, v in optional if v is not None]
        width = max(len(k) for k, _ in fields)
        for key, value in fields:
            self.out(f"  {key.ljust(width)}  {value}")
        self.out()
        self.out(f"Runs ({len(runs)}):" if runs else "Runs: none")
        for run in runs:
            took = ""
            if run.finished_at and run.started_at:
                took = f" in {(run.finished_at - run.started_at).total_seconds():.3f}s"
            self.out(
                f"  #{run.attempt} {run.outcome}{took}  worker {run.worker_id}  started {when(run.started_at)}"
                + (f"  exit status {run.exit_status}" if run.exit_status is not None else "")
            )
            if run.exception_class_path or run.message:
                self.out(f"     {run.exception_class_path}: {run.message}".rstrip(": "))
            for tb_line in run.traceback.rstrip().splitlines():
                self.out(f"     | {tb_line}")
        self.out()
        title = "Logs" if attempt is None else f"Logs of attempt {attempt}"
        self.out(f"{title} ({len(lines)}):" if lines else f"{title}: none")
        for line in lines:
            level = LEVELS.get(line.level, str(line.level))
            self.out(f"  [#{line.run.attempt}] {when(line.created_at)} {level:<8} {line.logger}: {line.message}")

    def do_pause(self, *, queue_names, **_):
        for name in queue_names:
            self.check_queue(name)
        for name in queue_names:
            queue.pause(name, using=self.using)
            self.out(f"Paused queue {name}.")

    def do_resume(self, *, queue_names, **_):
        for name in queue_names:
            self.check_queue(name)
        for name in queue_names:
            queue.resume(name, using=self.using)
            self.out(f"Resumed queue {name}.")

    def _each_job(self, job_ids, change, done, verb):
        first_error, failed = None, 0
        for job_id in job_ids:
            try:
                job = change(job_id, using=self.using)
            except (JobNotFound, InvalidTransition) as e:
                if len(job_ids) == 1:
                    raise
                self.stderr.write(f"Error: {e}")
                first_error, failed = first_error or e, failed + 1
                continue
            self.out(done(job))
        if first_error is not None:
            raise fail(f"{failed} of {len(job_ids)} jobs could not be {verb}.", error_code(first_error))

    def do_cancel(self, *, job_ids, **_):
        self._each_job(
            job_ids,
            queue.cancel,
            lambda job: f"Cancelled job {job.pk}" + (" (its worker is asked to stop it)." if job.worker_id else "."),
            "cancelled",
        )

    def do_retry(self, *, job_ids, **_):
        self._each_job(
            job_ids, queue.retry, lambda job: f"Job {job.pk} is ready again ({job.max_attempts} attempt(s)).", "retried"
        )

    def do_run_now(self, *, job_ids, **_):
        self._each_job(job_ids, queue.run_now, lambda job: f"Job {job.pk} is due now.", "made due")

    def do_enqueue(
        self, *, path, json_args, json_kwargs, queue_name, priority, delay, run_after, max_attempts, uniqkey, json, **_
    ):
        import django_jobs

        call_args = json_argument(json_args, "args", list)
        call_kwargs = json_argument(json_kwargs, "kwargs", dict)
        options = {}
        if queue_name is not None:
            self.check_queue(queue_name)
            options["queue_name"] = queue_name
        if priority is not None:
            options["priority"] = priority
        if delay is not None:
            if delay < 0:
                raise fail("--delay must be >= 0.", USAGE)
            options["run_after"] = timezone.now() + timedelta(seconds=delay)
        if run_after is not None:
            moment = parse_datetime(run_after)
            if moment is None:
                raise fail(f"--run-after must be an ISO 8601 date and time, not {run_after!r}.", USAGE)
            if timezone.is_naive(moment):
                moment = timezone.make_aware(moment)
            options["run_after"] = moment
        if max_attempts is not None:
            if max_attempts < 1:
                raise fail("--max-attempts must be at least 1.", INVALID_INPUT)
            options["max_attempts"] = max_attempts
        if uniqkey is not None:
            options["uniqkey"] = uniqkey
        result = django_jobs.enqueue(path, args=call_args, kwargs=call_kwargs, backend=self.backend.alias, **options)
        created = getattr(result, "created", True)
        if json:
            return self.print_json({"id": int(result.id), "created": created, "state": _state(result, self.using)})
        self.out(str(result.id))
        if not created:
            self.stderr.write(f"A live job with uniqkey {uniqkey!r} already existed: its id is printed.")

    def do_prune(self, *, json, **_):
        pruned = queue.prune(using=self.using)
        if json:
            return self.print_json({"pruned": pruned})
        self.out(f"Pruned {pruned} finished job(s).")

    def do_clear(self, *, queue_name, yes, **_):
        self.check_queue(queue_name)
        deleted = queue.clear_queue(queue_name, using=self.using)
        self.out(f"Deleted {deleted} waiting job(s) from queue {queue_name}.")


def _dumps(value):
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _state(result, using):
    return queue.get_job(result.id, using=using).state
