"""Searching jobs by an argument's value (never inside redacted jobs), and the log lines page's function filter."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from django_jobs.models import JobLog
from tests.factories import FuncMapFactory, JobFactory, JobRunFactory

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:django_jobs_job_changelist")
LOGS = reverse("admin:django_jobs_joblog_changelist")
EMAIL = "tests.testapp.jobs.send_email"
REDACTED = "tests.testapp.limited_jobs.charge_card"


def found(client, term):
    response = client.get(CHANGELIST, {"q": term})
    assert response.status_code == 200
    return sorted(job.pk for job in response.context["cl"].result_list)


def job(path=EMAIL, args=(), kwargs=None):
    return JobFactory(func=FuncMapFactory(path=path), args=list(args), kwargs=kwargs or {})


def test_a_positional_argument_finds_its_jobs(admin_client):
    alice = job(args=["alice@example.com"])
    job(args=["bob@example.com"])
    assert found(admin_client, "args:alice@example.com") == [alice.pk]


def test_a_json_value_keeps_its_type(admin_client):
    number = job(args=[42])
    text = job(args=["42"])
    assert found(admin_client, "args:42") == [number.pk]
    assert found(admin_client, 'args:"42"') == [text.pk]


def test_a_keyword_argument_finds_its_jobs(admin_client):
    nightly = job(args=["a@example.com"], kwargs={"subject": "nightly"})
    job(args=["a@example.com"], kwargs={"subject": "weekly"})
    job(args=["nightly"])
    assert found(admin_client, "kwargs:subject=nightly") == [nightly.pk]


def test_a_redacted_job_is_never_found_by_its_argument(admin_client):
    job(path=REDACTED, args=["4111111111111111", 10])
    job(path=REDACTED, kwargs={"card_number": "4111111111111111"})
    assert found(admin_client, "args:4111111111111111") == []
    assert found(admin_client, "kwargs:card_number=4111111111111111") == []


def test_a_job_whose_task_no_longer_resolves_is_never_found(admin_client):
    job(path="tests.testapp.jobs.removed_long_ago", args=["secret"])
    assert found(admin_client, "args:secret") == []


def test_a_malformed_argument_search_names_the_problem_and_finds_nothing(admin_client):
    job(kwargs={"subject": "x"})
    response = admin_client.get(CHANGELIST, {"q": "kwargs:subject"})
    assert list(response.context["cl"].result_list) == []
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "Search a keyword argument as kwargs:<name>=<value>, e.g. kwargs:user_id=42."
    ]


def test_the_other_searches_still_work(admin_client):
    keyed = JobFactory(uniqkey="args:not-a-search-by-argument-but-a-word")
    assert found(admin_client, str(keyed.pk)) == [keyed.pk]


# -- the log lines page -----------------------------------------------------------------------


def line(path, message):
    run = JobRunFactory(job=job(path=path))
    return JobLog.objects.create(run=run, created_at=timezone.now(), level=30, logger="tests", message=message)


def test_log_lines_filter_by_function(admin_client):
    email = line(EMAIL, "sent")
    line("tests.testapp.jobs.add", "added")
    response = admin_client.get(LOGS, {"function": str(email.run.job.func_id)})
    assert [entry.pk for entry in response.context["cl"].result_list] == [email.pk]


def test_log_lines_refuse_a_function_that_is_not_an_id(admin_client):
    line(EMAIL, "sent")
    response = admin_client.get(LOGS, {"function": "x"})
    assert response.status_code == 302 and response.url.endswith("?e=1")
