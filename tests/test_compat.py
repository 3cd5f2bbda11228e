"""django_jobs.compat: Django's Tasks framework on Django 6, and the django-tasks backport on Django 5.2."""

import logging
import subprocess
import sys

import django
import pytest
from django.test import override_settings

import django_jobs
from django_jobs.backend import DatabaseBackend
from django_jobs.compat import TASKS_LOGGER, TASKS_MODULE, task_backends
from tests.conftest import ROOT

WITHOUT_TASKS = """
import sys

import django

django.VERSION = (5, 2, 0, "final", 0)  # a Django without django.tasks
sys.modules["django_tasks"] = None  # and no backport: importing it raises ImportError
try:
    import django_jobs.compat
except Exception as e:
    print(type(e).__name__, e)
"""


def test_without_tasks_framework_the_error_names_the_fix():
    out = subprocess.run(
        [sys.executable, "-c", WITHOUT_TASKS], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert out.startswith("ImproperlyConfigured ")
    assert 'pip install "django-jobs-db[django52]"' in out


def test_the_framework_in_use_is_the_one_this_django_has():
    expected = "django.tasks" if django.VERSION >= (6, 0) else "django_tasks"
    assert expected == TASKS_MODULE


def test_changing_tasks_settings_rebuilds_the_backends():
    """The framework's setting_changed receiver is connected (the backport connects it only in its AppConfig)."""
    with override_settings(TASKS={"default": {"BACKEND": f"{TASKS_MODULE}.backends.dummy.DummyBackend"}}):
        assert type(task_backends["default"]).__name__ == "DummyBackend"
    assert isinstance(task_backends["default"], DatabaseBackend)


@pytest.mark.django_db(transaction=True)
def test_a_failed_task_is_logged_on_the_frameworks_logger(caplog):
    with caplog.at_level(logging.ERROR, logger=TASKS_LOGGER):
        django_jobs.enqueue_and_run("tests.testapp.jobs.boom", max_attempts=1)
    assert [(r.name, r.levelno) for r in caplog.records if r.name == TASKS_LOGGER] == [(TASKS_LOGGER, logging.ERROR)]
