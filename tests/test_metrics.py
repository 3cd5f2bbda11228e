"""The jobs/metrics view: the queue's figures in the Prometheus text format, and who may read them."""

import sys
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from django_jobs.conf import Options
from django_jobs.states import JobState
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db

TOKEN = "metrics-token-for-tests"  # tests/settings.py's METRICS_TOKEN
URL = "/jobs/metrics"


def scrape(response):
    """{(sample name, frozenset of labels): value} from a metrics response."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def jobs_gauge(samples, queue, state):
    return samples[("django_jobs_queue_jobs", frozenset({"queue": queue, "state": state}.items()))]


@pytest.fixture
def staff():
    client = Client()
    client.force_login(User.objects.create_user("staff", is_staff=True))
    return client


@pytest.fixture
def samples(staff):
    now = timezone.now()
    JobFactory.create_batch(2, run_after=now - timedelta(seconds=100))
    JobFactory(run_after=now - timedelta(seconds=10))
    JobFactory(run_after=now + timedelta(hours=1))
    JobFactory(queue_name="reports", state=JobState.RUNNING, attempts=1, worker_id="w")
    JobFactory.create_batch(2, queue_name="reports", state=JobState.FAILED, finished_at=now)
    JobFactory(queue_name="reports", state=JobState.SUCCEEDED, finished_at=now)
    return scrape(staff.get(URL))


# -- figures --------------------------------------------------------------------------------------------


def test_live_workers_are_counted_by_state(staff):
    from django_jobs import queue

    for name in ("a", "b", "c"):
        queue.register(worker_id=name, backend="default", host="h", pid=1, queues=None, concurrency=1, using="default")
    queue.beat("b", running=0, stopping=True, using="default")
    queue.sign_off("c", using="default")
    samples = scrape(staff.get(URL))
    assert [
        samples[("django_jobs_workers", frozenset({"state": state}.items()))] for state in ("running", "stopping")
    ] == [1, 1]


def test_due_jobs_are_counted_per_queue(samples):
    assert jobs_gauge(samples, "default", "due") == 3


def test_ready_jobs_whose_run_after_is_ahead_are_scheduled(samples):
    assert jobs_gauge(samples, "default", "scheduled") == 1


def test_running_jobs_are_counted_per_queue(samples):
    assert jobs_gauge(samples, "reports", "running") == 1


def test_failed_jobs_are_counted_per_queue(samples):
    assert jobs_gauge(samples, "reports", "failed") == 2


def test_a_configured_queue_without_jobs_reports_zero(samples):
    assert jobs_gauge(samples, "emails", "due") == 0


def test_oldest_due_seconds_is_the_wait_of_the_oldest_due_job(samples):
    oldest = samples[("django_jobs_queue_oldest_due_seconds", frozenset({"queue": "default"}.items()))]
    assert 100 <= oldest < 160


def test_oldest_due_seconds_is_zero_when_nothing_is_due(samples):
    assert samples[("django_jobs_queue_oldest_due_seconds", frozenset({"queue": "reports"}.items()))] == 0


# -- who may read them ----------------------------------------------------------------------------------


def test_staff_users_may_read_the_metrics(staff):
    assert staff.get(URL).status_code == 200


def test_the_response_is_the_prometheus_text_format(staff):
    assert staff.get(URL)["Content-Type"].startswith("text/plain; version=")


def test_a_request_with_the_bearer_token_may_read_the_metrics():
    assert Client().get(URL, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_a_wrong_bearer_token_is_refused():
    assert Client().get(URL, headers={"Authorization": "Bearer not-the-token"}).status_code == 403


def test_anonymous_requests_are_refused():
    assert Client().get(URL).status_code == 403


def test_users_who_are_not_staff_are_refused():
    client = Client()
    client.force_login(User.objects.create_user("someone"))
    assert client.get(URL).status_code == 403


# -- configuration --------------------------------------------------------------------------------------


def test_without_prometheus_client_the_view_says_what_is_missing(staff, monkeypatch):
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # what `import` finds when it is not installed
    monkeypatch.delitem(sys.modules, "django_jobs.metrics.collectors", raising=False)
    with pytest.raises(ImproperlyConfigured, match=r"pip install 'django-jobs-db\[metrics\]'"):
        staff.get(URL)


def test_an_empty_metrics_token_is_refused():
    with pytest.raises(ImproperlyConfigured, match="METRICS_TOKEN"):
        Options.from_dict("default", {"METRICS_TOKEN": ""})
