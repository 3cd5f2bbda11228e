"""
A worker started in a test on Django's default SQLite test database (in memory, shared by the
process's connections, which SQLite fails at once instead of letting them wait for each other)
runs every job: `runworker --burst` in a TransactionTestCase, as docs/testing.md shows.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(
    os.environ.get("DJANGO_JOBS_TEST_DB", "sqlite") != "sqlite", reason="an in-memory database is SQLite's"
)


@pytest.fixture(scope="module")
def django_test_run():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings_memory"}
    env.pop("DJANGO_JOBS_DB_NAME", None)
    return subprocess.run(
        [sys.executable, "-m", "django", "test", "tests.in_memory_cases", "-v", "2"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_database_is_in_memory(django_test_run):
    assert "memorydb_default" in django_test_run.stderr, django_test_run.stderr


def test_django_tests_pass(django_test_run):
    assert django_test_run.returncode == 0, django_test_run.stderr[-4000:]
