"""
One settings module for every system under test; the environment picks:

- BENCH_SYSTEM: ours | dtdb (django-tasks-db) | procrastinate | djq (django-q2)
- BENCH_DB: pg | sqlite; BENCH_DBNAME (PostgreSQL database) or BENCH_SQLITE (file)
- BENCH_SLOTS: job slots in total (django-q2 reads its worker count from here)
- BENCH_POLL: polling interval of systems that poll

PGHOST/PGPORT/PGUSER point at the benchmark's private cluster (bench/pg.py).
"""

import os

SYSTEM = os.environ.get("BENCH_SYSTEM", "ours")
DB = os.environ.get("BENCH_DB", "pg")
SLOTS = int(os.environ.get("BENCH_SLOTS", "2"))
POLL = float(os.environ.get("BENCH_POLL", "1.0"))

SECRET_KEY = "benchmark-only"
USE_TZ = True
TIME_ZONE = "UTC"
DEBUG = False
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

if DB == "pg":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": os.environ.get("BENCH_DBNAME", "bench"),
            "HOST": os.environ["PGHOST"],
            "PORT": os.environ["PGPORT"],
            "USER": os.environ.get("PGUSER", "postgres"),
            # Persistent connections, as Django's deployment checklist advises: with the default
            # (0), workers that call close_old_connections() after every task (django-tasks-db,
            # django-q2) open a new connection per task. Autocommit, no pool.
            "CONN_MAX_AGE": None,
        }
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ["BENCH_SQLITE"],
            # WAL lets readers run beside the single writer; writers wait up to 30 s for the lock.
            "OPTIONS": {"timeout": 30, "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL"},
        }
    }

INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth"]
TASKS = {}

if SYSTEM == "ours":
    INSTALLED_APPS += ["django_jobs"]
    TASKS = {
        "default": {
            "BACKEND": "django_jobs.backend.DatabaseBackend",
            "QUEUES": ["default"],
            "OPTIONS": {
                "POLL_INTERVAL": POLL,
                "CONCURRENCY": SLOTS,
                # W5: a failed attempt is retried once, at once (as for every peer).
                "MAX_ATTEMPTS": 2,
                "BACKOFF": "bench.jobs.no_backoff",
            },
        }
    }
elif SYSTEM == "dtdb":
    INSTALLED_APPS += ["django_tasks_db"]
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
elif SYSTEM == "procrastinate":
    INSTALLED_APPS += ["procrastinate.contrib.django"]
    PROCRASTINATE_AUTODISCOVER_MODULE_NAME = ""
    PROCRASTINATE_IMPORT_PATHS = ["bench.pjobs"]
elif SYSTEM == "djq":
    INSTALLED_APPS += ["django_q"]
    Q_CLUSTER = {
        "name": "bench",
        "orm": "default",  # the ORM broker: jobs in this database
        "workers": SLOTS,
        "poll": POLL,  # how often an idle pusher polls the ORM broker (default 0.2 s)
        "bulk": 10,  # tasks per broker dequeue (default 1)
        "timeout": 1,  # no benchmark job runs longer than 50 ms
        "retry": 2,  # a task not acknowledged (failed) is delivered again after this many seconds (> timeout)
        "max_attempts": 2,
        "ack_failures": False,
        "save_limit": 0,  # keep every result, as the other systems do
        "catch_up": False,
        "log_level": "WARNING",
    }
else:
    raise RuntimeError(f"unknown BENCH_SYSTEM {SYSTEM!r}")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}

if os.environ.get("BENCH_OTEL") == "noop":
    import bench.otel_noop  # noqa: F401  # spans recorded by the SDK, dropped by the exporter
