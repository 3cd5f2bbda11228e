"""What operators see of dependencies: `manage.py jobs show` and the admin's job page."""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from django_jobs import call, chain, group
from django_jobs.models import Job
from tests.testapp import jobs

pytestmark = pytest.mark.django_db


def show(job_id, *options):
    out = StringIO()
    call_command("jobs", "show", str(job_id), *options, stdout=out)
    return out.getvalue()


@pytest.fixture
def diamond():
    """a → (b, c) → d, as a workflow; returns the four results."""
    return chain(
        call(jobs.add, 1, 1), group(call(jobs.add, 2, 2), call(jobs.add, 3, 3)), call(jobs.add, 4, 4)
    ).enqueue()


def test_show_prints_what_a_job_waits_for(diamond):
    _a, b, c, d = diamond.results
    assert (
        f"Waits for (2):\n  #{b.id} waiting   tests.testapp.jobs.add\n  #{c.id} waiting   tests.testapp.jobs.add"
        in show(d.id)
    )


def test_show_prints_what_waits_for_a_job(diamond):
    a, b, _c, _d = diamond.results
    assert f"Waited for by (2):\n  #{b.id} waiting   tests.testapp.jobs.add\n" in show(a.id)


def test_show_prints_the_workflows_progress(diamond):
    assert f"workflow      {diamond.id}: 0 of 4 done" in show(diamond.results[0].id)


def test_show_json_lists_what_a_job_waits_for(diamond):
    _a, b, c, d = diamond.results
    assert [n["id"] for n in json.loads(show(d.id, "--json"))["waits_for"]] == [int(b.id), int(c.id)]


def test_show_json_gives_the_workflows_progress(diamond):
    assert json.loads(show(diamond.results[1].id, "--json"))["workflow"] == {"id": diamond.id, "done": 0, "total": 4}


def test_show_says_how_many_more_wait_than_it_lists():
    a = jobs.add.enqueue(1, 1)
    for _ in range(52):
        jobs.add.using(depends_on=[a]).enqueue(2, 2)
    assert "  ... and 2 more" in show(a.id)


def test_a_job_without_dependencies_shows_none():
    assert "Waits for" not in show(jobs.add.enqueue(1, 1).id)


def change_page(client, result):
    return client.get(reverse("admin:django_jobs_job_change", args=[result.id])).content.decode()


def test_the_admin_job_page_links_what_it_waits_for(admin_client, diamond):
    _a, b, _c, d = diamond.results
    assert f'<a href="{reverse("admin:django_jobs_job_change", args=[b.id])}">#{b.id}</a>' in change_page(
        admin_client, d
    )


def test_the_admin_job_page_links_what_waits_for_it(admin_client, diamond):
    _a, _b, c, d = diamond.results
    assert f'<a href="{reverse("admin:django_jobs_job_change", args=[d.id])}">#{d.id}</a>' in change_page(
        admin_client, c
    )


def test_the_admin_job_page_shows_the_workflows_progress(admin_client, diamond):
    assert "0 of 4 done" in change_page(admin_client, diamond.results[2])


def test_the_admin_lists_the_jobs_of_a_workflow(admin_client, diamond):
    jobs.add.enqueue(9, 9)
    url = reverse("admin:django_jobs_job_changelist")
    listed = admin_client.get(url, {"workflow_id": diamond.id}).context["cl"].result_list
    assert {job.pk for job in listed} == set(Job.objects.filter(workflow_id=diamond.id).values_list("pk", flat=True))
