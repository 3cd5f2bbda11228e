"""
A backend whose jobs live in several databases (OPTIONS['DATABASES']): the ``several`` backend of
tests/settings.py spreads them over ``default`` and ``jobs2``. On SQLite and PostgreSQL.
"""

import copy
import logging
import re
import signal
import time

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connections, transaction

import django_jobs
from django_jobs import call, chain
from django_jobs.backend import databases as placing
from django_jobs.compat import task_backends
from django_jobs.conf import Options
from django_jobs.exceptions import DatabaseUnavailable, InvalidJobArguments, InvalidJobType, JobNotFound
from django_jobs.models import Job
from django_jobs.recurring import Recurring
from django_jobs.states import JobState
from django_jobs.worker_set import WorkerSet
from tests.conftest import wait_until
from tests.testapp import jobs, several

BOTH = ["default", "jobs2"]
pytestmark = pytest.mark.django_db(databases=BOTH)


@pytest.fixture
def spread():
    return task_backends["several"]


def jobs_in(alias):
    return Job.objects.using(alias).filter(backend="several")


def key_at_home_in(backend, alias, kind="uniqkey"):
    """A key of ``kind`` that places its job in database ``alias``."""
    return next(f"k{i}" for i in range(1000) if backend.placement.home_of(f"{kind}:k{i}") == alias)


def drain_both(backend):
    WorkerSet(databases=backend.databases, options=backend.job_options, burst=True, backend="several").run()


# -- settings ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "complaint"),
    [
        ({"DATABASES": []}, "non-empty list"),
        ({"DATABASES": "default"}, "non-empty list"),
        ({"DATABASES": ["default", "nowhere"]}, "['nowhere'], not aliases of settings.DATABASES"),
        ({"DATABASES": ["default", "default"]}, "['default'] more than once"),
        ({"DATABASES": ["default", "jobs2"], "DATABASE": "default"}, "exclude each other"),
    ],
)
def test_bad_databases_are_refused_by_name(options, complaint):
    with pytest.raises(
        ImproperlyConfigured, match=rf"TASKS\['x'\]\['OPTIONS'\]\['DATABASES?'\].*{re.escape(complaint)}"
    ):
        Options.from_dict("x", options)


def test_a_backend_with_one_database_keeps_plain_result_ids():
    assert jobs.add.enqueue(1, 2).id.isdigit()


def test_the_backend_lists_its_databases(spread):
    assert spread.databases == BOTH


# -- enqueue ----------------------------------------------------------------------------------------


def test_jobs_are_spread_over_both_databases(spread):
    for i in range(4):
        several.add.enqueue(i, 1)
    assert [jobs_in(alias).count() for alias in BOTH] == [2, 2]


def test_a_result_id_names_the_database_of_its_job(spread):
    results = [several.add.enqueue(i, 1) for i in range(2)]
    assert sorted(r.id.split(":")[0] for r in results) == BOTH


def test_a_result_is_found_by_its_id_in_either_database(spread):
    results = [several.add.enqueue(i, 1) for i in range(2)]
    assert [spread.get_result(r.id).args for r in results] == [[0, 1], [1, 1]]


def test_a_result_id_without_a_known_database_is_not_found(spread):
    with pytest.raises(JobNotFound, match="'database:job id'"):
        spread.get_result("1")


def test_jobs_with_one_uniqkey_go_to_one_database_and_stay_unique(spread):
    results = [several.add.using(uniqkey="the-one").enqueue(i, 1) for i in range(4)]
    assert [r.created for r in results] == [True, False, False, False]


def test_a_uniqkey_places_its_job_in_the_database_it_hashes_to(spread):
    key = key_at_home_in(spread, "jobs2")
    several.add.using(uniqkey=key).enqueue(1, 1)
    assert jobs_in("jobs2").filter(uniqkey=key).exists()


def test_a_batch_goes_to_one_database(spread):
    results = spread.enqueue_many([(several.add, (i, i), {}) for i in range(4)])
    assert len({r.id.split(":")[0] for r in results}) == 1


def test_a_batch_whose_keys_need_two_databases_is_refused_and_writes_nothing(spread):
    keys = [key_at_home_in(spread, alias) for alias in BOTH]
    with pytest.raises(InvalidJobArguments, match="Enqueue them separately"):
        spread.enqueue_many([(several.add.using(uniqkey=key), (1, 1), {}) for key in keys])
    assert sum(jobs_in(alias).count() for alias in BOTH) == 0


def test_a_job_goes_to_the_database_of_the_job_it_depends_on(spread):
    first = [several.add.enqueue(i, 1) for i in range(2)][1]
    then = several.add.using(depends_on=[first]).enqueue(2, 2)
    assert then.id.split(":")[0] == first.id.split(":")[0]


def test_a_workflow_is_written_to_one_database(spread):
    flow = chain(call(several.add, 1, 2), call(several.add, 3, 4)).enqueue(backend="several")
    assert {r.id.split(":")[0] for r in flow.results} == {flow.id.split(":")[0]}


def test_a_workflow_is_cancelled_by_its_id(spread):
    flow = chain(call(several.add, 1, 2), call(several.add, 3, 4)).enqueue(backend="several")
    assert django_jobs.cancel_workflow(flow.id, backend="several") == 2


def test_a_job_is_cancelled_by_its_result_id(spread):
    result = [several.add.enqueue(i, 1) for i in range(2)][1]
    alias, job_id = result.id.split(":")
    django_jobs.cancel(result.id, backend="several")
    assert jobs_in(alias).get(pk=job_id).state == JobState.CANCELLED


def test_enqueue_and_run_runs_the_job_in_the_database_it_went_to(spread):
    result = django_jobs.enqueue_and_run("tests.testapp.several.where", backend="several")
    assert result.return_value == result.id


def test_a_database_without_django_jobs_tables_is_named_at_first_use(spread):
    databases = placing.Databases("several", BOTH)
    with connections["jobs2"].cursor() as cursor:
        cursor.execute(f"ALTER TABLE {Job._meta.db_table} RENAME TO moved_away")
    try:
        with pytest.raises(ImproperlyConfigured, match=r"'jobs2'.*has no django_jobs tables.*migrate --database jobs2"):
            databases.write(lambda alias: alias, home="jobs2")
    finally:
        # MySQL commits DDL at once: the test's rollback would not bring the table back.
        with connections["jobs2"].cursor() as cursor:
            cursor.execute(f"ALTER TABLE moved_away RENAME TO {Job._meta.db_table}")


# -- workers ----------------------------------------------------------------------------------------


@pytest.mark.django_db(databases=BOTH, transaction=True)
def test_a_worker_drains_both_databases(spread):
    results = [several.add.enqueue(i, 1) for i in range(6)]
    drain_both(spread)
    assert {spread.get_result(r.id).status.name for r in results} == {"SUCCESSFUL"}


@pytest.mark.django_db(databases=BOTH, transaction=True)
def test_a_job_reads_its_own_result_id_with_its_database(spread):
    results = [several.where.enqueue() for _ in range(2)]
    drain_both(spread)
    assert [spread.get_result(r.id).return_value for r in results] == [r.id for r in results]


@pytest.mark.django_db(databases=BOTH, transaction=True)
def test_runworker_drains_both_databases(spread, workers):
    results = [several.add.enqueue(i, 1) for i in range(6)]
    env = {"DJANGO_JOBS_DB2_NAME": str(connections["jobs2"].settings_dict["NAME"])}
    done = workers.burst("--backend", "several", env=env)
    assert done.returncode == 0, done.stderr
    assert {spread.get_result(r.id).status.name for r in results} == {"SUCCESSFUL"}


@pytest.mark.parametrize(("alias", "entries"), [("default", ["hourly"]), ("jobs2", [])])
def test_recurring_jobs_are_enqueued_from_the_first_database_only(settings, alias, entries):
    tasks = copy.deepcopy(settings.TASKS)
    tasks["several"]["OPTIONS"]["RECURRING"] = {"hourly": {"task": "tests.testapp.several.where", "cron": "0 * * * *"}}
    settings.TASKS = tasks
    assert [entry.name for entry in Recurring(alias).load()] == entries


@pytest.mark.django_db(databases=BOTH, transaction=True)
def test_runworker_with_processes_drains_both_databases(spread, workers):
    results = [several.where.enqueue() for _ in range(4)]
    env = {"DJANGO_JOBS_DB2_NAME": str(connections["jobs2"].settings_dict["NAME"])}
    done = workers.burst("--backend", "several", "--processes", env=env)
    assert done.returncode == 0, done.stderr
    assert [spread.get_result(r.id).return_value for r in results] == [r.id for r in results]


@pytest.mark.django_db(databases=BOTH, transaction=True)
def test_sigterm_stops_the_workers_of_every_database(spread, workers):
    env = {"DJANGO_JOBS_DB2_NAME": str(connections["jobs2"].settings_dict["NAME"])}
    proc = workers.start("--backend", "several", env=env)
    wait_until(lambda: workers.output(proc).count("took scheduler leadership") == 2, message="both workers up")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0


@pytest.mark.django_db(databases=BOTH, transaction=True)
def test_a_replacement_goes_to_the_database_of_the_job_it_replaces(spread):
    several.add.enqueue(0, 0)  # the next job goes to jobs2
    replaced = several.replaced.enqueue()
    drain_both(spread)
    assert (
        jobs_in(replaced.id.split(":")[0]).filter(func__path="tests.testapp.several.where", state="succeeded").count()
        == 1
    )


# -- a database that cannot be reached ----------------------------------------------------------------


@pytest.fixture
def jobs2_unreachable(spread, monkeypatch, tmp_path):
    """``jobs2`` refuses connections (a path or port nothing answers at) until the test restores it."""
    settings = connections["jobs2"].settings_dict
    saved = dict(settings)
    if connections["jobs2"].vendor == "sqlite":
        settings["NAME"] = str(tmp_path / "missing-directory" / "jobs.sqlite3")
    else:  # TCP to a port nothing listens on (HOST may be a socket, whose path ignores PORT)
        settings["HOST"], settings["PORT"] = "127.0.0.1", "1"
    connections["jobs2"].close()
    monkeypatch.setattr(placing, "FIRST_BACKOFF", 0.2)

    def restore():
        connections["jobs2"].close()
        settings.clear()
        settings.update(saved)

    yield restore
    restore()
    spread.placement._down.clear()


@pytest.mark.django_db(databases=BOTH, transaction=True)
def test_enqueues_go_to_the_other_database_while_one_is_unreachable(spread, jobs2_unreachable):
    results = [several.add.enqueue(i, 1) for i in range(4)]
    assert {r.id.split(":")[0] for r in results} == {"default"}


@pytest.mark.django_db(databases=BOTH, transaction=True)
def test_an_unreachable_database_is_logged(spread, jobs2_unreachable, caplog):
    with caplog.at_level(logging.WARNING, logger="django_jobs.enqueue"):
        for i in range(2):
            several.add.enqueue(i, 1)
    assert "Database 'jobs2' of backend 'several' cannot be reached" in caplog.text


@pytest.mark.django_db(databases=BOTH, transaction=True)
def test_a_keyed_job_whose_database_is_unreachable_raises(spread, jobs2_unreachable):
    key = key_at_home_in(spread, "jobs2")
    with pytest.raises(DatabaseUnavailable, match=r"(?s)'jobs2'.*cannot go elsewhere"):
        several.add.using(uniqkey=key).enqueue(1, 1)


@pytest.mark.django_db(databases=BOTH, transaction=True)
def test_a_database_back_takes_jobs_again_after_its_back_off(spread, jobs2_unreachable):
    for i in range(2):
        several.add.enqueue(i, 1)
    jobs2_unreachable()
    time.sleep(0.3)  # past its back-off
    results = [several.add.enqueue(i, 1) for i in range(2)]
    assert sorted(r.id.split(":")[0] for r in results) == BOTH


@pytest.mark.django_db(databases=BOTH, transaction=True)
def test_nothing_is_lost_while_a_database_is_unreachable(spread, jobs2_unreachable):
    results = [several.add.enqueue(i, 1) for i in range(5)]
    jobs2_unreachable()
    drain_both(spread)
    assert [spread.get_result(r.id).status.name for r in results] == ["SUCCESSFUL"] * 5


def test_an_atomic_job_is_refused_on_a_backend_with_several_databases():
    with pytest.raises(InvalidJobType, match="spreads its jobs over databases"):
        django_jobs.job(several.add.func, backend="several", atomic=True)


def test_a_bare_job_id_in_depends_on_is_refused(spread):
    first = several.add.enqueue(1, 1)
    with pytest.raises(InvalidJobArguments, match="a job id alone does not say which database holds it"):
        several.add.using(depends_on=[int(first.id.split(":")[1])]).enqueue(2, 2)


@pytest.mark.django_db(databases=BOTH, transaction=True)
def test_a_job_enqueued_in_a_transaction_goes_to_its_database_and_commits_with_it(spread):
    with transaction.atomic(using="jobs2"):
        results = [several.add.enqueue(i, 1) for i in range(2)]
    assert {r.id.split(":")[0] for r in results} == {"jobs2"}
