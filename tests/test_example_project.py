"""
The example project (example_project/) works as its README says: its
migrations match its models, and its ``demo`` command places orders through
the order form, runs a worker beside it and checks every feature it shows
(signal and view enqueues, retries, uniqkey, the concurrency limit, the
recurring job, the admin). Runs on this run's database: a SQLite file, or a
database of its own in the PostgreSQL cluster or on the MariaDB server, given as DATABASE_URL.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parent.parent / "example_project"

pytestmark = pytest.mark.slow


@pytest.fixture
def database_url(tmp_path):
    if os.environ.get("DJANGO_JOBS_TEST_DB", "sqlite") == "sqlite":
        yield f"sqlite:///{tmp_path / 'example.sqlite3'}"
        return
    if os.environ["DJANGO_JOBS_TEST_DB"] == "mysql":
        yield from mysql_database_url()
        return
    import psycopg

    host, port, user = (
        os.environ.get("PGHOST", "localhost"),
        os.environ.get("PGPORT", "5432"),
        os.environ.get("PGUSER", "postgres"),
    )
    name = f"django_jobs_example_{os.getpid()}"
    with psycopg.connect(host=host, port=port, user=user, dbname="postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    # No host in the URL: libpq takes PGHOST (the cluster's socket directory) and PGPORT from the environment.
    yield f"postgres://{user}@/{name}"
    with psycopg.connect(host=host, port=port, user=user, dbname="postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def mysql_database_url():
    """A database of its own on the private MariaDB server (scripts/mariadb), dropped afterwards."""
    import MySQLdb

    socket = os.environ["DJANGO_JOBS_MYSQL_SOCKET"]
    name = f"django_jobs_example_{os.getpid()}"
    conn = MySQLdb.connect(unix_socket=socket, user="root")
    try:
        conn.cursor().execute(f"DROP DATABASE IF EXISTS {name}")
        conn.cursor().execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
        yield f"mysql://root@localhost/{name}?unix_socket={socket}&charset=utf8mb4"
        conn.cursor().execute(f"DROP DATABASE IF EXISTS {name}")
    finally:
        conn.close()


def manage(database_url, *args, timeout=120):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "example_project.settings", "DATABASE_URL": database_url}
    env.pop("DJANGO_JOBS_DB_NAME", None)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=EXAMPLE, env=env, capture_output=True, text=True, timeout=timeout
    )


def test_demo_checks_pass(database_url):
    migrate = manage(database_url, "migrate", "--verbosity", "0")
    assert migrate.returncode == 0, migrate.stderr
    missing = manage(database_url, "makemigrations", "--check", "--dry-run", "shop")
    assert missing.returncode == 0, f"shop's models changed without a migration:\n{missing.stdout}"

    demo = manage(database_url, "demo")
    output = demo.stdout + demo.stderr
    assert demo.returncode == 0, output
    assert "All checks passed." in output
    assert "[FAILED]" not in output
    for feature in ("post_save signal", "retry", "uniqkey", "one at a time", "recurring", "admin"):
        assert feature in output, f"the demo no longer checks {feature!r}:\n{output}"
