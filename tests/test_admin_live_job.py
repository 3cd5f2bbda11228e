"""
A waiting or running job's page updates without a reload: its live panel,
and the JSON it polls (``<job id>/live/?after=<line id>``), through Django's test client.
"""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from django_jobs.admin import live
from django_jobs.models import JobLog
from django_jobs.states import JobState, RunOutcome
from tests.factories import JobFactory, JobRunFactory, WorkerFactory
from tests.test_admin import staff_client

pytestmark = pytest.mark.django_db


def running_job(lines=()):
    """A running job on its first attempt, which logged ``lines``; (job, the lines' rows)."""
    now = timezone.now()
    job = JobFactory(
        state=JobState.RUNNING,
        attempts=1,
        max_attempts=3,
        attempts_left=2,
        worker_id="w1",
        started_at=now,
        last_attempted_at=now,
        grabbed_until=now + timedelta(seconds=30),
    )
    run = JobRunFactory(job=job, attempt=1, worker_id="w1")
    rows = [JobLog.objects.create(run=run, created_at=now, level=20, logger="app", message=m) for m in lines]
    return job, rows


def live_url(job, after=None):
    url = reverse("admin:django_jobs_job_live", args=[job.pk])
    return url if after is None else f"{url}?after={after}"


@pytest.fixture
def viewer():
    return staff_client("view_job", username="viewer")


# -- the page ---------------------------------------------------------------------------------------


def test_a_running_jobs_page_has_the_live_panel_reading_on_from_its_last_line(viewer):
    job, rows = running_job(["one", "two"])
    page = viewer.get(reverse("admin:django_jobs_job_change", args=[job.pk]))
    assert page.context["live"]["after"] == rows[-1].pk


def test_the_panel_loads_the_script(viewer):
    job, _ = running_job()
    content = viewer.get(reverse("admin:django_jobs_job_change", args=[job.pk])).content.decode()
    assert ('id="djobs-job-live"' in content, "django_jobs/live.js" in content) == (True, True)


def test_a_finished_jobs_page_has_no_live_panel(viewer):
    job = JobFactory(state=JobState.SUCCEEDED, finished_at=timezone.now())
    assert b'id="djobs-job-live"' not in viewer.get(reverse("admin:django_jobs_job_change", args=[job.pk])).content


def test_the_dashboard_polls_its_data(viewer):
    content = viewer.get(reverse("admin:django_jobs_dashboard") + "?range=24h").content.decode()
    assert f'data-url="{reverse("admin:django_jobs_dashboard_data")}?range=24h&amp;throughput=0"' in content


# -- the JSON it polls ----------------------------------------------------------------------------------


def test_the_state_and_attempts(viewer):
    job, _ = running_job()
    data = viewer.get(live_url(job)).json()
    assert {k: data[k] for k in ("state", "state_label", "live", "attempts", "attempts_left", "max_attempts")} == {
        "state": "running",
        "state_label": "Running",
        "live": True,
        "attempts": 1,
        "attempts_left": 2,
        "max_attempts": 3,
    }


def test_the_lines_after_the_one_given(viewer):
    job, rows = running_job(["one", "two", "three"])
    data = viewer.get(live_url(job, rows[0].pk)).json()
    assert [(line["message"], line["level_name"], line["attempt"]) for line in data["lines"]] == [
        ("two", "INFO", 1),
        ("three", "INFO", 1),
    ]


def test_the_next_poll_reads_on_from_the_last_line_returned(viewer):
    job, rows = running_job(["one", "two"])
    assert viewer.get(live_url(job, 0)).json()["after"] == rows[-1].pk


def test_with_no_new_line_the_next_poll_reads_from_the_same_place(viewer):
    job, rows = running_job(["one"])
    data = viewer.get(live_url(job, rows[0].pk)).json()
    assert (data["lines"], data["after"]) == ([], rows[0].pk)


def test_another_jobs_lines_are_not_returned(viewer):
    job, _ = running_job()
    running_job(["not mine"])
    assert viewer.get(live_url(job, 0)).json()["lines"] == []


def test_a_poll_returns_at_most_a_batch_of_lines(viewer, monkeypatch):
    monkeypatch.setattr(live, "LINES_PER_POLL", 2)
    job, _rows = running_job(["one", "two", "three"])
    assert [line["message"] for line in viewer.get(live_url(job, 0)).json()["lines"]] == ["one", "two"]


def test_a_finished_job_says_so(viewer):
    job, _ = running_job()
    type(job).objects.filter(pk=job.pk).update(state=JobState.SUCCEEDED, finished_at=timezone.now())
    job.runs.update(outcome=RunOutcome.SUCCEEDED, finished_at=timezone.now())
    assert viewer.get(live_url(job)).json()["live"] is False


def test_a_bad_line_id_is_refused_naming_it(viewer):
    job, _ = running_job()
    response = viewer.get(live_url(job, "x"))
    assert (response.status_code, response.content.decode()) == (
        400,
        "'after' must be a log line id (a whole number), not 'x'.",
    )


def test_an_unknown_job_is_404(viewer):
    assert viewer.get(reverse("admin:django_jobs_job_live", args=[999999])).status_code == 404


def test_it_needs_the_permission_to_view_jobs():
    job, _ = running_job()
    assert staff_client("view_worker").get(live_url(job)).status_code == 403


def test_the_dashboard_data_names_each_workers_status():
    WorkerFactory()
    data = staff_client("view_job").get(reverse("admin:django_jobs_dashboard_data")).json()
    assert [w["status_label"] for w in data["workers"]] == ["Running"]


def test_the_dashboards_poll_skips_the_throughput(viewer):
    JobFactory(state=JobState.SUCCEEDED, queue_name="emails", finished_at=timezone.now())
    data = viewer.get(reverse("admin:django_jobs_dashboard_data") + "?throughput=0").json()
    assert [(q["name"], q["succeeded"], q["finished"]) for q in data["queues"] if q["name"] == "emails"] == [
        ("emails", 1, [])
    ]
