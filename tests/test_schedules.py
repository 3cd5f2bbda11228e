"""
Schedules stored in the database: run by the scheduler leader by the rules of
RECURRING entries, edited in the admin (checked like an entry: a bad one is a
form error and nothing is saved), and with real workers.
"""

import copy
import signal
import time
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse

from django_jobs.models import Job, RecurringState, Schedule
from django_jobs.schedules import DatabaseSchedules
from django_jobs.states import JobState
from tests.conftest import drain, wait_until
from tests.testapp.models import Execution

CHANGELIST = reverse("admin:django_jobs_schedule_changelist")
ADD = reverse("admin:django_jobs_schedule_add")


def at(*args):
    return datetime(2026, 1, 10, *args, tzinfo=UTC)


def tick(now):
    return DatabaseSchedules("default").run(now=now)


def nightly(**fields):
    defaults = {
        "name": "nightly",
        "task": "tests.testapp.jobs.send_email",
        "cron": "0 3 * * *",
        "args": ["boss@example.com"],
        "kwargs": {"subject": "nightly"},
    }
    return Schedule.objects.create(**{**defaults, **fields})


def uniqkeys():
    return list(Job.objects.order_by("id").values_list("uniqkey", flat=True))


@pytest.mark.django_db
class TestTicks:
    def test_a_schedule_begins_at_its_first_tick_and_enqueues_each_occurrence_once(self):
        schedule = nightly(queue_name="reports", priority=5)
        assert tick(at(12, 0)) == 0
        assert tick(at(23, 0)) == 0
        assert tick(datetime(2026, 1, 11, 3, 0, 1, tzinfo=UTC)) == 1
        assert tick(datetime(2026, 1, 11, 3, 0, 2, tzinfo=UTC)) == 0
        job = Job.objects.get()
        assert (job.args, job.kwargs, job.queue_name, job.priority) == (
            ["boss@example.com"],
            {"subject": "nightly"},
            "reports",
            5,
        )
        assert job.uniqkey == "recurring:schedule:nightly:2026-01-11T03:00:00+00:00"
        schedule.refresh_from_db()
        assert schedule.last_run == datetime(2026, 1, 11, 3, 0, 1, tzinfo=UTC)
        assert schedule.next_run == datetime(2026, 1, 12, 3, 0, tzinfo=UTC)

    def test_a_disabled_schedule_enqueues_nothing_and_does_not_catch_up_when_enabled(self):
        schedule = nightly(cron="*/10 * * * *")
        tick(at(12, 0))
        Schedule.objects.filter(pk=schedule.pk).update(enabled=False)
        assert tick(at(12, 10, 5)) == 0
        assert tick(at(12, 20, 5)) == 0
        Schedule.objects.filter(pk=schedule.pk).update(enabled=True)
        assert tick(at(12, 20, 30)) == 0  # 12:10 and 12:20 came while disabled: skipped
        assert tick(at(12, 30, 1)) == 1
        assert uniqkeys() == ["recurring:schedule:nightly:2026-01-10T12:30:00+00:00"]

    def test_a_changed_cron_takes_effect_at_the_next_tick(self):
        schedule = nightly(cron="0 * * * *")
        tick(at(12, 0, 30))
        Schedule.objects.filter(pk=schedule.pk).update(cron="*/15 * * * *")
        assert tick(at(12, 15, 1)) == 1
        assert uniqkeys() == ["recurring:schedule:nightly:2026-01-10T12:15:00+00:00"]

    def test_a_schedule_and_a_settings_entry_of_the_same_name_keep_apart(self):
        nightly()
        tick(at(12, 0))
        assert list(RecurringState.objects.values_list("name", flat=True)) == ["schedule:nightly"]

    def test_a_schedule_that_became_unusable_is_skipped_and_the_others_run(self, caplog):
        nightly(name="broken", task="tests.testapp.jobs.no_such_task")
        nightly(cron="*/10 * * * *")
        tick(at(12, 0))
        assert tick(at(12, 10, 1)) == 1
        assert "Schedule 'broken'" in caplog.text

    def test_a_broken_schedule_is_logged_once_not_at_every_tick(self, caplog):
        nightly(name="broken", task="tests.testapp.jobs.no_such_task")
        schedules = DatabaseSchedules("default")
        for second in range(3):
            schedules.run(now=at(12, 0, second))
        assert caplog.text.count("Schedule 'broken'") == 1


# -- the admin -------------------------------------------------------------------------------


def staff_client(*codenames):
    user = User.objects.create_user("staff-" + "-".join(codenames), password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="django_jobs", codename__in=codenames))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def editor():
    return staff_client("view_schedule", "add_schedule", "change_schedule", "run_schedule")


def form(**fields):
    data = {
        "name": "nightly",
        "task": "tests.testapp.jobs.send_email",
        "cron": "0 3 * * *",
        "timezone": "Europe/Paris",
        "args": '["boss@example.com"]',
        "kwargs": '{"subject": "nightly"}',
        "queue_name": "",
        "priority": "",
        "enabled": "on",
    }
    return {**data, **fields}


def form_errors(response):
    return {field: list(errors) for field, errors in response.context["adminform"].form.errors.items()}


@pytest.mark.django_db
class TestAdmin:
    def test_a_good_schedule_is_saved(self, editor):
        response = editor.post(ADD, form())
        assert response.status_code == 302
        schedule = Schedule.objects.get()
        assert (schedule.timezone, schedule.args, schedule.kwargs) == (
            "Europe/Paris",
            ["boss@example.com"],
            {"subject": "nightly"},
        )

    def test_empty_arguments_are_none(self, editor):
        editor.post(ADD, form(task="tests.testapp.jobs.boom", args="", kwargs=""))
        assert Schedule.objects.values_list("args", "kwargs").get() == ([], {})

    @pytest.mark.parametrize(
        "fields, field, words",
        [
            ({"cron": "0 25 * * *"}, "cron", "bad cron expression '0 25 * * *'"),
            ({"timezone": "Mars/Olympus"}, "timezone", "unknown timezone 'Mars/Olympus'"),
            ({"args": "[]"}, "args", "to"),  # send_email needs its recipient
            ({"args": '["a", "b", "c"]'}, "args", "argument"),
            ({"kwargs": '{"colour": 1}'}, "args", "colour"),
            ({"args": '{"to": 1}'}, "args", "'args' must be a list"),
            ({"task": "tests.testapp.jobs.nothing"}, "task", "cannot be imported"),
            ({"queue_name": "nowhere"}, "args", "nowhere"),
        ],
    )
    def test_a_bad_schedule_is_a_form_error_and_nothing_is_saved(self, editor, fields, field, words):
        response = editor.post(ADD, form(**fields))
        assert response.status_code == 200
        errors = form_errors(response)
        assert field in errors and words in " ".join(errors[field]), errors
        assert not Schedule.objects.exists()

    def test_json_that_does_not_parse_is_a_form_error(self, editor):
        response = editor.post(ADD, form(args="[1,"))
        assert "args" in form_errors(response)
        assert not Schedule.objects.exists()

    def test_a_bad_change_keeps_the_schedule_as_it_was(self, editor):
        schedule = nightly()
        editor.post(reverse("admin:django_jobs_schedule_change", args=[schedule.pk]), form(cron="61 * * * *"))
        assert Schedule.objects.get().cron == "0 3 * * *"

    def test_run_now_enqueues_one_job_with_the_schedules_arguments(self, editor):
        schedule = nightly()
        response = editor.post(CHANGELIST, {"action": "run_selected_now", "_selected_action": [schedule.pk]})
        assert response.status_code == 302
        job = Job.objects.select_related("func").get()
        assert (job.func.path, job.args, job.kwargs, job.state) == (
            "tests.testapp.jobs.send_email",
            ["boss@example.com"],
            {"subject": "nightly"},
            JobState.READY,
        )

    def test_run_now_needs_its_permission(self):
        schedule = nightly()
        client = staff_client("view_schedule", "change_schedule")
        client.post(CHANGELIST, {"action": "run_selected_now", "_selected_action": [schedule.pk]})
        assert not Job.objects.exists()

    def test_disable_and_enable(self, editor):
        schedule = nightly()
        editor.post(CHANGELIST, {"action": "disable", "_selected_action": [schedule.pk]})
        assert not Schedule.objects.get().enabled
        editor.post(CHANGELIST, {"action": "enable", "_selected_action": [schedule.pk]})
        assert Schedule.objects.get().enabled

    def test_a_viewer_can_neither_enable_nor_disable(self):
        schedule = nightly()
        staff_client("view_schedule").post(CHANGELIST, {"action": "disable", "_selected_action": [schedule.pk]})
        assert Schedule.objects.get().enabled

    def test_settings_entries_are_listed_read_only(self, editor, settings):
        tasks = copy.deepcopy(settings.TASKS)
        tasks["default"]["OPTIONS"]["RECURRING"] = {
            "from-settings": {"task": "tests.testapp.jobs.add", "cron": "0 4 * * *", "args": [1, 2]}
        }
        settings.TASKS = tasks
        content = editor.get(CHANGELIST).content.decode()
        assert "<td>from-settings</td>" in content
        assert reverse("admin:django_jobs_schedule_change", args=["from-settings"]) not in content


# -- real workers ----------------------------------------------------------------------------


def occurrences():
    keys = Job.objects.filter(uniqkey__startswith="recurring:schedule:tick:").values_list("uniqkey", flat=True)
    return sorted(datetime.fromisoformat(key.removeprefix("recurring:schedule:tick:")) for key in keys)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_schedule_added_in_the_database_runs_once_per_occurrence_with_two_workers(workers):
    procs = [workers.start("--concurrency", "2") for _ in range(2)]
    schedule = Schedule.objects.create(
        name="tick", task="tests.testapp.jobs.record", cron="* * * * * *", kwargs={"label": "tick"}
    )
    wait_until(lambda: len(occurrences()) >= 4, timeout=30, message="four occurrences")
    # Disabled: no more occurrences after the next tick.
    Schedule.objects.filter(pk=schedule.pk).update(enabled=False)
    paused_at = datetime.now(UTC)
    time.sleep(1.0)
    during = occurrences()
    time.sleep(2.5)
    assert occurrences() == during
    assert during[-1] <= paused_at + timedelta(seconds=1)
    # Enabled again with another cron: every other second, from now on.
    Schedule.objects.filter(pk=schedule.pk).update(enabled=True, cron="* * * * * */2")
    wait_until(lambda: len(occurrences()) >= len(during) + 3, timeout=30, message="three more occurrences")
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        assert proc.wait(30) == 0

    times = occurrences()
    before, after = times[: len(during)], times[len(during) :]
    assert len(times) == Job.objects.count()  # one job per occurrence, however many workers
    assert [b - a for a, b in pairwise(before)] == [timedelta(seconds=1)] * (len(before) - 1)
    assert [b - a for a, b in pairwise(after)] == [timedelta(seconds=2)] * (len(after) - 1)
    assert after[0] - before[-1] > timedelta(seconds=3)  # nothing caught up from the paused seconds
    Schedule.objects.filter(pk=schedule.pk).update(enabled=False)  # the in-process worker below leads too
    drain()
    assert occurrences() == times
    executions = list(Execution.objects.filter(label="tick").values_list("job_id", flat=True))
    assert len(executions) == len(set(executions)) == len(times)
