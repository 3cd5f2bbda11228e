"""
The operator's console in headless Chromium (issue 14's "done when"): a
running job's page and the dashboard update without a reload; schedules
added, run, paused and changed in the admin with two workers; two live
workers, one killed and seen gone; a job found by an argument's value; 2,500
failed jobs retried from one filter.
"""

import signal
import time
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from django.utils import timezone

pytest.importorskip("selenium", reason="browser tests: selenium is not installed (pip install -e '.[test]')")

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.select import Select

import django_jobs
from django_jobs.models import Job, JobLog, Schedule, Worker, WorkerState
from django_jobs.states import JobState, RunOutcome
from tests.browser import factories
from tests.browser.test_admin_browser import (
    OPERATOR,
    click_and_wait,
    full_page_screenshot,
    log_in,
    messages,
    open_page,
    wait,
)
from tests.conftest import wait_until
from tests.factories import FuncMapFactory, JobFactory, JobRunFactory
from tests.testapp import jobs
from tests.testapp.models import Execution

pytestmark = pytest.mark.django_db(transaction=True)


def running_job():
    now = timezone.now()
    job = JobFactory(
        state=JobState.RUNNING,
        attempts=1,
        max_attempts=1,
        attempts_left=0,
        worker_id="w1",
        started_at=now,
        last_attempted_at=now,
        grabbed_until=now + timedelta(minutes=5),
    )
    run = JobRunFactory(job=job, attempt=1, worker_id="w1")
    JobLog.objects.create(run=run, created_at=now, level=20, logger="app", message="started the import")
    return job, run


def test_a_running_jobs_page_shows_new_log_lines_and_its_end_without_a_reload(browser, screenshots):
    factories.user("operator", *OPERATOR)
    job, run = running_job()
    log_in(browser, "operator")
    open_page(browser, f"/admin/django_jobs/job/{job.pk}/change/")
    assert django_jobs.logs(job.pk)[0].message == "started the import"
    browser.execute_script("window.notReloaded = true;")
    JobLog.objects.create(run=run, created_at=timezone.now(), level=30, logger="app", message="row 7 skipped")
    wait(browser, EC.text_to_be_present_in_element((By.CSS_SELECTOR, ".djobs-live-lines"), "row 7 skipped"))
    full_page_screenshot(browser, screenshots / "job-live.png", max_height=900)
    Job.objects.filter(pk=job.pk).update(state=JobState.SUCCEEDED, finished_at=timezone.now())
    run.outcome, run.finished_at = RunOutcome.SUCCEEDED, timezone.now()
    run.save()
    wait(browser, EC.visibility_of_element_located((By.CSS_SELECTOR, ".djobs-live-done")))
    line = browser.find_element(By.CSS_SELECTOR, ".djobs-live-lines tr").text
    seen = {
        "new line": line.split(" ", 1)[1],  # after its time
        "state": browser.find_element(By.CSS_SELECTOR, "[data-live=state]").text,
        "same page": browser.execute_script("return window.notReloaded === true;"),
    }
    assert seen == {"new line": "#1 WARNING app row 7 skipped", "state": "Succeeded", "same page": True}


# -- schedules: added in the admin, run once per occurrence by two workers, paused, changed ---------------


def occurrences():
    keys = Job.objects.filter(uniqkey__startswith="recurring:schedule:tick:").values_list("uniqkey", flat=True)
    return sorted(datetime.fromisoformat(key.removeprefix("recurring:schedule:tick:")) for key in keys)


def run_action(browser, action, *names):
    """On the schedules page: select these schedules, choose the action, Go."""
    open_page(browser, "/admin/django_jobs/schedule/")
    for row in browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr"):
        if row.find_element(By.CSS_SELECTOR, "th").text in names:
            row.find_element(By.CSS_SELECTOR, "input.action-select").click()
    Select(browser.find_element(By.NAME, "action")).select_by_value(action)
    click_and_wait(browser, browser.find_element(By.CSS_SELECTOR, "#changelist-form button[name=index]"))


def test_a_schedule_added_in_the_admin_runs_once_per_occurrence_with_two_workers_pauses_and_changes(
    browser, workers, screenshots
):
    factories.user("admin", superuser=True)
    procs = [workers.start("--concurrency", "2") for _ in range(2)]
    log_in(browser, "admin")
    open_page(browser, "/admin/django_jobs/schedule/add/")
    for name, value in (
        ("name", "tick"),
        ("task", "tests.testapp.jobs.record"),
        ("cron", "* * * * * *"),
        ("kwargs", '{"label": "tick"}'),
    ):
        field = browser.find_element(By.NAME, name)
        field.clear()
        field.send_keys(value)
    click_and_wait(browser, browser.find_element(By.NAME, "_save"))
    assert messages(browser)[0].startswith("The schedule “tick” was added successfully.")
    wait_until(lambda: len(occurrences()) >= 4, timeout=30, message="four occurrences")

    run_action(browser, "disable", "tick")
    assert messages(browser) == ["1 schedule disabled."]
    paused_at = datetime.now(UTC)
    time.sleep(1.0)  # a tick that had read the schedule before may still enqueue this second
    during = occurrences()
    time.sleep(2.5)
    assert occurrences() == during
    assert during[-1] <= paused_at + timedelta(seconds=1)

    open_page(browser, f"/admin/django_jobs/schedule/{Schedule.objects.get(name='tick').pk}/change/")
    cron = browser.find_element(By.NAME, "cron")
    cron.clear()
    cron.send_keys("* * * * * */2")  # the sixth field: seconds
    browser.find_element(By.NAME, "enabled").click()
    click_and_wait(browser, browser.find_element(By.NAME, "_save"))
    wait_until(lambda: len(occurrences()) >= len(during) + 3, timeout=30, message="three more occurrences")
    open_page(browser, "/admin/django_jobs/schedule/")
    full_page_screenshot(browser, screenshots / "schedules.png", max_height=900)
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        assert proc.wait(30) == 0

    times = occurrences()
    before, after = times[: len(during)], times[len(during) :]
    executions = list(Execution.objects.filter(label="tick").values_list("job_id", flat=True))
    seen = {
        "jobs per occurrence": Job.objects.count() / len(times),
        "every second, then": {b - a for a, b in pairwise(before)},
        "every other second, after": {b - a for a, b in pairwise(after)},
        "nothing caught up while paused": after[0] - before[-1] > timedelta(seconds=3),
        "each job ran once": len(executions) == len(set(executions)),
    }
    assert seen == {
        "jobs per occurrence": 1.0,
        "every second, then": {timedelta(seconds=1)},
        "every other second, after": {timedelta(seconds=2)},
        "nothing caught up while paused": True,
        "each job ran once": True,
    }


# -- workers: two live ones, one SIGKILLed and seen gone ------------------------------------------------------


def dashboard_workers(browser):
    """{pid: status} of the dashboard's workers table now, read in one go (the script redraws it)."""
    rows = browser.execute_script(
        "return Array.from(document.querySelectorAll('.djobs-workers tbody tr.djobs-worker'))"
        ".map(row => [row.cells[3].textContent.trim(), row.cells[1].textContent.trim()]);"
    )
    return {int(pid): status for pid, status in rows}


def test_two_live_workers_one_killed_and_seen_gone_without_a_reload(browser, workers, screenshots):
    factories.user("operator", *OPERATOR, "view_worker")
    procs = [workers.start("--concurrency", "2") for _ in range(2)]
    pids = [proc.pid for proc in procs]
    wait_until(lambda: Worker.objects.filter(pid__in=pids, status=WorkerState.RUNNING).count() == 2, timeout=30)
    log_in(browser, "operator")
    open_page(browser, "/admin/django_jobs/job/dashboard/")
    browser.execute_script("window.notReloaded = true;")
    wait(browser, lambda b: dashboard_workers(b) == {pids[0]: "Running", pids[1]: "Running"}, timeout=20)

    procs[0].send_signal(signal.SIGKILL)
    procs[0].wait(10)
    wait(browser, lambda b: dashboard_workers(b) == {pids[0]: "Gone", pids[1]: "Running"}, timeout=30)
    assert browser.execute_script("return window.notReloaded === true;")
    full_page_screenshot(browser, screenshots / "dashboard-live.png")

    open_page(browser, "/admin/django_jobs/worker/")
    rows = {row.text.split()[0]: row.text for row in browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")}
    full_page_screenshot(browser, screenshots / "workers.png", max_height=700)
    killed = Worker.objects.get(pid=pids[0])
    assert ("Gone" in rows[killed.worker_id], killed.status) == (True, WorkerState.GONE)


# -- search by an argument's value --------------------------------------------------------------------------------


def search(browser, term):
    box = browser.find_element(By.ID, "searchbar")
    box.clear()
    box.send_keys(term)
    click_and_wait(browser, browser.find_element(By.CSS_SELECTOR, "#changelist-search [type=submit]"))
    return [int(a.text) for a in browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr th a")]


def test_a_job_is_found_by_an_argument_value(browser):
    factories.user("operator", *OPERATOR)
    wanted = jobs.add.enqueue(41, 1)
    by_keyword = jobs.add.enqueue(a=5, b=99)
    jobs.add.enqueue(7, 8)
    second = jobs.add.enqueue(1, 41)  # 41 as its second argument: a positional search matches any position
    log_in(browser, "operator")
    open_page(browser, "/admin/django_jobs/job/")
    found = {"args:41": search(browser, "args:41"), "kwargs:b=99": search(browser, "kwargs:b=99")}
    assert found == {"args:41": [int(second.id), int(wanted.id)], "kwargs:b=99": [int(by_keyword.id)]}


# -- retry 2,500 failed jobs from one filter ------------------------------------------------------------------------


def failed_jobs(count, queue_name):
    func = FuncMapFactory(path="tests.testapp.jobs.add")
    now = timezone.now()
    Job.objects.bulk_create(
        Job(
            func=func,
            args=[1, 2],
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


def test_2500_failed_jobs_retried_from_one_filter(browser, workers, screenshots):
    factories.user("operator", *OPERATOR)
    failed_jobs(2500, "emails")
    failed_jobs(30, "reports")
    log_in(browser, "operator")
    open_page(browser, "/admin/django_jobs/job/?state__exact=failed")
    filters = browser.find_element(By.ID, "changelist-filter")
    click_and_wait(browser, filters.find_element(By.LINK_TEXT, "emails"))
    click_and_wait(browser, browser.find_element(By.CSS_SELECTOR, "form.djobs-retry-matching button"))
    retrying = Job.objects.get(func__path="django_jobs.operator_tasks.retry_matching")
    assert messages(browser) == [
        f"Retrying every failed job matching this filter in the background: see job {retrying.pk}."
    ]
    full_page_screenshot(browser, screenshots / "retry-matching.png", max_height=700)
    ran = workers.burst("--queue", "default", timeout=300)
    assert ran.returncode == 0, ran.stdout + ran.stderr

    click_and_wait(browser, browser.find_element(By.LINK_TEXT, str(retrying.pk)))
    lines = browser.find_element(By.CSS_SELECTOR, "#attempt-1 .djobs-logs").text
    states = dict(Job.objects.filter(func__path="tests.testapp.jobs.add").values_list("queue_name", "state").distinct())
    seen = {
        "page": browser.find_element(By.CSS_SELECTOR, "fieldset .djobs-state").text,
        "last progress line": "Retried 2500 of 2500 jobs (0 skipped: changed meanwhile)." in lines,
        "emails ready": Job.objects.filter(queue_name="emails", state=JobState.READY).count(),
        "states by queue": states,
    }
    assert seen == {
        "page": "Succeeded",
        "last progress line": True,
        "emails ready": 2500,
        "states by queue": {"emails": JobState.READY, "reports": JobState.FAILED},
    }
