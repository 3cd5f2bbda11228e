"""
What the admin must not give away or fall over on: redacted arguments read
through URL filters or search, redaction of a task that no longer imports,
and queue names that do not fit in a URL.
"""

import json

import pytest
from django.urls import reverse

from django_jobs import queue
from django_jobs.models import QueueState
from django_jobs.redaction import displayed
from tests.factories import JobFactory
from tests.test_admin import staff_client

pytestmark = pytest.mark.django_db


def changelist():
    return reverse("admin:django_jobs_job_changelist")


@pytest.fixture
def viewer():
    return staff_client("view_job", "view_funcmap", "view_joblog", username="viewer")


@pytest.fixture
def secret():
    """A job of a task declared with redact_args=True."""
    return JobFactory(
        func__path="tests.testapp.limited_jobs.charge_card", args=["4111-1111-1111-1111", 10], kwargs={"cvv": 123}
    )


# -- filtering by what the list does not offer -----------------------------------------------


@pytest.mark.parametrize(
    "lookup",
    [
        {"args__0__startswith": "4111-1"},
        {"kwargs__cvv": "123"},
        {"return_value__x": "1"},
        {"args__contains": "4111"},
        {"uniqkey__startswith": "a"},  # a field, but no filter of the list's
    ],
)
def test_the_job_list_refuses_a_filter_it_does_not_offer(viewer, secret, lookup):
    assert viewer.get(changelist(), lookup).status_code == 400


def test_the_job_list_refuses_filtering_by_arguments_to_superusers_too(admin_client, secret):
    assert admin_client.get(changelist(), {"kwargs__cvv": "123"}).status_code == 400


def test_every_choice_the_job_lists_filters_offer_is_allowed(admin_client, secret):
    response = admin_client.get(changelist())
    cl = response.context["cl"]
    links = {choice["query_string"] for spec in cl.filter_specs for choice in spec.choices(cl)}
    refused = [link for link in sorted(links) if admin_client.get(changelist() + link).status_code != 200]
    assert refused == []


@pytest.mark.parametrize("name", ["funcmap", "joblog"])
def test_the_other_lists_refuse_reaching_arguments_through_a_relation(viewer, secret, name):
    lookup = {"funcmap": "jobs__kwargs__cvv", "joblog": "run__job__kwargs__cvv"}[name]
    assert viewer.get(reverse(f"admin:django_jobs_{name}_changelist"), {lookup: "123"}).status_code == 400


def test_search_does_not_reach_the_arguments(admin_client, secret):
    response = admin_client.get(changelist(), {"q": "4111-1111-1111-1111"})
    assert response.context["cl"].result_count == 0


# -- redaction fails closed ------------------------------------------------------------------


@pytest.fixture
def orphan():
    """A job whose function's path no longer imports (the code was removed or renamed)."""
    return JobFactory(func__path="tests.testapp.removed_module.charge_card", args=["4111-1111-1111-1111"])


def test_arguments_of_a_job_whose_function_does_not_import_are_redacted(orphan):
    args, _kwargs, _return_value = displayed(orphan)
    assert "4111" not in json.dumps(args)


def test_the_redaction_of_a_function_that_does_not_import_says_why(orphan):
    args, _kwargs, _return_value = displayed(orphan)
    assert args.startswith("[redacted: ") and "cannot be imported" in args


def test_the_job_page_keeps_the_arguments_of_a_function_that_does_not_import_out(admin_client, orphan):
    content = admin_client.get(reverse("admin:django_jobs_job_change", args=[orphan.pk])).content.decode()
    assert "4111" not in content


def test_the_job_page_says_why_arguments_are_redacted(admin_client, orphan):
    content = admin_client.get(reverse("admin:django_jobs_job_change", args=[orphan.pk])).content.decode()
    assert "[redacted: " in content and "cannot be imported" in content


# -- queue names that are not URL segments ---------------------------------------------------


@pytest.fixture
def odd_queues():
    for name in ("", "emails/eu"):
        JobFactory(queue_name=name)
    queue.pause("", using="default")


def test_the_dashboard_shows_queues_named_empty_or_with_a_slash(admin_client, odd_queues):
    assert admin_client.get(reverse("admin:django_jobs_dashboard")).status_code == 200


@pytest.mark.parametrize("name", ["", "emails/eu"])
def test_a_queue_named_empty_or_with_a_slash_can_be_paused(admin_client, odd_queues, name):
    admin_client.post(reverse("admin:django_jobs_pause"), {"queue": name})
    assert QueueState.objects.get(name=name).paused


def test_a_queue_named_empty_can_be_resumed(admin_client, odd_queues):
    admin_client.post(reverse("admin:django_jobs_resume"), {"queue": ""})
    assert not QueueState.objects.filter(name="", paused=True).exists()


def test_pausing_without_naming_a_queue_is_a_bad_request(admin_client, odd_queues):
    response = admin_client.post(reverse("admin:django_jobs_pause"))
    assert response.status_code == 400 and b"queue" in response.content


def test_the_queue_filter_finds_the_jobs_of_the_queue_named_empty(admin_client, odd_queues):
    link = reverse("admin:django_jobs_job_changelist") + "?queue_name="
    jobs = admin_client.get(link).context["cl"].result_list
    assert [job.queue_name for job in jobs] == [""]
