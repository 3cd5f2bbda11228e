from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from ... import limits
from ...backend import DatabaseBackend
from ...compat import DEFAULT_TASK_BACKEND_ALIAS, task_backends
from ...conf import MAX_CONCURRENCY
from ...exceptions import InvalidJobArguments
from ...log_output import log_to_stderr_unless_configured
from ...models import Job
from ...worker import Worker
from ...worker_set import WorkerSet


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
            "--concurrency",
            "-c",
            type=int,
            help="Jobs run at once by this worker, 1 to 1000 (default: OPTIONS['CONCURRENCY']).",
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
        parser.add_argument(
            "--worker-id", help="Identify this worker, at most 100 characters (default: host:pid:random)."
        )
        parser.add_argument(
            "--processes",
            action="store_true",
            help="Run each job in a child process, which can be killed when the job is cancelled "
            "or overruns its max_work_duration, and whose crash cannot take the worker down.",
        )
        parser.add_argument(
            "--metrics-port",
            type=int,
            metavar="PORT",
            help="Serve this worker's Prometheus metrics at http://ADDR:PORT/metrics (needs prometheus_client).",
        )
        parser.add_argument(
            "--metrics-addr",
            default="127.0.0.1",
            metavar="ADDR",
            help="Address the metrics server listens on (default: %(default)s).",
        )

    def handle(
        self,
        *args,
        queues,
        concurrency,
        burst,
        backend,
        grace_period,
        worker_id,
        processes,
        metrics_port,
        metrics_addr,
        **options,
    ):
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
            raise CommandError(f"--concurrency must be at least 1, not {concurrency}.")
        if concurrency is not None and concurrency > MAX_CONCURRENCY:
            raise CommandError(
                f"--concurrency must be at most {MAX_CONCURRENCY}, not {concurrency}: each slot holds a thread "
                "(or a child process) and a database connection. Run more workers instead."
            )
        if grace_period is not None:
            try:
                limits.delay(grace_period, "--grace-period")
            except InvalidJobArguments as e:
                raise CommandError(str(e)) from None
        longest = Job._meta.get_field("worker_id").max_length
        assert longest is not None  # a CharField's
        if worker_id is not None and not 1 <= len(worker_id) <= longest:
            raise CommandError(f"--worker-id must be 1 to {longest} characters, not {len(worker_id)}.")
        if metrics_port is not None and not 0 < metrics_port < 65536:
            raise CommandError("--metrics-port must be from 1 to 65535.")
        log_to_stderr_unless_configured()
        if metrics_port is not None:
            self.serve_metrics(metrics_port, metrics_addr)
        worker_options = {
            "options": instance.job_options,
            "queues": queues,
            "concurrency": concurrency,
            "burst": burst,
            "grace_period": grace_period,
            "worker_id": worker_id,
            "processes": processes,
            "backend": backend,
        }
        worker: Worker | WorkerSet
        try:
            if len(instance.databases) > 1:  # one worker per database (OPTIONS['DATABASES'])
                instance.placement.check_reachable_tables()
                worker = WorkerSet(databases=instance.databases, longest_id=longest, **worker_options)
            else:
                worker = Worker(using=instance.database, **worker_options)
        except ImproperlyConfigured as e:
            raise CommandError(str(e)) from None
        worker.install_signal_handlers()
        exit_code = worker.run()
        if exit_code:
            raise SystemExit(exit_code)

    @staticmethod
    def serve_metrics(port, addr):
        try:
            from ...metrics.worker import serve
        except ImportError as e:
            raise CommandError(
                f"--metrics-port needs prometheus_client: pip install 'django-jobs-db[metrics]' ({e})."
            ) from e
        try:
            serve(port, addr)
        except OSError as e:
            raise CommandError(f"Cannot serve metrics on {addr}:{port}: {e}") from e
