"""The catalogue of bad input: each gets a clear error, nothing half-written, and the worker carries on."""

import pytest
from django.db import connection

from django_jobs.exceptions import InvalidJobArguments
from django_jobs.models import Job, JobRun
from tests.conftest import drain
from tests.testapp import jobs

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(
    "args, kwargs, message",
    [
        ((object(), 1), {}, r"args\[0\] is a builtins.object"),
        ((float("inf"), 1), {}, r"args\[0\] is inf"),
        ((1,), {"b": float("nan")}, r"kwargs\['b'\] is nan"),
        (("a\x00b", 1), {}, r"args\[0\] contains a NUL character"),
        (({1: "x"}, 1), {}, r"args\[0\] has a key 1 that is not a string"),
        (("x" * 1_000_001, 1), {}, r"args take 1000008 bytes as JSON, more than the limit"),
    ],
)
def test_bad_arguments_are_refused_at_enqueue(args, kwargs, message):
    with pytest.raises(InvalidJobArguments, match=message):
        jobs.add.enqueue(*args, **kwargs)
    assert not Job.objects.exists()


def test_deeply_nested_data_is_refused_clearly():
    deep = []
    for _ in range(500):
        deep = [deep]
    with pytest.raises(InvalidJobArguments, match="nested more than 100 levels"):
        jobs.add.enqueue(deep, 1)
    assert not Job.objects.exists()


def test_unicode_round_trips():
    r = jobs.add.enqueue("héllo ", "wörld ☃ 😀")
    drain()
    assert Job.objects.get(pk=r.id).return_value == "héllo wörld ☃ 😀"


def test_corrupt_json_cannot_be_written_into_a_row_by_hand():
    """Both databases check JSON columns, so a hand-edited row cannot hold corrupt arguments."""
    from django.db import DatabaseError, transaction

    r = jobs.add.enqueue(1, 2)
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE django_jobs_job SET args = '[1, 2' WHERE id = %s", [r.id])
    drain()
    assert Job.objects.get(pk=r.id).return_value == 3


def test_args_of_the_wrong_json_type_fail_that_job_only():
    r = jobs.add.enqueue(1, 2)
    Job.objects.filter(pk=r.id).update(args={"not": "a list"})
    drain()
    run = JobRun.objects.get(job_id=r.id)
    assert "args must be a JSON array" in run.message


def test_an_exception_whose_str_raises_is_still_recorded():
    from tests.testapp import limited_jobs

    r = limited_jobs.raises_unprintable.enqueue()
    drain()
    run = JobRun.objects.get(job_id=r.id)
    assert run.exception_class_path == "tests.testapp.limited_jobs.Unprintable"
    assert run.message == "<str() of Unprintable raised RuntimeError>"
    assert "Traceback" in run.traceback
