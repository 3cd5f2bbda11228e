"""The log lines page (JobLog admin): level names, a link to each line's job, search by message."""

import pytest
from django.urls import reverse
from django.utils import timezone

from django_jobs.models import JobLog
from tests.factories import JobRunFactory

pytestmark = pytest.mark.django_db


def line(message, level=20, attempt=1):
    run = JobRunFactory(attempt=attempt)
    return JobLog.objects.create(run=run, created_at=timezone.now(), level=level, logger="shop", message=message)


def log_lines(client, **params):
    return client.get(reverse("admin:django_jobs_joblog_changelist"), params)


def test_log_lines_show_the_levels_name(admin_client):
    line("disk almost full", level=30)
    assert '<td class="field-level_name">WARNING</td>' in log_lines(admin_client).content.decode()


def test_a_level_without_a_name_shows_its_number(admin_client):
    line("custom", level=25)
    assert "Level 25" in log_lines(admin_client).content.decode()


def test_each_log_line_links_its_job(admin_client):
    logged = line("charged", attempt=2)
    job_url = reverse("admin:django_jobs_job_change", args=[logged.run.job_id])
    assert (
        f'<a href="{job_url}">#{logged.run.job_id}</a> <small>attempt 2</small>'
        in log_lines(admin_client).content.decode()
    )


def test_log_lines_can_be_searched_by_message(admin_client):
    wanted = line("Payment gateway timed out")
    line("all good")
    results = log_lines(admin_client, q="gateway TIMED").context["cl"].result_list
    assert [found.pk for found in results] == [wanted.pk]


def test_a_log_lines_page_shows_its_level_name_and_job(admin_client):
    logged = line("disk almost full", level=40)
    content = admin_client.get(reverse("admin:django_jobs_joblog_change", args=[logged.pk])).content.decode()
    assert "ERROR" in content and reverse("admin:django_jobs_job_change", args=[logged.run.job_id]) in content
