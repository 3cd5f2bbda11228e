"""
Every duration and timestamp an input can set is finite, non-negative where it
must be, and within a stated maximum (django_jobs.limits): refused at enqueue
with a clear error and nothing written, or, where a running job sets it (a
backoff, a Decline), the attempt fails with the error instead of storing a
timestamp nobody can read back or declining for ever.
"""

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from django_jobs.exceptions import InvalidJobArguments
from django_jobs.models import Job, JobRun
from django_jobs.states import JobState
from tests.conftest import drain
from tests.testapp import jobs

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"expires_at": datetime(2030, 1, 1)}, "expires_at must be an aware datetime"),
        ({"expires_in": 1e15}, "expires_in must be at most"),
        ({"expires_in": float("nan")}, "expires_in must be a finite number"),
        ({"keep_for": timedelta(days=10_000_000)}, "keep_for must be at most"),
        ({"keep_for": timedelta(seconds=-1)}, "keep_for must not be negative"),
        ({"max_work_duration": timedelta(seconds=-5)}, "max_work_duration must not be negative"),
        ({"max_work_duration": 1e30}, "max_work_duration must be at most"),
        ({"max_attempts": 10**12}, "max_attempts must be between 1 and 2147483647"),
    ],
    ids=lambda value: str(value)[:40],
)
def test_an_unbounded_option_is_refused_at_enqueue(options, message):
    with pytest.raises(InvalidJobArguments, match=message):
        jobs.add.using(**options).enqueue(1, 2)
    assert not Job.objects.exists()


@pytest.mark.parametrize("priority", ["5", float("nan")])
def test_a_priority_that_is_not_an_integer_is_refused(priority):
    with pytest.raises(InvalidJobArguments, match="priority must be an integer"):
        jobs.add.using(priority=priority).enqueue(1, 2)


@pytest.mark.parametrize("run_after", [-100, 1e12])
def test_a_decline_out_of_bounds_fails_the_attempt(run_after):
    result = jobs.declines_with.enqueue(run_after)
    drain()
    assert Job.objects.get(pk=result.id).state == JobState.FAILED


def test_a_decline_out_of_bounds_says_why():
    result = jobs.declines_with.enqueue(-100)
    drain()
    assert "Decline(run_after=...) must be >= 0 seconds" in JobRun.objects.get(job_id=result.id).message


@pytest.mark.parametrize("delay", ["1e15", "nan", "-1"])
def test_a_backoff_out_of_bounds_ends_the_retries(delay):
    result = jobs.fails_with_backoff.enqueue(delay=delay)
    drain()
    job = Job.objects.get(pk=result.id)
    assert (job.state, job.runs.count()) == (JobState.FAILED, 1)


def test_a_job_listing_far_timestamps_stays_readable():
    jobs.add.using(keep_for=timedelta(days=36_000), expires_in=timedelta(days=36_000)).enqueue(1, 2)
    drain()
    assert Job.objects.get().keep_until > timezone.now()
