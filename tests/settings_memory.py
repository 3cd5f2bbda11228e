"""
The test settings with the test database Django gives a SQLite project by default: in memory
(no TEST NAME), shared by this process's connections and refusing a second writer at once
("database table is locked") instead of waiting. tests/in_memory_cases.py runs under them.
"""

from .settings import *  # noqa: F403

DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
TASKS = {alias: backend for alias, backend in TASKS.items() if alias != "several"}  # noqa: F405  # no jobs2 here
