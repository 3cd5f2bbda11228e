import pytest
from django.urls import reverse

from django_jobs.models import Job
from tests.factories import JobFactory, JobRunFactory

pytestmark = pytest.mark.django_db


def test_changelist_and_change_page_render(admin_client):
    job = JobFactory(args=[1, {"x": "y"}])
    JobRunFactory(job=job, outcome="failed", exception_class_path="builtins.ValueError", traceback="Traceback: boom")
    response = admin_client.get(reverse("admin:django_jobs_job_changelist"))
    assert response.status_code == 200 and b"tests.testapp.jobs.add" in response.content
    response = admin_client.get(reverse("admin:django_jobs_job_change", args=[job.pk]))
    assert response.status_code == 200
    assert b"Traceback: boom" in response.content and b"&quot;x&quot;: &quot;y&quot;" in response.content
    assert Job.objects.count() == 1
