"""
The admin through Django's test client: the job list and its filters, a job's
page, the actions (bulk and per job) and who may run them, the dashboard and
the functions list. Every change is checked in the database.
"""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from django_jobs import stats
from django_jobs.admin import actions as admin_actions
from django_jobs.admin import jobs as job_pages
from django_jobs.admin.compat import CHANGE_FORM_ACTIONS
from django_jobs.admin.filters import QueueFilter
from django_jobs.admin.jobs import JobAdmin
from django_jobs.admin.paginator import EstimatedCountPaginator
from django_jobs.models import Dependency, FuncMap, Job, JobLog, JobRun, QueueState
from django_jobs.states import JobState, RunOutcome
from tests.factories import FuncMapFactory, JobFactory, JobRunFactory, WorkerFactory
from tests.testapp import limited_jobs

pytestmark = pytest.mark.django_db

#: The job page's buttons are admin actions on the change form, which Django 6.1 added (django_jobs.admin.compat).
needs_change_form_actions = pytest.mark.skipif(not CHANGE_FORM_ACTIONS, reason="change-form actions are Django 6.1's")

CHANGELIST = "admin:django_jobs_job_changelist"
ALL_PERMISSIONS = ("view_job", "cancel_job", "retry_job", "run_job", "delete_job", "change_queuestate")


def url(name, *args):
    return reverse(name, args=args)


def change_url(job):
    return url("admin:django_jobs_job_change", job.pk)


def staff_client(*codenames, username=None):
    """A logged-in client of a staff user with these django_jobs permissions."""
    username = username or "staff-" + "-".join(codenames or ("none",))
    user = User.objects.create_user(username, password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="django_jobs", codename__in=codenames))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def operator():
    return staff_client(*ALL_PERMISSIONS, username="operator")


@pytest.fixture
def viewer():
    return staff_client("view_job", "view_funcmap", username="viewer")


def messages_of(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def state(job):
    return Job.objects.get(pk=job.pk).state


# -- jobs in each state ------------------------------------------------------------------


def ready(**kwargs):
    return JobFactory(state=JobState.READY, max_attempts=3, attempts_left=3, **kwargs)


def scheduled(**kwargs):
    return ready(run_after=timezone.now() + timedelta(hours=1), **kwargs)


def running(worker="worker-1", **kwargs):
    now = timezone.now()
    job = JobFactory(
        state=JobState.RUNNING,
        attempts=1,
        max_attempts=3,
        attempts_left=2,
        worker_id=worker,
        started_at=now,
        last_attempted_at=now,
        grabbed_until=now + timedelta(seconds=25),
        **kwargs,
    )
    JobRunFactory(job=job, attempt=1, worker_id=worker)
    return job


def finished(job_state, error=None, **kwargs):
    now = timezone.now()
    job = JobFactory(
        state=job_state,
        attempts=1,
        max_attempts=1,
        attempts_left=0,
        started_at=now - timedelta(seconds=3),
        last_attempted_at=now - timedelta(seconds=3),
        finished_at=now,
        **kwargs,
    )
    if job_state != JobState.EXPIRED:
        outcome = {JobState.SUCCEEDED: RunOutcome.SUCCEEDED, JobState.CANCELLED: RunOutcome.CANCELLED}.get(
            job_state, RunOutcome.FAILED
        )
        JobRunFactory(
            job=job,
            attempt=1,
            outcome=outcome,
            finished_at=now,
            exception_class_path="builtins.ValueError" if error else "",
            message=error or "",
            traceback=f"Traceback (most recent call last):\nValueError: {error}" if error else "",
        )
    return job


def failed(error="boom", **kwargs):
    return finished(JobState.FAILED, error=error, **kwargs)


# -- the job list ----------------------------------------------------------------------------


def test_changelist_shows_each_jobs_columns(admin_client):
    job = failed(error="card declined by the bank", queue_name="emails", func__path="tests.testapp.jobs.send_email")
    ok = finished(JobState.SUCCEEDED)
    content = admin_client.get(url(CHANGELIST)).content.decode()
    assert "tests.testapp.jobs.send_email" in content and "emails" in content
    assert 'class="djobs-state djobs-state-failed"' in content and "djobs-state-succeeded" in content
    assert "1/1" in content  # attempts/max
    assert "ValueError: card declined by the bank" in content  # last error, short
    assert f'href="{change_url(job)}' in content and f'href="{change_url(ok)}' in content
    assert "django_jobs/admin.css" in content  # the stylesheet comes from the app, no CDN


def test_changelist_filters_by_state_queue_function_and_dates(admin_client):
    bad = failed(queue_name="emails")
    other_bad = failed(queue_name="default", func__path="tests.testapp.jobs.boom")
    waiting = ready()
    old = finished(JobState.SUCCEEDED)
    Job.objects.filter(pk=old.pk).update(
        finished_at=timezone.now() - timedelta(days=40), enqueued_at=timezone.now() - timedelta(days=40)
    )

    def listed(**params):
        response = admin_client.get(url(CHANGELIST), params)
        assert response.status_code == 200
        return {job.pk for job in response.context["cl"].result_list}

    assert listed(state__exact="failed") == {bad.pk, other_bad.pk}
    assert listed(state__exact="failed", queue_name="emails") == {bad.pk}
    boom = FuncMap.objects.get(path="tests.testapp.jobs.boom")
    assert listed(func__id__exact=boom.pk) == {other_bad.pk}
    today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)  # as the filter's links
    tomorrow = today + timedelta(days=1)
    assert listed(finished_at__gte=str(today), finished_at__lt=str(tomorrow)) == {bad.pk, other_bad.pk}
    assert listed(enqueued_at__gte=str(today - timedelta(days=7)), enqueued_at__lt=str(tomorrow)) == {
        bad.pk,
        other_bad.pk,
        waiting.pk,
    }


def test_queue_filter_lists_the_configured_queues_without_reading_the_table(admin_client):
    response = admin_client.get(url(CHANGELIST))
    queue_filter = next(f for f in response.context["cl"].filter_specs if isinstance(f, QueueFilter))
    assert [choice["display"] for choice in queue_filter.choices(response.context["cl"])][1:] == [
        "default",
        "emails",
        "reports",
    ]


def test_search_matches_an_id_a_uniqkey_or_a_coalesce_value_exactly(admin_client):
    by_key = ready(uniqkey="order-42")
    by_coalesce = ready(coalesce="example.com")
    other = ready(uniqkey="order-421")

    def found(term):
        return {job.pk for job in admin_client.get(url(CHANGELIST), {"q": term}).context["cl"].result_list}

    assert found("order-42") == {by_key.pk}
    assert found(" example.com ") == {by_coalesce.pk}
    assert found(str(other.pk)) == {other.pk}
    assert found("no such thing") == set()


def test_changelist_costs_the_same_queries_for_any_number_of_jobs(admin_client):
    """No N+1: functions, last errors and counts are fetched once per page (docs/admin.md)."""

    def page_queries():
        with CaptureQueriesContext(connection) as queries:
            assert admin_client.get(url(CHANGELIST)).status_code == 200
        return len(queries)

    for _ in range(3):
        failed(func__path=f"tests.testapp.jobs.f{_}")
    few = page_queries()
    for i in range(40):
        failed(func__path=f"tests.testapp.jobs.g{i % 7}")
        running(worker=f"w{i}")
    assert page_queries() == few


def test_changelist_query_count_is_the_documented_one(admin_client, django_assert_num_queries):
    """
    docs/admin.md: a page of the job list costs 6 queries: session, user,
    count, the page's jobs with their functions, their last errors, the
    function filter's choices. On PostgreSQL the count stops at
    stats.EXACT_BELOW rows; past that the planner's estimate (EXPLAIN) adds one.
    """
    for i in range(30):
        failed(func__path=f"tests.testapp.jobs.f{i % 4}")
    expected = 6
    with django_assert_num_queries(expected):
        admin_client.get(url(CHANGELIST))


def test_staff_page_adds_only_the_permission_queries(viewer, django_assert_num_queries):
    for _ in range(30):
        failed()
    expected = 8  # + the user's and groups' permissions
    with django_assert_num_queries(expected):
        assert viewer.get(url(CHANGELIST)).status_code == 200


def test_a_large_table_gets_an_estimated_count(admin_client, monkeypatch):
    """Above stats.EXACT_BELOW the planner's estimate stands: the rows are counted no further."""
    failed()
    failed()
    monkeypatch.setattr(stats, "EXACT_BELOW", 2)
    monkeypatch.setattr(stats, "planner_estimate", lambda queryset: 1_234_567)
    with CaptureQueriesContext(connection) as queries:
        content = admin_client.get(url(CHANGELIST)).content.decode()
    (count,) = [q["sql"] for q in queries if "COUNT(" in q["sql"].upper()]
    assert "LIMIT 2" in count.upper() and len(queries) == 6  # the bounded count; the estimate is mocked
    assert "(the first 100 pages: filter or search to reach the others)" in content
    assert "about</span> 1234567 jobs" in content
    content = admin_client.get(url(CHANGELIST), {"state__exact": "failed"}).content.decode()
    assert "about 1234567 results" in content


@pytest.mark.skipif(connection.vendor == "sqlite", reason="SQLite's planner gives no estimates")
@pytest.mark.django_db(transaction=True)  # MySQL's ANALYZE TABLE commits: the rows are flushed afterwards
def test_planner_estimate_follows_the_tables_statistics():
    JobFactory.create_batch(1500, state=JobState.SUCCEEDED)
    JobFactory.create_batch(20, state=JobState.FAILED)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE TABLE django_jobs_job" if connection.vendor == "mysql" else "ANALYZE django_jobs_job")
    count, exact = stats.estimated_count(Job.objects.all())
    assert not exact and 1200 < count < 1800
    assert stats.estimated_count(Job.objects.filter(state=JobState.FAILED)) == (20, True)


# -- a job's page ------------------------------------------------------------------------------


def test_change_page_shows_arguments_attempts_tracebacks_and_logs(admin_client):
    job = failed(error="the gateway timed out", args=[1, {"x": "y"}], kwargs={"currency": "EUR"})
    run = job.runs.get()
    JobLog.objects.create(run=run, created_at=timezone.now(), level=30, logger="shop.clients", message="slow answer")
    content = admin_client.get(change_url(job)).content.decode()
    assert "&quot;x&quot;: &quot;y&quot;" in content and "&quot;currency&quot;: &quot;EUR&quot;" in content
    assert "Attempt 1" in content and "worker <code>factory-worker</code>" in content
    assert "ValueError: the gateway timed out" in content  # the traceback's last line
    assert "WARNING" in content and "shop.clients" in content and "slow answer" in content


def test_change_page_keeps_redacted_arguments_out(admin_client):
    secret = limited_jobs.charge_card.enqueue("4111 1111 1111 1111", 10)
    content = admin_client.get(url("admin:django_jobs_job_change", secret.id)).content.decode()
    assert "4111" not in content and "[redacted]" in content


def test_change_page_is_read_only(admin_client):
    job = ready()
    response = admin_client.get(change_url(job))
    assert response.context["has_change_permission"] is False
    assert 'name="_save"' not in response.content.decode()
    assert admin_client.post(change_url(job), {"priority": "50"}).status_code == 403
    assert Job.objects.get(pk=job.pk).priority == 0


@needs_change_form_actions
@pytest.mark.parametrize(
    "make, buttons",
    [
        (ready, ["run_jobs_now", "cancel_jobs"]),
        (running, ["cancel_jobs"]),
        (failed, ["retry_jobs"]),
        (lambda: finished(JobState.CANCELLED), ["retry_jobs"]),
        (lambda: finished(JobState.EXPIRED), ["retry_jobs"]),
        (lambda: finished(JobState.SUCCEEDED), []),
    ],
)
def test_change_page_offers_the_actions_that_apply_to_the_jobs_state(operator, make, buttons):
    job = make()
    response = operator.get(change_url(job))
    assert [name for name, _label, _css in response.context["job_buttons"]] == buttons
    for name in ("retry_jobs", "run_jobs_now", "cancel_jobs"):
        assert (f'value="{name}"' in response.content.decode()) == (name in buttons)


@needs_change_form_actions
def test_change_page_buttons_follow_permissions():
    job = failed()
    response = staff_client("view_job", "cancel_job").get(change_url(job))
    assert response.context["job_buttons"] == []  # a failed job cannot be cancelled; retrying is not theirs
    response = staff_client("view_job", "retry_job").get(change_url(job))
    assert [b[0] for b in response.context["job_buttons"]] == ["retry_jobs"]


@pytest.mark.skipif(CHANGE_FORM_ACTIONS, reason="Django 6.1 offers the actions on the change form")
def test_before_django_61_the_change_page_offers_no_buttons_and_a_posted_one_changes_nothing(operator):
    job = failed()
    assert operator.get(change_url(job)).context["job_buttons"] == []
    post_button(operator, job, "retry_jobs")
    assert state(job) == JobState.FAILED


def test_the_list_describes_each_action_for_the_selected_jobs(operator):
    form = operator.get(url(CHANGELIST)).context["action_form"]
    assert [str(label) for _name, label in form.fields["action"].choices][1:] == [
        "Cancel selected jobs",
        "Retry selected jobs",
        "Run selected jobs now (make them due)",
        "Delete selected jobs",
    ]


# -- actions on one job (the change page's buttons) ------------------------------------------


def post_button(client, job, action):
    return client.post(change_url(job), {"CHANGE_FORM-action": action, "_selected_action": str(job.pk)})


@needs_change_form_actions
def test_retry_button_makes_a_failed_job_ready(operator):
    job = failed()
    response = post_button(operator, job, "retry_jobs")
    assert response.status_code == 302 and response.url == change_url(job)
    assert messages_of(response) == [f"Job {job.pk} retried."]
    job.refresh_from_db()
    assert (job.state, job.attempts_left, job.finished_at) == (JobState.READY, 1, None)


@needs_change_form_actions
def test_cancel_button_cancels_a_running_job_and_its_attempt(operator):
    job = running()
    response = post_button(operator, job, "cancel_jobs")
    assert messages_of(response) == [f"Job {job.pk} cancelled."]
    assert state(job) == JobState.CANCELLED
    assert job.runs.get().outcome == RunOutcome.CANCELLED


@needs_change_form_actions
def test_run_now_button_makes_a_scheduled_job_due(operator):
    job = scheduled()
    post_button(operator, job, "run_jobs_now")
    assert Job.objects.get(pk=job.pk).run_after <= timezone.now()


@needs_change_form_actions
def test_a_button_for_a_state_the_job_left_meanwhile_says_why(operator):
    job = failed()
    Job.objects.filter(pk=job.pk).update(state=JobState.SUCCEEDED)  # another operator retried it, and it ran
    response = post_button(operator, job, "retry_jobs")
    assert messages_of(response) == [
        f"Job {job.pk} was not retried: it is succeeded (only failed, cancelled or expired jobs can be retried)."
    ]
    assert state(job) == JobState.SUCCEEDED


# -- bulk actions ---------------------------------------------------------------------------------


def post_action(client, action, jobs, **extra):
    data = {"action": action, "_selected_action": [str(j.pk) for j in jobs], "index": "0", **extra}
    return client.post(url(CHANGELIST), data)


def test_bulk_cancel_reports_what_it_changed_and_why_it_skipped_the_rest(operator):
    waiting, held, done, broken = ready(), running(), finished(JobState.SUCCEEDED), failed()
    response = post_action(operator, "cancel_jobs", [waiting, held, done, broken])
    assert response.status_code == 302
    assert messages_of(response) == [
        "2 jobs cancelled, 2 skipped: 1 failed, 1 succeeded (only waiting, ready or running jobs can be cancelled)."
    ]
    assert [state(j) for j in (waiting, held, done, broken)] == ["cancelled", "cancelled", "succeeded", "failed"]


def waiting_behind(dependency):
    """A job of a workflow cancelled because ``dependency`` ended badly."""
    dependent = finished(JobState.CANCELLED)
    Dependency.objects.create(dependent=dependent, dependency=dependency, position=0)
    return dependent


def test_retrying_a_job_whose_dependency_failed_says_so(operator):
    dependent = waiting_behind(failed())
    response = post_action(operator, "retry_jobs", [dependent])
    assert messages_of(response) == [
        f"Job {dependent.pk} was not retried: a job it depends on is failed, cancelled or expired "
        "(retry that one first)."
    ]


def test_bulk_retry_counts_the_jobs_held_back_by_a_failed_dependency(operator):
    response = post_action(operator, "retry_jobs", [failed(), waiting_behind(failed())])
    assert messages_of(response) == [
        "1 job retried, 1 skipped: 1 depends on a failed job (only failed, cancelled or expired jobs can be retried)."
    ]


def test_bulk_retry(operator):
    jobs = [failed(), failed(), finished(JobState.CANCELLED), finished(JobState.EXPIRED)]
    held = running()
    response = post_action(operator, "retry_jobs", [*jobs, held])
    assert messages_of(response) == [
        "4 jobs retried, 1 skipped: 1 running (only failed, cancelled or expired jobs can be retried)."
    ]
    assert {state(j) for j in jobs} == {JobState.READY} and state(held) == JobState.RUNNING


def test_bulk_run_now(operator):
    later = [scheduled(), scheduled()]
    done = finished(JobState.SUCCEEDED)
    response = post_action(operator, "run_jobs_now", [*later, done])
    assert messages_of(response) == ["2 jobs made due now, 1 skipped: 1 succeeded (only ready jobs can be made due)."]
    assert all(Job.objects.get(pk=j.pk).run_after <= timezone.now() for j in later)


def test_bulk_action_over_every_filtered_job(operator):
    bad = [failed(queue_name="emails") for _ in range(3)]
    other = failed(queue_name="default")
    response = operator.post(
        url(CHANGELIST) + "?state__exact=failed&queue_name=emails",
        {"action": "retry_jobs", "_selected_action": [str(bad[0].pk)], "select_across": "1", "index": "0"},
    )
    assert messages_of(response) == ["3 jobs retried."]
    assert {state(j) for j in bad} == {JobState.READY} and state(other) == JobState.FAILED


def test_bulk_actions_stop_at_the_limit_and_say_so(operator, monkeypatch):
    monkeypatch.setattr(admin_actions, "ACTION_LIMIT", 2)
    jobs = [ready() for _ in range(3)]
    response = post_action(operator, "cancel_jobs", jobs)
    assert messages_of(response) == [
        "2 jobs cancelled. Only the first 2 selected jobs were handled: run the action again for the rest."
    ]
    assert sorted(state(j) for j in jobs) == ["cancelled", "cancelled", "ready"]


def retry_every_failed(client):
    """Retry, selecting across the list of failed jobs (every job the filter matches, not one page)."""
    return client.post(
        url(CHANGELIST) + "?state__exact=failed",
        {"action": "retry_jobs", "_selected_action": ["0"], "select_across": "1", "index": "0"},
    )


def test_bulk_retry_handles_every_selected_job_a_batch_at_a_time(operator, monkeypatch):
    monkeypatch.setattr(admin_actions, "ACTION_LIMIT", 2)
    jobs = [failed() for _ in range(5)]
    retry_every_failed(operator)
    assert {state(j) for j in jobs} == {JobState.READY}


def test_bulk_retry_over_several_batches_reports_the_whole(operator, monkeypatch):
    monkeypatch.setattr(admin_actions, "ACTION_LIMIT", 2)
    for _ in range(5):
        failed()
    assert messages_of(retry_every_failed(operator)) == ["5 jobs retried."]


def test_bulk_retry_over_several_batches_counts_the_skipped_of_each(operator, monkeypatch):
    monkeypatch.setattr(admin_actions, "ACTION_LIMIT", 2)
    jobs = [failed(), running(), failed(), running(), failed()]
    response = post_action(operator, "retry_jobs", jobs)
    assert messages_of(response) == [
        "3 jobs retried, 2 skipped: 2 running (only failed, cancelled or expired jobs can be retried)."
    ]


def test_bulk_delete_asks_first_then_deletes_through_the_service_and_skips_running_jobs(operator):
    done, broken, held = finished(JobState.SUCCEEDED), failed(), running()
    JobLog.objects.create(run=broken.runs.get(), created_at=timezone.now(), message="line")
    response = post_action(operator, "delete_jobs", [done, broken, held])
    assert response.status_code == 200
    content = response.content.decode()
    assert "Delete 3 jobs, with their attempts and log lines?" in content
    assert "1 running job will be skipped: cancel it first." in content
    assert Job.objects.count() == 3
    response = operator.post(
        url(CHANGELIST),
        {
            "action": "delete_jobs",
            "post": "yes",
            "select_across": "0",
            "_selected_action": [str(j.pk) for j in (done, broken, held)],
        },
    )
    assert messages_of(response) == [
        "2 jobs deleted, 1 skipped: 1 running (running jobs cannot be deleted: cancel them first)."
    ]
    assert list(Job.objects.values_list("pk", flat=True)) == [held.pk]
    assert not JobRun.objects.exclude(job=held).exists() and not JobLog.objects.exists()


def test_delete_page_of_one_job_goes_through_the_service(operator):
    job = failed()
    JobLog.objects.create(run=job.runs.get(), created_at=timezone.now(), message="line")
    delete = url("admin:django_jobs_job_delete", job.pk)
    assert "Are you sure" in operator.get(delete).content.decode()
    response = operator.post(delete, {"post": "yes"})
    assert response.status_code == 302 and not Job.objects.exists() and not JobLog.objects.exists()


def test_a_running_job_cannot_be_deleted(operator):
    job = running()
    assert url("admin:django_jobs_job_delete", job.pk) not in operator.get(change_url(job)).content.decode()
    assert operator.post(url("admin:django_jobs_job_delete", job.pk), {"post": "yes"}).status_code == 403
    assert Job.objects.filter(pk=job.pk).exists()


# -- permissions ---------------------------------------------------------------------------------


def action_choices(client):
    form = client.get(url(CHANGELIST)).context["action_form"]
    return [name for name, _label in form.fields["action"].choices][1:] if form else []


def test_viewers_see_jobs_but_no_actions(viewer):
    job = failed()
    assert viewer.get(url(CHANGELIST)).status_code == 200 and action_choices(viewer) == []
    response = viewer.get(change_url(job))
    assert response.status_code == 200 and response.context["job_buttons"] == []


def test_each_action_needs_its_permission():
    assert action_choices(staff_client("view_job", "cancel_job")) == ["cancel_jobs"]
    assert action_choices(staff_client("view_job", "retry_job", "run_job")) == ["retry_jobs", "run_jobs_now"]
    assert action_choices(staff_client(*ALL_PERMISSIONS)) == [
        "cancel_jobs",
        "retry_jobs",
        "run_jobs_now",
        "delete_jobs",
    ]


@pytest.mark.parametrize(
    "action, make",
    [("cancel_jobs", ready), ("retry_jobs", failed), ("run_jobs_now", scheduled), ("delete_jobs", failed)],
)
def test_posting_an_action_without_its_permission_is_forbidden(viewer, action, make):
    job = make()
    before = Job.objects.values().get(pk=job.pk)
    assert post_action(viewer, action, [job]).status_code == 403
    assert post_action(viewer, action, [job], post="yes").status_code == 403
    assert post_button(viewer, job, action).status_code == 403
    assert Job.objects.values().get(pk=job.pk) == before


def test_one_permission_does_not_open_the_others():
    job = failed()
    client = staff_client("view_job", "cancel_job")
    assert post_action(client, "retry_jobs", [job]).status_code == 403
    assert post_button(client, job, "retry_jobs").status_code == 403
    assert state(job) == JobState.FAILED


def test_users_without_the_view_permission_see_nothing():
    job = failed()
    client = staff_client("cancel_job")
    assert client.get(url(CHANGELIST)).status_code == 403
    assert client.get(change_url(job)).status_code == 403
    assert client.get(url("admin:django_jobs_dashboard")).status_code == 403
    anonymous = Client()
    assert anonymous.get(url(CHANGELIST)).status_code == 302  # to the login page
    assert anonymous.post(url(CHANGELIST), {"action": "cancel_jobs", "_selected_action": [job.pk]}).status_code == 302
    assert state(job) == JobState.FAILED


# -- the dashboard -----------------------------------------------------------------------------------


def test_app_index_links_the_dashboard(viewer):
    content = viewer.get(url("admin:app_list", "django_jobs")).content.decode()
    assert f'href="{url("admin:django_jobs_dashboard")}"' in content
    assert url("admin:django_jobs_dashboard") in viewer.get(url(CHANGELIST)).content.decode()


def test_dashboard_shows_each_queue_its_throughput_and_the_workers(operator):
    ready(queue_name="emails", run_after=timezone.now() - timedelta(minutes=5))
    scheduled(queue_name="emails")
    running(worker="host-a:1:abc", queue_name="default")
    WorkerFactory(worker_id="host-a:1:abc", running=1)
    for _ in range(3):
        finished(JobState.SUCCEEDED, queue_name="emails")
    failed(queue_name="emails")
    response = operator.get(url("admin:django_jobs_dashboard"))
    assert response.status_code == 200
    rows = {row["stats"].name: row for row in response.context["rows"]}
    assert list(rows) == ["default", "emails", "reports"]  # configured queues, even empty ones
    emails = rows["emails"]["stats"]
    assert (emails.ready, emails.due, emails.scheduled, emails.succeeded, emails.failed) == (2, 1, 1, 3, 1)
    assert 290 < emails.oldest_due_age < 400
    assert (rows["emails"]["chart"]["succeeded"], rows["emails"]["chart"]["failed"]) == (3, 1)
    assert rows["default"]["stats"].running == 1
    [worker] = [row["worker"] for row in response.context["workers"]]
    assert (worker.worker_id, worker.running) == ("host-a:1:abc", 1)
    content = response.content.decode()
    assert "<svg" in content and "<rect" in content and "http" not in content.split("<svg", 1)[1].split("</svg>")[0]
    assert "host-a:1:abc" in content and ">5m0" in content  # the oldest due job has waited 5m00s
    assert f"{url(CHANGELIST)}?state__exact=failed&amp;queue_name=emails" in content


def test_dashboard_costs_a_fixed_number_of_queries(admin_client):
    def queries():
        with CaptureQueriesContext(connection) as captured:
            admin_client.get(url("admin:django_jobs_dashboard"))
        return len(captured)

    failed()
    few = queries()
    for i in range(20):
        running(worker=f"w{i}", queue_name=["default", "emails"][i % 2])
        WorkerFactory(worker_id=f"w{i}")
        failed(queue_name="reports")
    # session, user, 4 counts, paused queues, throughput, the worker registry; then the timings
    # (django_jobs.timings): two histograms on PostgreSQL, the jobs' moments on SQLite; the functions' paths.
    timings = 3 if connection.vendor == "postgresql" else 2
    assert queries() == few == 9 + timings


def test_pause_and_resume_a_queue_from_the_dashboard(operator):
    pause = url("admin:django_jobs_pause")
    content = operator.get(url("admin:django_jobs_dashboard")).content.decode()
    assert f'action="{pause}"' in content and '<input type="hidden" name="queue" value="emails">' in content
    response = operator.post(pause, {"queue": "emails"})
    assert response.status_code == 302 and response.url == url("admin:django_jobs_dashboard")
    assert QueueState.objects.get(name="emails").paused
    assert messages_of(response) == ["Queue emails paused: workers stop claiming its jobs; running ones finish."]
    content = operator.get(url("admin:django_jobs_dashboard")).content.decode()
    assert "djobs-state-paused" in content and f'action="{url("admin:django_jobs_resume")}"' in content
    operator.post(url("admin:django_jobs_resume"), {"queue": "emails"})
    assert not QueueState.objects.get(name="emails").paused


def test_pausing_needs_the_permission_and_a_post(viewer, operator):
    assert "djobs-pause-button" not in viewer.get(url("admin:django_jobs_dashboard")).content.decode()
    assert viewer.post(url("admin:django_jobs_pause"), {"queue": "emails"}).status_code == 403
    assert operator.get(url("admin:django_jobs_pause"), {"queue": "emails"}).status_code == 405
    assert not QueueState.objects.filter(paused=True).exists()


def test_dashboard_refreshes_itself_only_when_asked(viewer):
    assert 'http-equiv="refresh"' not in viewer.get(url("admin:django_jobs_dashboard")).content.decode()
    content = viewer.get(url("admin:django_jobs_dashboard"), {"refresh": "5"}).content.decode()
    assert '<meta http-equiv="refresh" content="5">' in content
    content = viewer.get(url("admin:django_jobs_dashboard"), {"refresh": "0"}).content.decode()
    assert 'http-equiv="refresh"' not in content


# -- functions ------------------------------------------------------------------------------------------


def test_functions_list_counts_and_latest_failure(viewer):
    path = "tests.testapp.jobs.boom"
    ready(func__path=path)
    running(func__path=path)
    failed(error="first", func__path=path)
    latest = failed(error="the latest one", func__path=path)
    Job.objects.filter(pk=latest.pk).update(finished_at=timezone.now() + timedelta(seconds=1))
    FuncMapFactory(path="tests.testapp.jobs.add")
    response = viewer.get(url("admin:django_jobs_funcmap_changelist"))
    content = response.content.decode()
    boom = FuncMap.objects.get(path=path)
    figures = {f.path: f.figures for f in response.context["cl"].result_list}
    assert (figures[path].ready, figures[path].running, figures[path].failed) == (1, 1, 2)
    assert figures[path].last_failure_job_id == latest.pk and "ValueError: the latest one" in content
    assert f"?state__exact=failed&amp;func__id__exact={boom.pk}" in content
    assert figures["tests.testapp.jobs.add"].failed == 0


def test_functions_list_costs_the_same_for_many_functions(admin_client):
    def queries():
        with CaptureQueriesContext(connection) as captured:
            admin_client.get(url("admin:django_jobs_funcmap_changelist"))
        return len(captured)

    failed(func__path="tests.testapp.jobs.f0")
    few = queries()
    for i in range(15):
        failed(func__path=f"tests.testapp.jobs.g{i}")
        ready(func__path=f"tests.testapp.jobs.g{i}")
    assert queries() == few


def test_functions_cannot_be_deleted_or_edited(operator):
    func = FuncMapFactory(path="tests.testapp.jobs.add")
    client = Client()
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    assert client.post(url("admin:django_jobs_funcmap_delete", func.pk), {"post": "yes"}).status_code == 403
    assert FuncMap.objects.filter(pk=func.pk).exists()


def test_only_the_first_pages_are_offered(admin_client, monkeypatch):
    """A deep page is an OFFSET over every row before it: filters and search reach those jobs instead."""
    monkeypatch.setattr(EstimatedCountPaginator, "max_pages", 2)
    monkeypatch.setattr(JobAdmin, "list_per_page", 2)
    jobs = [ready() for _ in range(7)]
    response = admin_client.get(url(CHANGELIST), {"p": "2"})
    assert [j.pk for j in response.context["cl"].result_list] == [jobs[4].pk, jobs[3].pk]
    content = response.content.decode()
    assert "7 jobs" in content and "(the first 2 pages: filter or search to reach the others)" in content
    assert admin_client.get(url(CHANGELIST), {"p": "3"}).status_code == 302  # Django's "?e=1" for a bad page


def test_actions_leave_a_trace_in_each_jobs_history(operator):
    from django.contrib.admin.models import LogEntry

    retried, deleted = failed(), finished(JobState.SUCCEEDED)
    post_action(operator, "retry_jobs", [retried])
    operator.post(url(CHANGELIST), {"action": "delete_jobs", "post": "yes", "_selected_action": [str(deleted.pk)]})
    entries = {(e.object_id, e.get_change_message(), e.user.username) for e in LogEntry.objects.all()}
    assert entries == {(str(retried.pk), "Retried.", "operator"), (str(deleted.pk), "", "operator")}
    history = operator.get(url("admin:django_jobs_job_history", retried.pk)).content.decode()
    assert "Retried." in history


def test_only_known_queues_can_be_paused(operator):
    finished(JobState.SUCCEEDED, queue_name="legacy")  # no longer in QUEUES, nothing waiting
    waiting = ready(queue_name="old")
    content = operator.get(url("admin:django_jobs_dashboard")).content.decode()
    assert 'name="queue" value="legacy"' not in content and 'name="queue" value="old"' in content
    assert operator.post(url("admin:django_jobs_pause"), {"queue": "legacy"}).status_code == 404
    assert operator.post(url("admin:django_jobs_pause"), {"queue": "no-such-queue"}).status_code == 404
    assert operator.post(url("admin:django_jobs_pause"), {"queue": waiting.queue_name}).status_code == 302
    assert list(QueueState.objects.values_list("name", "paused")) == [("old", True)]


def test_job_page_shows_the_first_log_lines_of_each_attempt(admin_client, monkeypatch):
    monkeypatch.setattr(job_pages, "LOG_LINES_SHOWN", 2)
    job = failed()
    second = JobRunFactory(job=job, attempt=2, outcome=RunOutcome.FAILED)
    for run in (job.runs.get(attempt=1), second):
        for i in range(3):
            JobLog.objects.create(run=run, created_at=timezone.now(), message=f"attempt {run.attempt} line {i}")
    runs = admin_client.get(change_url(job)).context["runs"]
    assert [[line.message for line in run.lines] for run in runs] == [
        ["attempt 2 line 0", "attempt 2 line 1"],
        ["attempt 1 line 0", "attempt 1 line 1"],
    ]
    assert all(run.more_lines for run in runs)
