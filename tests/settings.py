"""
Settings for the test suite. ``DJANGO_JOBS_TEST_DB`` picks the database:
``sqlite`` (default, a file, so worker subprocesses can share it) or
``postgres`` (the private cluster ``scripts/pgcluster`` starts; PGHOST/PGPORT),
``mysql`` (the private MariaDB server ``scripts/mariadb`` starts; DJANGO_JOBS_MYSQL_SOCKET) or
``pgbouncer`` (that PostgreSQL cluster through PgBouncer in transaction mode, ``scripts/pgbouncer``).

Worker subprocesses started by tests get ``DJANGO_JOBS_DB_NAME``: the test
database's real name, used as is (``DJANGO_JOBS_DB2_NAME``: that of ``jobs2``).

A second database, ``jobs2``, holds half the jobs of the ``several`` backend
(``OPTIONS['DATABASES']``, tests/test_several_databases.py).
"""

import os
import tempfile

import django

# Django's Tasks framework: django.tasks on Django 6, the django-tasks backport on Django 5.2.
tasks_module = "django.tasks" if django.VERSION >= (6, 0) else "django_tasks"

DB = os.environ.get("DJANGO_JOBS_TEST_DB", "sqlite")
EXISTING = os.environ.get("DJANGO_JOBS_DB_NAME")

if DB == "postgres":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": EXISTING or "django_jobs",
            "HOST": os.environ.get("PGHOST", "localhost"),
            "PORT": os.environ.get("PGPORT", "5432"),
            "USER": os.environ.get("PGUSER", "postgres"),
            "PASSWORD": os.environ.get("PGPASSWORD", ""),
        }
    }
elif DB == "sqlite":
    test_file = os.path.join(tempfile.gettempdir(), f"django_jobs_test_{os.getpid()}.sqlite3")
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": EXISTING or test_file,
            "TEST": {"NAME": test_file},
            "OPTIONS": {"timeout": 30, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL"},
        }
    }
elif DB == "mysql":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.mysql",
            "NAME": EXISTING or "django_jobs",
            "HOST": os.environ.get("DJANGO_JOBS_MYSQL_SOCKET", "127.0.0.1"),
            "PORT": os.environ.get("DJANGO_JOBS_MYSQLPORT", "3306"),
            "USER": os.environ.get("DJANGO_JOBS_MYSQL_USER", "root"),
            "PASSWORD": os.environ.get("DJANGO_JOBS_MYSQL_PASSWORD", ""),
            "OPTIONS": {
                "charset": "utf8mb4",
                # READ COMMITTED, as PostgreSQL: each statement sees what committed before it. Under
                # REPEATABLE READ (InnoDB's default) a worker's long-lived connection would keep reading
                # the snapshot of its transaction's first read, and InnoDB's gap locks make claims and
                # enqueues block each other.
                "isolation_level": "read committed",
                # Times are stored in UTC, and the columns' defaults (CURRENT_TIMESTAMP) read the session's zone.
                "init_command": "SET time_zone = '+00:00'",
            },
            "TEST": {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"},
        }
    }
elif DB == "pgbouncer":
    # Through the pooler: psycopg must never prepare statements (PgBouncer 1.18 cannot keep them in
    # transaction mode), nor Django keep a server-side cursor past a transaction. "direct" is the
    # same database without the pooler (a LISTEN_DATABASE for the tests that need one); it mirrors
    # "default", so the test database is created once, through the pooler (CREATE DATABASE runs in
    # autocommit: PgBouncer passes it on). tests/conftest.py ends the pooler's server connections
    # before the test database is dropped.
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": EXISTING or "django_jobs",
            "HOST": os.environ.get("DJANGO_JOBS_PGBOUNCERHOST", "127.0.0.1"),
            "PORT": os.environ.get("DJANGO_JOBS_PGBOUNCERPORT", "6432"),
            "USER": os.environ.get("PGUSER", "postgres"),
            "PASSWORD": os.environ.get("PGPASSWORD", ""),
            "OPTIONS": {"prepare_threshold": None},
            "DISABLE_SERVER_SIDE_CURSORS": True,
        },
        "direct": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": EXISTING or "django_jobs",
            "HOST": os.environ.get("PGHOST", "localhost"),
            "PORT": os.environ.get("PGPORT", "5432"),
            "USER": os.environ.get("PGUSER", "postgres"),
            "PASSWORD": os.environ.get("PGPASSWORD", ""),
            "TEST": {"MIRROR": "default"},
        },
    }
else:
    raise RuntimeError(f"DJANGO_JOBS_TEST_DB must be sqlite, postgres, mysql or pgbouncer, not {DB!r}")

# The second database of the "several" backend: another database of the same server, or another file.
EXISTING2 = os.environ.get("DJANGO_JOBS_DB2_NAME")
if DB in ("postgres", "mysql", "pgbouncer"):
    DATABASES["jobs2"] = {**DATABASES["default"], "NAME": EXISTING2 or "django_jobs2"}
else:
    test_file2 = os.path.join(tempfile.gettempdir(), f"django_jobs_test2_{os.getpid()}.sqlite3")
    DATABASES["jobs2"] = {**DATABASES["default"], "NAME": EXISTING2 or test_file2, "TEST": {"NAME": test_file2}}

SECRET_KEY = "tests-only"
USE_TZ = True
TIME_ZONE = "UTC"
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django_jobs",
    "tests.testapp",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "tests.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
TASKS = {
    "default": {
        "BACKEND": "django_jobs.backend.DatabaseBackend",
        "QUEUES": ["default", "emails", "reports"],
        "OPTIONS": {
            "POLL_INTERVAL": 0.1,
            "SCHEDULER_INTERVAL": 0.2,
            "LEASE_SECONDS": float(os.environ.get("DJANGO_JOBS_LEASE_SECONDS", "30")),
            "MAX_LOST_ATTEMPTS": int(os.environ.get("DJANGO_JOBS_MAX_LOST_ATTEMPTS", "3")),
            "BACKOFF": "tests.testapp.jobs.quick_backoff",
            "GRACE_PERIOD": 5,
            "KILL_GRACE": 1.0,
            "CHILD_MEMORY_LIMIT_MB": 1536,
            "CHILD_MAX_JOBS": int(os.environ["DJANGO_JOBS_CHILD_MAX_JOBS"])
            if "DJANGO_JOBS_CHILD_MAX_JOBS" in os.environ
            else None,
            "CHILD_MAX_RSS_MB": int(os.environ.get("DJANGO_JOBS_CHILD_MAX_RSS_MB", "1024")),
            "QUEUE_CONCURRENCY": {"reports": 2},
            "METRICS_TOKEN": "metrics-token-for-tests",
            # Through PgBouncer, a worker keeps no session state: it polls, and leads by a lease row.
            # DJANGO_JOBS_POOLED=1 makes workers on PostgreSQL do so too (tests/test_pooled.py).
            "POOLED": DB == "pgbouncer" or os.environ.get("DJANGO_JOBS_POOLED") == "1",
            # DJANGO_JOBS_LISTEN_DATABASE=direct (pgbouncer only): LISTEN and session locks bypass the pooler.
            "LISTEN_DATABASE": os.environ.get("DJANGO_JOBS_LISTEN_DATABASE"),
        },
    },
    "immediate": {"BACKEND": f"{tasks_module}.backends.immediate.ImmediateBackend"},
    "several": {
        "BACKEND": "django_jobs.backend.DatabaseBackend",
        "QUEUES": ["default"],
        "OPTIONS": {
            "DATABASES": ["default", "jobs2"],
            "POOLED": DB == "pgbouncer",
            "POLL_INTERVAL": 0.1,
            "SCHEDULER_INTERVAL": 0.2,
            "GRACE_PERIOD": 5,
        },
    },
}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"django_jobs": {"handlers": ["console"], "level": "INFO"}},
}

if os.environ.get("DJANGO_JOBS_TEST_SPANS"):
    import tests.otel_spans  # noqa: F401  # a worker subprocess's spans, appended to that file
