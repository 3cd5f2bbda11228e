import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection, connections

from django_jobs.compat import task_backends

ROOT = Path(__file__).resolve().parent.parent

#: A connection to the test database that keeps its session (LISTEN, session locks): behind
#: PgBouncer in transaction mode (DJANGO_JOBS_TEST_DB=pgbouncer), "default" does not, "direct" does.
DIRECT = "direct" if "direct" in connections.databases else "default"


@pytest.fixture(autouse=True)
def fresh_function_map():
    """Rolled-back tests can give a FuncMap id to another path: forget cached ids between tests."""
    from django_jobs.queue.functions import clear_caches

    clear_caches()


@pytest.fixture
def backend():
    return task_backends["default"]


@pytest.fixture
def worker_env():
    """Environment for a worker subprocess that uses this test's database."""
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="tests.settings",
        PYTHONPATH=str(ROOT),
        DJANGO_JOBS_DB_NAME=str(connection.settings_dict["NAME"]),
        # The second database too: Django's MySQL checks connect to every database at start-up.
        DJANGO_JOBS_DB2_NAME=str(connections["jobs2"].settings_dict["NAME"]),
        PYTHONUNBUFFERED="1",
    )
    return env


class Workers:
    """Starts ``manage.py runworker`` subprocesses and cleans them up."""

    def __init__(self, env, tmp_path):
        self.env = env
        self.tmp_path = tmp_path
        self.procs = []

    def command(self, *args):
        return [sys.executable, "-m", "django", "runworker", *args]

    def burst(self, *args, timeout=120, env=None):
        return subprocess.run(
            self.command("--burst", *args),
            env={**self.env, **(env or {})},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def start(self, *args, env=None):
        log = open(self.tmp_path / f"worker-{len(self.procs)}.log", "w+")
        proc = subprocess.Popen(
            self.command(*args), env={**self.env, **(env or {})}, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
        )
        proc.log = log
        self.procs.append(proc)
        return proc

    @staticmethod
    def output(proc):
        proc.log.flush()
        proc.log.seek(0)
        return proc.log.read()

    def stop_all(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait(10)
            proc.log.close()


@pytest.fixture
def workers(worker_env, tmp_path):
    w = Workers(worker_env, tmp_path)
    yield w
    w.stop_all()


def wait_until(predicate, timeout=30.0, interval=0.05, message="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"Timed out after {timeout}s waiting for {message}")


def drain(rounds=1, **kwargs):
    """Run in-process burst workers over this test database; between rounds, retries get time to come due."""
    from django_jobs.compat import task_backends
    from django_jobs.worker import Worker

    backend = task_backends["default"]
    kwargs.setdefault("concurrency", 2)
    for i in range(rounds):
        if i:
            time.sleep(0.1)
        Worker(using=backend.database, options=backend.job_options, burst=True, **kwargs).run()


if connection.settings_dict.get("PORT") == os.environ.get("DJANGO_JOBS_PGBOUNCERPORT"):
    # Behind PgBouncer (DJANGO_JOBS_TEST_DB=pgbouncer) the pooler keeps its server connections to the
    # test database open, and PostgreSQL refuses to drop a database in use: end them before the test
    # database is created (dropping the one a killed run left) and before it is dropped.

    TEST_DATABASE = connection.creation._get_test_db_name()
    #: Read now: a test may change the connection settings, and teardown comes after them all.
    DIRECT_SETTINGS = dict(connections.databases["direct"])

    def end_pooled_sessions():
        import psycopg

        settings = DIRECT_SETTINGS
        with psycopg.connect(
            host=settings["HOST"], port=settings["PORT"], user=settings["USER"], dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                [TEST_DATABASE],
            )

    @pytest.fixture(scope="session")
    def django_db_modify_db_settings(django_db_modify_db_settings):
        end_pooled_sessions()

    @pytest.fixture(scope="session")
    def django_db_setup(django_db_setup):
        yield
        end_pooled_sessions()
