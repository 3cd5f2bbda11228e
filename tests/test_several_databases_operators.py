"""``manage.py jobs`` and the public API on a backend with several databases (the ``several`` backend)."""

import json

import pytest

import django_jobs
from django_jobs import queue
from django_jobs.models import Job
from django_jobs.states import JobState
from tests.test_jobs_command import ok, run
from tests.testapp import several

BOTH = ["default", "jobs2"]
pytestmark = pytest.mark.django_db(databases=BOTH)


def one_in_each():
    """Two results, one in each database (the backend takes them in turn)."""
    return sorted((several.add.enqueue(i, 1) for i in range(2)), key=lambda r: r.id)


def test_list_shows_each_database_under_its_name():
    one_in_each()
    out = ok("list", "--backend", "several")
    assert [line for line in out.splitlines() if line.startswith("==")] == [
        "== database default ==",
        "== database jobs2 ==",
    ]


def test_list_shows_result_ids():
    results = one_in_each()
    out = ok("list", "--backend", "several")
    assert [r.id in out for r in results] == [True, True]


def test_list_as_json_is_one_object_keyed_by_database():
    one_in_each()
    listed = json.loads(ok("list", "--backend", "several", "--json"))
    assert {alias: len(rows) for alias, rows in listed.items()} == {"default": 1, "jobs2": 1}


def test_database_picks_one_database():
    one_in_each()
    listed = json.loads(ok("list", "--backend", "several", "--database", "jobs2", "--json"))
    assert len(listed) == 1


def test_an_unknown_database_is_refused_by_name():
    code, _out, err = run("list", "--backend", "several", "--database", "nowhere")
    assert (code, "--database 'nowhere' is not a database of backend 'several'" in err) == (3, True)


def test_show_finds_a_job_by_its_result_id():
    result = one_in_each()[1]
    assert ok("show", "--backend", "several", result.id).startswith(f"Job {result.id.split(':')[1]}:")


def test_cancel_takes_result_ids_of_either_database():
    results = one_in_each()
    ok("cancel", "--backend", "several", *(r.id for r in results))
    states = {Job.objects.using(r.id.split(":")[0]).get(pk=r.id.split(":")[1]).state for r in results}
    assert states == {JobState.CANCELLED}


def test_enqueue_prints_the_result_id():
    out = json.loads(ok("enqueue", "--backend", "several", "tests.testapp.several.add", "--args", "[1, 2]", "--json"))
    assert out["state"] == JobState.READY and out["id"].split(":")[0] in BOTH


def test_pause_pauses_the_queue_in_every_database():
    django_jobs.pause("default", backend="several")
    assert ["default" in queue.paused_queues(using=alias) for alias in BOTH] == [True, True]


def test_the_jobs_logs_are_read_by_result_id():
    result = one_in_each()[1]
    assert django_jobs.logs(result.id, backend="several") == []
