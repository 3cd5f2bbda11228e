from django.core.management.base import BaseCommand, CommandError

from ...backend import DatabaseBackend
from ...compat import DEFAULT_TASK_BACKEND_ALIAS, task_backends
from ...worker import Worker


class Command(BaseCommand):
    help = "Run a django_jobs worker (and, if it wins leadership, the scheduler loop)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--queue",
            "-q",
            action="append",
            dest="queues",
            metavar="NAME",
            help="Queue to take jobs from; repeat for several (default: all).",
        )
        parser.add_argument(
            "--concurrency", "-c", type=int, help="Jobs run at once by this worker (default: OPTIONS['CONCURRENCY'])."
        )
        parser.add_argument("--burst", action="store_true", help="Run every job that is due, then exit 0.")
        parser.add_argument(
            "--backend", default=DEFAULT_TASK_BACKEND_ALIAS, help="TASKS alias to serve (default: %(default)s)."
        )
        parser.add_argument(
            "--grace-period",
            type=float,
            help="Seconds running jobs get to finish after SIGTERM (default: OPTIONS['GRACE_PERIOD']).",
        )
        parser.add_argument("--worker-id", help="Identify this worker (default: host:pid:random).")
        parser.add_argument(
            "--processes",
            action="store_true",
            help="Run each job in a child process, which can be killed when the job is cancelled "
            "or overruns its max_work_duration, and whose crash cannot take the worker down.",
        )

    def handle(self, *args, queues, concurrency, burst, backend, grace_period, worker_id, processes, **options):
        try:
            instance = task_backends[backend]
        except Exception as e:
            raise CommandError(f"Unknown task backend {backend!r}: {e}") from e
        if not isinstance(instance, DatabaseBackend):
            raise CommandError(
                f"Task backend {backend!r} is {type(instance).__name__}, not django_jobs' DatabaseBackend."
            )
        unknown = set(queues or ()) - instance.queues
        if unknown:
            raise CommandError(
                f"Unknown queue(s) {sorted(unknown)}; TASKS[{backend!r}]['QUEUES'] is {sorted(instance.queues)}."
            )
        if concurrency is not None and concurrency < 1:
            raise CommandError("--concurrency must be at least 1.")
        worker = Worker(
            using=instance.database,
            options=instance.job_options,
            queues=queues,
            concurrency=concurrency,
            burst=burst,
            grace_period=grace_period,
            worker_id=worker_id,
            processes=processes,
            backend=backend,
        )
        worker.install_signal_handlers()
        exit_code = worker.run()
        if exit_code:
            raise SystemExit(exit_code)
