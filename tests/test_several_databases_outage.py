"""
The proof of OPTIONS['DATABASES'] (issue 15): with two PostgreSQL databases, one made unreachable while a
real worker process runs, enqueues go on into the other, nothing is lost, the worker drains the other, and it
takes up the first again when it is back.
"""

import pytest
from django.db import OperationalError, connections

from django_jobs.compat import task_backends
from django_jobs.models import Job
from django_jobs.states import JobState
from tests.conftest import wait_until
from tests.testapp import several

BOTH = ["default", "jobs2"]
pytestmark = [
    pytest.mark.django_db(databases=BOTH, transaction=True),
    pytest.mark.slow,
    pytest.mark.skipif(
        connections["default"].vendor != "postgresql", reason="PostgreSQL: a database refusing connections"
    ),
    pytest.mark.skipif(
        "direct" in connections.databases,  # DJANGO_JOBS_TEST_DB=pgbouncer
        reason="through PgBouncer, its own back-off after failed server logins decides when the database answers "
        "again; the outage is proven against PostgreSQL directly",
    ),
]


def allow_connections(name, allowed):
    """Let ``name`` be connected to, or refuse new connections and end those it has (as an outage would)."""
    with connections["default"].cursor() as cursor:
        cursor.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {"true" if allowed else "false"}')
        if allowed:  # this process's connection to it was ended: the next use connects anew
            for alias in connections:
                if connections[alias].settings_dict["NAME"] == name:
                    connections[alias].close()
        else:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                [name],
            )


def spread_over(results):
    return {alias: [r.id.split(":")[0] for r in results].count(alias) for alias in BOTH}


def answers(alias):
    connections[alias].close()
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT 1")
    except OperationalError:
        return False
    return True


def succeeded(backend, results):
    return all(backend.get_result(r.id).status.name == "SUCCESSFUL" for r in results)


@pytest.fixture
def jobs2():
    name = connections["jobs2"].settings_dict["NAME"]
    yield name
    allow_connections(name, True)
    connections["jobs2"].close()


def test_jobs_go_on_into_one_database_while_the_other_is_down_and_none_is_lost(workers, jobs2):
    backend = task_backends["several"]
    proc = workers.start("--backend", "several", env={"DJANGO_JOBS_DB2_NAME": jobs2})
    before = [several.add.enqueue(i, 1) for i in range(6)]
    wait_until(lambda: succeeded(backend, before), message="the jobs of both databases done")

    allow_connections(jobs2, False)
    during = [several.add.enqueue(i, 2) for i in range(6)]
    assert {r.id.split(":")[0] for r in during} == {"default"}
    wait_until(lambda: succeeded(backend, during), message="the worker draining default while jobs2 is down")

    allow_connections(jobs2, True)
    wait_until(lambda: answers("jobs2"), message="jobs2 answering again")  # through PgBouncer, not at once
    key = next(f"k{i}" for i in range(1000) if backend.placement.home_of(f"uniqkey:k{i}") == "jobs2")
    after = several.add.using(uniqkey=key).enqueue(1, 3)
    wait_until(lambda: succeeded(backend, [after]), message="the worker taking up jobs2 again")

    assert (proc.poll(), spread_over(before)) == (None, {"default": 3, "jobs2": 3})


def test_no_job_is_lost_over_an_outage_of_one_database(workers, jobs2):
    backend = task_backends["several"]
    workers.start("--backend", "several", env={"DJANGO_JOBS_DB2_NAME": jobs2})
    results = [several.add.enqueue(i, 1) for i in range(4)]
    allow_connections(jobs2, False)
    results += [several.add.enqueue(i, 2) for i in range(4)]
    allow_connections(jobs2, True)
    wait_until(lambda: succeeded(backend, results), message="every job done")
    finished = sum(
        Job.objects.using(alias).filter(backend="several", state=JobState.SUCCEEDED).count() for alias in BOTH
    )
    assert finished == len(results)
