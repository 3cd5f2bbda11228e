"""The system check that warns about a PostgreSQL database behind a transaction pooler set up inconsistently."""

import contextlib

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from django.test import override_settings

from django_jobs.checks import (
    LISTEN_ELSEWHERE,
    POOLED_CURSORS,
    POOLED_PREPARES,
    SESSIONS_DISAGREE,
    check_pooled_options,
)
from django_jobs.conf import Options
from django_jobs.db.sessions import Sessions

BACKEND = "django_jobs.backend.DatabaseBackend"


def postgres(name, port, cursors=False, **options):
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        "HOST": "db",
        "PORT": port,
        "OPTIONS": options,
        "DISABLE_SERVER_SIDE_CURSORS": not cursors,
    }


@pytest.fixture
def databases():
    """Adds PostgreSQL aliases (never connected to) by name: ``databases(pooled=postgres(...))``."""
    added = []

    def add(**aliases):
        for alias, settings_dict in aliases.items():
            connections.settings[alias] = connections.configure_settings({"default": {}, alias: settings_dict})[alias]
            added.append(alias)

    yield add
    for alias in added:
        with contextlib.suppress(AttributeError):  # no wrapper was made if nothing connected
            del connections[alias]
        del connections.settings[alias]


def warned(**backends):
    tasks = {alias: {"BACKEND": BACKEND, "OPTIONS": options} for alias, options in backends.items()}
    with override_settings(TASKS=tasks):
        return sorted(w.id for w in check_pooled_options())


def test_a_pooled_database_with_a_direct_listen_database_passes(databases):
    databases(pooled=postgres("jobs", 6432), direct=postgres("jobs", 5432))
    assert warned(default={"DATABASE": "pooled", "POOLED": True, "LISTEN_DATABASE": "direct"}) == []


def test_a_pooled_database_that_prepares_statements_is_warned_about(databases):
    databases(pooled=postgres("jobs", 6432, prepare_threshold=5))
    assert warned(default={"DATABASE": "pooled", "POOLED": True}) == [POOLED_PREPARES]


def test_server_side_binding_behind_a_pooler_is_warned_about(databases):
    databases(pooled=postgres("jobs", 6432, server_side_binding=True))
    assert warned(default={"DATABASE": "pooled", "POOLED": True}) == [POOLED_PREPARES]


def test_server_side_cursors_behind_a_pooler_are_warned_about(databases):
    databases(pooled=postgres("jobs", 6432, cursors=True))
    assert warned(default={"DATABASE": "pooled", "POOLED": True}) == [POOLED_CURSORS]


def test_server_side_cursors_without_a_pooler_are_left_alone(databases):
    databases(direct=postgres("jobs", 5432, cursors=True))
    assert warned(default={"DATABASE": "direct"}) == []


def test_prepared_statements_without_a_pooler_are_left_alone(databases):
    databases(direct=postgres("jobs", 5432, prepare_threshold=5))
    assert warned(default={"DATABASE": "direct"}) == []


def test_a_listen_database_naming_another_database_is_warned_about(databases):
    databases(pooled=postgres("jobs", 6432), direct=postgres("other", 5432))
    assert warned(default={"DATABASE": "pooled", "POOLED": True, "LISTEN_DATABASE": "direct"}) == [LISTEN_ELSEWHERE]


def test_two_backends_on_one_database_electing_leaders_differently_are_warned_about(databases):
    databases(pooled=postgres("jobs", 6432))
    assert warned(default={"DATABASE": "pooled", "POOLED": True}, reports={"DATABASE": "pooled", "POOLED": False}) == [
        SESSIONS_DISAGREE
    ]


def test_the_warning_names_both_backends(databases):
    databases(pooled=postgres("jobs", 6432))
    tasks = {
        "default": {"BACKEND": BACKEND, "OPTIONS": {"DATABASE": "pooled", "POOLED": True}},
        "reports": {"BACKEND": BACKEND, "OPTIONS": {"DATABASE": "pooled"}},
    }
    with override_settings(TASKS=tasks):
        (warning,) = check_pooled_options()
    assert "TASKS['default'] and TASKS['reports'] share database 'pooled'" in warning.msg


def test_an_unknown_listen_database_is_refused():
    with pytest.raises(ImproperlyConfigured, match=r"\['LISTEN_DATABASE'\] must be None or an alias of DATABASES"):
        Options.from_dict("default", {"LISTEN_DATABASE": "nowhere"})


def test_pooled_must_be_a_boolean():
    with pytest.raises(ImproperlyConfigured, match=r"\['POOLED'\] must be True or False, not 'yes'"):
        Options.from_dict("default", {"POOLED": "yes"})


# -- what the options mean --------------------------------------------------------------------------------


def test_a_pooled_database_keeps_no_session_state():
    assert Sessions(pooled=True).database("default") is None


def test_a_listen_database_keeps_the_session_state_behind_a_pooler():
    assert Sessions(pooled=True, listen_database="direct").database("default") == "direct"


def test_without_a_pooler_the_job_database_keeps_it():
    assert Sessions().database("default") == "default"


def test_the_leaders_lease_outlasts_the_workers_death_delay():
    assert Options.from_dict("default", {"POOLED": True, "WORKER_DEAD_AFTER": 7}).sessions.leader_lease == 7


def test_a_slow_poll_lengthens_the_leaders_lease():
    """An idle worker ticks once per poll: a lease shorter than that would pass to another at every poll."""
    assert Options.from_dict("default", {"POOLED": True, "POLL_INTERVAL": 10}).sessions.leader_lease == 50
