"""
"Retry all matching jobs in the background": the job list's button enqueues
one ``django_jobs.operator_tasks.retry_matching`` job for its filter, which a
worker runs, retrying every matching job in batches with its progress logged.
"""

from datetime import timedelta

import pytest
from django.db.models import Count
from django.urls import reverse
from django.utils import timezone

import django_jobs
from django_jobs import operator_tasks
from django_jobs.exceptions import InvalidJobArguments
from django_jobs.models import Job
from django_jobs.states import JobState
from tests.factories import FuncMapFactory, JobFactory
from tests.test_admin import ALL_PERMISSIONS, messages_of, staff_client

RETRY_PATH = "django_jobs.operator_tasks.retry_matching"


def changelist():
    return reverse("admin:django_jobs_job_changelist")


def retry_matching_url(query=""):
    return reverse("admin:django_jobs_retry_matching") + (f"?{query}" if query else "")


def failed_jobs(count, queue_name="emails", path="tests.testapp.jobs.add"):
    """``count`` failed jobs, written in one statement."""
    func = FuncMapFactory(path=path)
    now = timezone.now()
    Job.objects.bulk_create(
        Job(
            func=func,
            args=[1, 2],
            kwargs={},
            queue_name=queue_name,
            state=JobState.FAILED,
            attempts=1,
            max_attempts=1,
            attempts_left=0,
            started_at=now,
            last_attempted_at=now,
            finished_at=now,
        )
        for _ in range(count)
    )
    return list(Job.objects.filter(func=func, queue_name=queue_name).order_by("pk"))


def retry_jobs():
    return Job.objects.filter(func__path=RETRY_PATH)


@pytest.fixture
def operator():
    return staff_client(*ALL_PERMISSIONS, username="operator")


# -- the filter spec ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ([], "A filter spec is a JSON object, not list."),
        ({"kwargs__cvv": "123"}, "Unknown filter field(s) ['kwargs__cvv']"),
        ({"queue": 3}, "Filter field 'queue' must be a string, not 3."),
        ({"state": "succeeded"}, "Only cancelled, expired, failed jobs can be retried, not 'succeeded' ones."),
        ({"finished_after": "yesterday"}, "Filter field 'finished_after' must be an ISO 8601 moment"),
        ({"finished_after": "2026-12-01T00:00:00"}, "Filter field 'finished_after' must be an ISO 8601 moment"),
    ],
)
def test_a_bad_spec_is_refused_naming_the_problem(spec, problem):
    with pytest.raises(InvalidJobArguments, match=problem.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        operator_tasks.check_spec(spec)


@pytest.mark.django_db
def test_a_bad_search_is_refused_and_retries_nothing():
    job = failed_jobs(1)[0]
    with pytest.raises(InvalidJobArguments, match="Filter field 'search': Search a keyword argument as"):
        operator_tasks.retry_all({"search": "kwargs:"}, using="default")
    assert Job.objects.get(pk=job.pk).state == JobState.FAILED


@pytest.mark.django_db
def test_retry_all_retries_the_matching_jobs_in_batches():
    jobs = failed_jobs(5)
    assert operator_tasks.retry_all({"queue": "emails"}, using="default", batch=2) == {
        "matched": 5,
        "retried": 5,
        "skipped": 0,
    }
    assert {job.state for job in Job.objects.filter(pk__in=[j.pk for j in jobs])} == {JobState.READY}


@pytest.mark.django_db
def test_retry_all_leaves_jobs_of_other_queues():
    failed_jobs(2)
    other = failed_jobs(1, queue_name="default")[0]
    operator_tasks.retry_all({"queue": "emails"}, using="default")
    assert Job.objects.get(pk=other.pk).state == JobState.FAILED


@pytest.mark.django_db
def test_retry_all_filters_by_task_path():
    failed_jobs(2)
    other = failed_jobs(1, path="tests.testapp.jobs.fail")[0]
    operator_tasks.retry_all({"task": "tests.testapp.jobs.add"}, using="default")
    assert Job.objects.get(pk=other.pk).state == JobState.FAILED


@pytest.mark.django_db
def test_retry_all_filters_by_an_argument_value():
    failed_jobs(2)
    wanted = JobFactory(state=JobState.FAILED, args=[7, 8], queue_name="emails")
    result = operator_tasks.retry_all({"search": "args:7"}, using="default")
    assert (result["retried"], Job.objects.get(pk=wanted.pk).state) == (1, JobState.READY)


@pytest.mark.django_db
def test_retry_all_filters_by_when_jobs_finished():
    old, new = failed_jobs(2)
    Job.objects.filter(pk=old.pk).update(finished_at=timezone.now() - timedelta(days=3))
    since = (timezone.now() - timedelta(days=1)).isoformat()
    operator_tasks.retry_all({"finished_after": since}, using="default")
    assert [Job.objects.get(pk=j.pk).state for j in (old, new)] == [JobState.FAILED, JobState.READY]


# -- the admin's button --------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_button_enqueues_one_job_with_the_lists_filter(operator):
    failed_jobs(3)
    operator.post(retry_matching_url("state__exact=failed&queue_name=emails&q=args%3A1"))
    assert [job.args for job in retry_jobs()] == [[{"state": "failed", "queue": "emails", "search": "args:1"}]]


@pytest.mark.django_db
def test_the_button_turns_the_function_filter_into_the_tasks_path(operator):
    func = FuncMapFactory(path="tests.testapp.jobs.add")
    operator.post(retry_matching_url(f"func__id__exact={func.pk}"))
    assert retry_jobs().get().args == [{"task": "tests.testapp.jobs.add"}]


@pytest.mark.django_db
def test_the_button_reads_a_date_filter_as_a_moment(operator):
    operator.post(retry_matching_url("finished_at__gte=2026-12-01"))
    assert retry_jobs().get().args == [{"finished_after": "2026-12-01T00:00:00+00:00"}]


@pytest.mark.django_db
def test_the_message_links_to_the_retrying_job(operator):
    response = operator.post(retry_matching_url("state__exact=failed"))
    job = retry_jobs().get()
    url = reverse("admin:django_jobs_job_change", args=[job.pk])
    assert messages_of(response) == [
        f'Retrying every failed job matching this filter in the background: see job <a href="{url}">{job.pk}</a>.'
    ]


@pytest.mark.django_db
def test_the_button_goes_back_to_the_filtered_list(operator):
    response = operator.post(retry_matching_url("queue_name=emails"))
    assert response.url == changelist() + "?queue_name=emails"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ("state__exact=succeeded", "Only cancelled, expired, failed jobs can be retried, not 'succeeded' ones."),
        (
            "workflow_id=3",
            "The filter workflow_id cannot be retried in the background: remove it, or use the Retry action.",
        ),
        (
            "q=kwargs%3A",
            "Filter field 'search': Search a keyword argument as kwargs:<name>=<value>, e.g. kwargs:user_id=42.",
        ),
        ("func__id__exact=999999", "No job function has the id '999999'."),
        ("finished_at__gte=soon", "The filter finished_at__gte='soon' is not a date."),
    ],
)
def test_a_filter_it_cannot_follow_is_an_error_and_enqueues_nothing(operator, query, problem):
    response = operator.post(retry_matching_url(query))
    assert (messages_of(response), retry_jobs().count()) == ([f"Nothing was retried: {problem}"], 0)


@pytest.mark.django_db
def test_the_button_takes_only_posts(operator):
    assert operator.get(retry_matching_url()).status_code == 405


@pytest.mark.django_db
def test_the_button_needs_the_retry_permission():
    assert staff_client("view_job").post(retry_matching_url()).status_code == 403


@pytest.mark.django_db
def test_the_button_is_shown_to_those_who_may_retry(operator):
    assert b"Retry all matching jobs in the background" in operator.get(changelist()).content


@pytest.mark.django_db
def test_the_button_is_not_shown_to_those_who_may_not():
    assert b"Retry all matching jobs in the background" not in staff_client("view_job").get(changelist()).content


# -- a real worker runs it -------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_2500_failed_jobs_are_retried_from_one_filter_by_a_worker(workers):
    matched = failed_jobs(2500)
    other_queue = failed_jobs(20, queue_name="reports")
    succeeded = JobFactory(state=JobState.SUCCEEDED, queue_name="emails", finished_at=timezone.now())
    operator = staff_client(*ALL_PERMISSIONS, username="operator")
    operator.post(retry_matching_url("state__exact=failed&queue_name=emails"))
    job = retry_jobs().get()
    # Only the queue the retrying job is on: the retried jobs (queue emails) stay ready, to be counted.
    ran = workers.burst("--queue", "default", timeout=300)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    job.refresh_from_db()
    states = dict(Job.objects.exclude(pk=job.pk).order_by().values_list("state").annotate(n=Count("pk")))
    seen = {
        "retried": Job.objects.filter(pk__in=[j.pk for j in matched], state=JobState.READY).count(),
        "other queue": set(Job.objects.filter(pk__in=[j.pk for j in other_queue]).values_list("state", flat=True)),
        "succeeded": Job.objects.get(pk=succeeded.pk).state,
        "all": states,
        "job": (job.state, job.return_value),
        "progress": [line.message for line in django_jobs.logs(job.pk)],
    }
    assert seen == {
        "retried": 2500,
        "other queue": {JobState.FAILED},
        "succeeded": JobState.SUCCEEDED,
        "all": {JobState.READY: 2500, JobState.FAILED: 20, JobState.SUCCEEDED: 1},
        "job": (JobState.SUCCEEDED, {"matched": 2500, "retried": 2500, "skipped": 0}),
        "progress": [
            "2500 jobs match the filter {'state': 'failed', 'queue': 'emails'}: retrying them 1000 at a time.",
            "Retried 1000 of 2500 jobs (0 skipped: changed meanwhile).",
            "Retried 2000 of 2500 jobs (0 skipped: changed meanwhile).",
            "Retried 2500 of 2500 jobs (0 skipped: changed meanwhile).",
        ],
    }
