"""The dashboard's chart ranges (1h, 24h, 7d) and its JSON polling endpoint, through Django's test client."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from django_jobs.states import JobState
from tests.factories import JobFactory, WorkerFactory

pytestmark = pytest.mark.django_db

DASHBOARD = reverse("admin:django_jobs_dashboard")
DATA = reverse("admin:django_jobs_dashboard_data")


def finished(state, ago, queue_name="emails"):
    return JobFactory(state=state, queue_name=queue_name, finished_at=timezone.now() - ago)


def chart(client, range_name):
    response = client.get(DASHBOARD, {"range": range_name})
    assert response.status_code == 200
    total = response.context["total_chart"]
    return total["succeeded"], total["failed"], len(total["bars"])


@pytest.fixture
def history():
    finished(JobState.SUCCEEDED, timedelta(minutes=10))
    finished(JobState.FAILED, timedelta(minutes=20))
    finished(JobState.SUCCEEDED, timedelta(hours=3))
    finished(JobState.FAILED, timedelta(days=3))
    finished(JobState.SUCCEEDED, timedelta(days=9))


def test_the_last_hour_by_default(admin_client, history):
    assert admin_client.get(DASHBOARD).context["total_chart"]["succeeded"] == 1


@pytest.mark.parametrize(
    "range_name, figures",
    [("1h", (1, 1, (60, 61))), ("24h", (2, 1, (48, 49))), ("7d", (2, 2, (42, 43)))],
)
def test_each_range_counts_the_jobs_finished_and_failed_within_it(admin_client, history, range_name, figures):
    succeeded, failed, bars = chart(admin_client, range_name)
    assert (succeeded, failed) == figures[:2]
    assert bars in figures[2]


def test_an_unknown_range_is_refused_with_the_choices(admin_client):
    response = admin_client.get(DASHBOARD, {"range": "1y"})
    assert response.status_code == 400
    assert response.content.decode() == "Unknown range '1y': one of 1h, 24h, 7d."


def test_the_range_costs_the_same_queries(admin_client, history):
    def queries(range_name):
        with CaptureQueriesContext(connection) as captured:
            admin_client.get(DASHBOARD, {"range": range_name})
        return len(captured)

    assert queries("1h") == queries("24h") == queries("7d")


def test_the_json_endpoint_gives_each_queue_its_counts_and_buckets_and_the_workers(admin_client, history):
    JobFactory(queue_name="emails", run_after=timezone.now() - timedelta(minutes=1))
    WorkerFactory(worker_id="w1", queues=["emails"], running=2)
    data = admin_client.get(DATA, {"range": "24h"}).json()
    assert (data["range"], data["bucket_seconds"]) == ("24h", 1800)
    emails = {q["name"]: q for q in data["queues"]}["emails"]
    assert (emails["due"], emails["succeeded"], emails["failed"]) == (1, 3, 2)
    assert sum(b["succeeded"] for b in emails["finished"]) == 2
    assert [(w["worker_id"], w["status"], w["running"]) for w in data["workers"]] == [("w1", "running", 2)]


def test_the_json_endpoint_refuses_an_unknown_range(admin_client):
    assert admin_client.get(DATA, {"range": "forever"}).status_code == 400


def test_the_json_endpoint_needs_the_view_permission():
    user = User.objects.create_user("nobody", password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename="view_funcmap"))
    client = Client()
    client.force_login(user)
    assert client.get(DATA).status_code == 403
