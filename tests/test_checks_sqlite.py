"""The system check that warns about a SQLite database set up for one writer at a time."""

import contextlib

import pytest
from django.db import connections
from django.test import override_settings

from django_jobs.checks import SQLITE_TIMEOUT, SQLITE_TRANSACTION_MODE, check_sqlite_options

GOOD = {"timeout": 20, "transaction_mode": "IMMEDIATE"}


@pytest.fixture
def jobs_in_sqlite():
    """A SQLite alias 'jobsdb' (never connected to) holding a django_jobs backend's jobs; yields an OPTIONS setter."""
    connections.settings["jobsdb"] = connections.configure_settings(
        {"default": {}, "jobsdb": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
    )["jobsdb"]
    tasks = {"default": {"BACKEND": "django_jobs.backend.DatabaseBackend", "OPTIONS": {"DATABASE": "jobsdb"}}}
    with override_settings(TASKS=tasks):
        yield lambda options: connections.settings["jobsdb"].__setitem__("OPTIONS", options)
    with contextlib.suppress(AttributeError):  # no wrapper was made if the check never looked
        del connections["jobsdb"]
    del connections.settings["jobsdb"]


def ids(options, set_options):
    set_options(options)
    return sorted(w.id for w in check_sqlite_options() if w.obj == "jobsdb")


def test_a_timeout_and_immediate_transactions_pass(jobs_in_sqlite):
    assert ids(GOOD, jobs_in_sqlite) == []


def test_lowercase_immediate_passes(jobs_in_sqlite):
    assert ids({**GOOD, "transaction_mode": "immediate"}, jobs_in_sqlite) == []


@pytest.mark.parametrize("timeout", [None, 0, 1, "20"])
def test_no_timeout_or_a_short_one_is_warned_about(jobs_in_sqlite, timeout):
    options = {**GOOD, "timeout": timeout} if timeout is not None else {"transaction_mode": "IMMEDIATE"}
    assert ids(options, jobs_in_sqlite) == [SQLITE_TIMEOUT]


@pytest.mark.parametrize("mode", [None, "DEFERRED", "EXCLUSIVE"])
def test_transactions_that_are_not_immediate_are_warned_about(jobs_in_sqlite, mode):
    options = {**GOOD, "transaction_mode": mode} if mode is not None else {"timeout": 20}
    assert ids(options, jobs_in_sqlite) == [SQLITE_TRANSACTION_MODE]


def test_the_warning_says_why(jobs_in_sqlite):
    jobs_in_sqlite({"timeout": 20})
    (warning,) = [w for w in check_sqlite_options() if w.obj == "jobsdb"]
    assert "cannot wait for the write lock held by a worker" in warning.msg
    assert "transaction_mode'] = 'IMMEDIATE'" in warning.hint


def test_a_sqlite_database_no_backend_uses_is_left_alone(jobs_in_sqlite):
    jobs_in_sqlite({})
    with override_settings(TASKS={"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}):
        assert check_sqlite_options() == []


def test_each_database_of_a_backend_with_several_is_checked(jobs_in_sqlite):
    jobs_in_sqlite({"timeout": 20})
    tasks = {
        "default": {"BACKEND": "django_jobs.backend.DatabaseBackend", "OPTIONS": {"DATABASES": ["default", "jobsdb"]}}
    }
    with override_settings(TASKS=tasks):
        assert sorted(w.id for w in check_sqlite_options() if w.obj == "jobsdb") == [SQLITE_TRANSACTION_MODE]
