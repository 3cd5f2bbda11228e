"""Dependencies under real `manage.py runworker` processes racing over one database."""

import pytest
from django.db.models import Count

from django_jobs.models import Job
from django_jobs.states import JobState
from tests.testapp import jobs
from tests.testapp.models import Execution

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_two_workers_never_release_a_dependent_twice(workers):
    heads = [jobs.gather.enqueue(f"head{i}") for i in range(60)]
    dependents = [jobs.gather.using(depends_on=heads[i : i + 3]).enqueue(f"fan-in{i}") for i in range(0, 60, 3)]
    last = jobs.gather.using(depends_on=dependents).enqueue("last")
    racing = [workers.start("--burst", "--concurrency", "4") for _ in range(2)]
    for proc in racing:
        assert proc.wait(120) == 0, workers.output(proc)
    assert workers.burst().returncode == 0  # what became due after both had found nothing left
    runs = dict(Execution.objects.values_list("job_id").annotate(n=Count("id")))
    assert set(runs.values()) == {1} and len(runs) == 81
    assert set(Job.objects.values_list("state", "dependencies_left")) == {(JobState.SUCCEEDED, 0)}
    assert len(jobs.gather.get_result(last.id).return_value["saw"]) == 20
