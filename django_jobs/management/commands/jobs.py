"""
``manage.py jobs``: look at and steer the queue from a shell or a script.

Every change goes through the queue service (``django_jobs.queue``); errors
become CommandErrors with the exit codes in EXIT_CODES (docs/jobs-command.md).
"""

import json

from django.core.management.base import (
    BaseCommand,
    CommandError,
)
from django.db import DatabaseError
from django.utils import timezone

from ... import limits, queue
from ...compat import InvalidTask, task_backends
from ...exceptions import (
    InvalidJobArguments,
    InvalidJobType,
    InvalidTransition,
    JobNotFound,
    QueueNotCleared,
    QueueNotFound,
)
from ...metadata import describe_progress
from ...models import Job, JobRun
from ...states import JobState
from ..jobs_cli import (
    EPILOG,
    ERROR,
    EXIT_CODES,
    INVALID_INPUT,
    LEVELS,
    NOT_FOUND,
    STATS_FIELDS,
    USAGE,
    HelpFormatter,
    add_subcommands,
    age,
    dumps,
    error_code,
    fail,
    job_dict,
    json_argument,
    log_dict,
    moment_argument,
    neighbour_dict,
    neighbour_lines,
    run_dict,
    table,
    when,
)
from ..jobs_databases import EACH_DATABASE, SeveralDatabases

__all__ = ["EXIT_CODES", "Command"]


class Command(SeveralDatabases, BaseCommand):
    help = (
        "Look at and steer django_jobs' queue: statistics, listing and showing jobs, pausing and\n"
        "resuming queues, cancelling, retrying, enqueuing and pruning jobs."
    )

    def create_parser(self, prog_name, subcommand, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        kwargs.setdefault("epilog", EPILOG)
        return super().create_parser(prog_name, subcommand, **kwargs)

    def add_arguments(self, parser):
        add_subcommands(parser)

    # -- dispatch ------------------------------------------------------------------------------

    def handle(self, *args, action, backend, database, **options):
        self.backend = self.database_backend(backend)
        aliases = self.backend.databases
        if database is not None and database not in aliases:
            raise fail(f"--database {database!r} is not a database of backend {backend!r} ({aliases}).", NOT_FOUND)
        self.using = database or self.backend.database
        handler = getattr(self, "do_" + action.replace("-", "_"))
        try:
            if database is None and action in EACH_DATABASE and len(aliases) > 1:
                self.in_each_database(handler, aliases, options)
            else:
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
        if self.collected is not None:
            self.collected[self.using] = value
            return
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
                        self.shown_id(job.pk),
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
        self.using, job_id = self.locate(job_id)
        job = queue.get_job(job_id, using=self.using)
        runs = list(JobRun.objects.using(self.using).filter(job_id=job.pk).order_by("attempt"))
        lines = queue.logs(job.pk, attempt=attempt, using=self.using)
        waits_for, waited_by, (n_waits_for, n_waited_by) = queue.neighbours(job.pk, self.using)
        progress = job.workflow_id and queue.workflow_progress(job.workflow_id, using=self.using)
        if json:
            return self.print_json(
                {
                    **job_dict(job),
                    "waits_for": [neighbour_dict(n) for n in waits_for],
                    "waited_by": [neighbour_dict(n) for n in waited_by],
                    "workflow": progress and {"id": job.workflow_id, "done": progress[0], "total": progress[1]},
                    "runs": [run_dict(r) for r in runs],
                    "logs": [log_dict(line) for line in lines],
                }
            )
        data = job_dict(job)
        self.out(f"Job {job.pk}: {job.func.path}")
        fields = [
            ("state", job.state),
            ("queue", f"{job.queue_name} (backend {job.backend})"),
            ("priority", job.priority),
            ("args", dumps(data["args"])),
            ("kwargs", dumps(data["kwargs"])),
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
            ("return value", dumps(data["return_value"]) if job.state == JobState.SUCCEEDED else None),
            ("progress", describe_progress(job.metadata)),
            ("metadata", dumps(job.metadata) if job.metadata else None),
        ]
        fields += [(k, v) for k, v in optional if v is not None]
        width = max(len(k) for k, _ in fields)
        for key, value in fields:
            self.out(f"  {key.ljust(width)}  {value}")
        if progress:
            self.out(f"  {'workflow'.ljust(width)}  {job.workflow_id}: {progress[0]} of {progress[1]} done")
        for title, shown, count in (("Waits for", waits_for, n_waits_for), ("Waited for by", waited_by, n_waited_by)):
            if count:
                self.out()
                self.out(neighbour_lines(title, shown, count))
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
                using, pk = self.locate(job_id)
                job = change(pk, using=using)
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
            options["priority"] = limits.priority(priority, "--priority")
        if delay is not None:
            try:
                options["run_after"] = timezone.now() + limits.duration(delay, "--delay")
            except InvalidJobArguments as e:
                raise fail(str(e), USAGE) from None
        if run_after is not None:
            options["run_after"] = moment_argument(run_after, "--run-after")
        if max_attempts is not None:
            options["max_attempts"] = limits.attempts(max_attempts, "--max-attempts")
        if uniqkey is not None:
            longest = Job._meta.get_field("uniqkey").max_length
            assert longest is not None  # a CharField's
            if len(uniqkey) > longest:
                raise fail(f"--uniqkey must be at most {longest} characters, not {len(uniqkey)}.", INVALID_INPUT)
            options["uniqkey"] = uniqkey
        result = django_jobs.enqueue(path, args=call_args, kwargs=call_kwargs, backend=self.backend.alias, **options)
        created = getattr(result, "created", True)
        if json:
            job_id = int(result.id) if result.id.isdigit() else result.id
            return self.print_json({"id": job_id, "created": created, "state": _state(result, *self.locate(result.id))})
        self.out(str(result.id))
        if not created:
            self.stderr.write(f"A live job with uniqkey {uniqkey!r} already existed: its id is printed.")

    def do_prune(self, *, json, **_):
        pruned = queue.prune(using=self.using)
        if json:
            return self.print_json({"pruned": pruned})
        self.out(f"Pruned {pruned} finished job(s).")

    def do_clear(self, *, queue_name, yes, wait, **_):
        self.check_queue(queue_name)
        try:
            patience = limits.delay(wait, "--wait")
        except InvalidJobArguments as e:
            raise fail(str(e), USAGE) from None
        so_far = [0]
        try:
            deleted = queue.clear_queue(
                queue_name, using=self.using, patience=patience, progress=lambda n: so_far.__setitem__(0, n)
            )
        except QueueNotCleared as e:
            raise fail(str(e), ERROR) from e
        except KeyboardInterrupt:
            self.stderr.write(
                f"Interrupted: deleted {so_far[0]} waiting job(s) from queue {queue_name}; run it again to continue."
            )
            raise
        self.out(f"Deleted {deleted} waiting job(s) from queue {queue_name}.")


def _state(result, using, job_id):
    return queue.get_job(job_id, using=using).state
