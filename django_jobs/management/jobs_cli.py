"""
The command line of ``manage.py jobs``: its subcommands and options, exit
codes, and how it prints jobs, runs and log lines (text and JSON).
"""

import json

from django.core.management.base import CommandError, CommandParser, DjangoHelpFormatter
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from .. import limits
from ..arguments import loads
from ..compat import DEFAULT_TASK_BACKEND_ALIAS, InvalidTask
from ..exceptions import (
    InvalidJobArguments,
    InvalidJobType,
    InvalidTransition,
    JobNotFound,
    QueueNotFound,
)
from ..redaction import displayed
from ..states import JobState

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

STATS_FIELDS = ("ready", "due", "scheduled", "waiting", "running", "succeeded", "failed", "cancelled", "expired")

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
        parsed = loads(value, f"--{what}")
    except InvalidJobArguments as e:
        raise fail(str(e), INVALID_INPUT) from None
    if not isinstance(parsed, kind):
        expected = "array" if kind is list else "object"
        raise fail(f"--{what} must be a JSON {expected}, not {value!r}.", INVALID_INPUT)
    return parsed


def moment_argument(value, what):
    """An ISO 8601 date and time (naive: in TIME_ZONE) as an aware datetime, or a usage error naming ``what``."""
    try:
        moment = parse_datetime(value)
    except ValueError as e:  # well-formed but impossible: 2030-02-30, 25:00
        raise fail(f"{what} {value!r} is not a valid date and time: {e}.", USAGE) from None
    if moment is None:
        raise fail(f"{what} must be an ISO 8601 date and time, not {value!r}.", USAGE)
    try:
        if timezone.is_naive(moment):
            moment = timezone.make_aware(moment)
        return limits.moment(moment, what)
    except (InvalidJobArguments, OverflowError) as e:
        raise fail(
            str(e) if isinstance(e, InvalidJobArguments) else f"{what} {value!r} is out of range.", USAGE
        ) from None


def neighbour_dict(neighbour):
    """A job another waits for, or that waits for it (``queue.Neighbour``), for --json."""
    return {"id": neighbour.id, "function": neighbour.path, "state": neighbour.state}


def neighbour_lines(title, shown, count):
    """``title (count):`` then a line per job shown: ``#id state function``; says how many more were left out."""
    lines = [f"{title} ({count}):", *(f"  #{n.id} {n.state:<9} {n.path}" for n in shown)]
    if count > len(shown):
        lines.append(f"  ... and {count - len(shown)} more")
    return "\n".join(lines)


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
        "metadata": job.metadata or {},
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


def add_subcommands(parser):
    """The subcommands and their options (``Command.add_arguments``)."""
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
        p.add_argument(
            "--database",
            metavar="ALIAS",
            help="With several databases (OPTIONS['DATABASES']): only this one's jobs (default: each, or the "
            "database a job id 'alias:id' names).",
        )
        return p

    p = add(
        "stats",
        "Per-queue counts: ready (due and scheduled), waiting, running, finished by state, paused.",
        "Per-queue counts of jobs. ready = due + scheduled (ready jobs whose run_after has or has not\n"
        "come); waiting: jobs waiting for their dependencies; 'oldest due' is how long the oldest due\n"
        "job has been waiting.",
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
    when_group.add_argument(
        "--delay", type=float, metavar="SECONDS", help="Due this many seconds from now (0 to 100 years)."
    )
    when_group.add_argument(
        "--run-after",
        metavar="DATETIME",
        help="Due at this ISO 8601 date and time (with an offset, or in TIME_ZONE).",
    )
    p.add_argument(
        "--max-attempts", type=int, help="Attempts before it fails for good, 1 to 2147483647 (default: the task's)."
    )
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
    p.add_argument(
        "--wait",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="How long to keep retrying while the database is locked (SQLite beside a busy worker)\n"
        "before giving up; what was deleted stays deleted (default: %(default)s).",
    )


def dumps(value):
    return value if isinstance(value, str) else json.dumps(value, default=str)
