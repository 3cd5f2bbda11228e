"""
Pick-up latency and run time per queue and per task (``django_jobs.timings``),
on the dashboard and in ``dashboard/data/?timings=1``: the same figures on
SQLite (counted in Python) and PostgreSQL (counted by the database).
"""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from django_jobs import timings
from django_jobs.states import JobState
from tests.factories import FuncMapFactory, JobFactory
from tests.test_admin import staff_client

pytestmark = pytest.mark.django_db


def finished(
    latency, run_time, *, queue_name="emails", path="tests.testapp.jobs.add", state=JobState.SUCCEEDED, ago=60
):
    """A job that finished ``ago`` seconds ago, after waiting ``latency`` seconds and running ``run_time``."""
    end = timezone.now() - timedelta(seconds=ago)
    started = end - timedelta(seconds=run_time)
    return JobFactory(
        func=FuncMapFactory(path=path),
        queue_name=queue_name,
        state=state,
        run_after=started - timedelta(seconds=latency),
        started_at=started,
        last_attempted_at=started,
        finished_at=end,
        attempts=1,
        max_attempts=1,
        attempts_left=0,
    )


def since(hours=1):
    return timezone.now() - timedelta(hours=hours)


def by_name(found):
    return {t.name: t for t in found}


# -- the histogram arithmetic ----------------------------------------------------------------------


def test_a_bucket_stands_for_a_duration_within_six_percent():
    assert timings.middle_of(timings.bucket_of(2.0)) == pytest.approx(2.0, rel=0.06)


def test_durations_under_a_millisecond_count_as_one():
    assert timings.middle_of(timings.bucket_of(-3.0)) == timings.SHORTEST


def test_the_percentile_of_a_histogram_is_the_bucket_its_rank_lands_in():
    histogram = {timings.bucket_of(1.0): 94, timings.bucket_of(10.0): 6}
    assert timings.percentile(histogram, 0.95) == timings.middle_of(timings.bucket_of(10.0))


def test_an_empty_histogram_has_no_percentile():
    assert timings.percentile({}, 0.5) is None


# -- over jobs --------------------------------------------------------------------------------------


@pytest.fixture
def emails():
    """20 jobs of queue emails: 19 waited 0.5 s and ran 2 s, one waited 30 s and ran 40 s."""
    for _ in range(19):
        finished(0.5, 2.0)
    finished(30.0, 40.0, state=JobState.FAILED)


def test_latency_p50_per_queue(emails):
    assert by_name(timings.timings("default", since())["queues"])["emails"].latency_p50 == pytest.approx(0.5, rel=0.06)


def test_latency_p95_per_queue(emails):
    # The 19th of 20 durations: 0.5 s (the 30 s one is above the 95th percentile).
    assert by_name(timings.timings("default", since())["queues"])["emails"].latency_p95 == pytest.approx(0.5, rel=0.06)


def test_run_time_p95_per_queue_counts_the_slow_tail():
    for _ in range(18):
        finished(0.5, 2.0)
    for _ in range(2):
        finished(0.5, 40.0)
    assert by_name(timings.timings("default", since())["queues"])["emails"].run_p95 == pytest.approx(40.0, rel=0.06)


def test_jobs_are_counted_per_queue(emails):
    finished(1.0, 1.0, queue_name="reports")
    assert {t.name: t.jobs for t in timings.timings("default", since())["queues"]} == {"emails": 20, "reports": 1}


def test_jobs_are_counted_per_task_by_path(emails):
    finished(1.0, 1.0, path="tests.testapp.jobs.fail")
    assert {t.name: t.jobs for t in timings.timings("default", since())["tasks"]} == {
        "tests.testapp.jobs.add": 20,
        "tests.testapp.jobs.fail": 1,
    }


def test_latency_per_task():
    finished(0.2, 1.0, path="tests.testapp.jobs.add")
    finished(5.0, 1.0, path="tests.testapp.jobs.fail")
    assert by_name(timings.timings("default", since())["tasks"])["tests.testapp.jobs.fail"].latency_p50 == (
        pytest.approx(5.0, rel=0.06)
    )


def test_jobs_that_finished_before_the_range_are_left_out(emails):
    finished(1.0, 1.0, queue_name="reports", ago=2 * 3600)
    assert [t.name for t in timings.timings("default", since())["queues"]] == ["emails"]


def test_cancelled_jobs_are_left_out():
    finished(1.0, 1.0, state=JobState.CANCELLED)
    assert timings.timings("default", since()) == {"queues": [], "tasks": []}


# -- on the dashboard -----------------------------------------------------------------------------------


def dashboard(query=""):
    return staff_client("view_job").get(reverse("admin:django_jobs_dashboard") + query)


def test_the_dashboard_shows_a_queues_timings(emails):
    row = dashboard().context["timing_tables"][0][1]["rows"][0]
    assert (row["name"], row["jobs"], row["figures"]) == ("emails", 20, ["473 ms", "473 ms", "2.1 s"])


def test_the_dashboard_draws_them_as_svg(emails):
    assert b'class="djobs-timing-bars"' in dashboard().content


def test_the_dashboard_takes_the_range_for_them():
    finished(1.0, 1.0, ago=3 * 3600)
    assert [t[1]["rows"][0]["name"] for t in dashboard("?range=24h").context["timing_tables"]] == [
        "emails",
        "tests.testapp.jobs.add",
    ]


def test_the_data_endpoint_serves_them_on_request(emails):
    response = staff_client("view_job").get(reverse("admin:django_jobs_dashboard_data") + "?timings=1")
    assert [(t["name"], t["jobs"]) for t in response.json()["timings"]["tasks"]] == [("tests.testapp.jobs.add", 20)]


def test_the_data_endpoint_leaves_them_out_by_default(emails):
    response = staff_client("view_job").get(reverse("admin:django_jobs_dashboard_data"))
    assert "timings" not in response.json()
