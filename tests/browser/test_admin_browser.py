"""
An operator in a real browser (headless Chromium) against a live server, with
real worker processes: find a failed job, read its traceback, retry it and see
it succeed; cancel a waiting job; a user without the permissions cannot; and
the screenshots of docs/screenshots.
"""

import struct
from datetime import timedelta

import pytest
from django.utils import timezone

pytest.importorskip("selenium", reason="browser tests: selenium is not installed (pip install -e '.[test]')")

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.ui import WebDriverWait

import django_jobs
from django_jobs.models import Job, JobRun
from django_jobs.states import JobState, RunOutcome
from tests.browser import factories
from tests.testapp import jobs

pytestmark = pytest.mark.django_db(transaction=True)

OPERATOR = ("view_job", "cancel_job", "retry_job", "run_job", "delete_job", "view_funcmap", "change_queuestate")


# -- driving the browser ------------------------------------------------------------------------


def wait(browser, condition, timeout=15):
    return WebDriverWait(browser, timeout).until(condition)


def open_page(browser, path):
    browser.get(browser.live_server.url + path)
    wait(browser, EC.presence_of_element_located((By.ID, "content")))


def click_and_wait(browser, element):
    """Click something that loads a new page, and wait until it has."""
    page = browser.find_element(By.TAG_NAME, "html")
    element.click()
    wait(browser, EC.staleness_of(page))
    wait(browser, EC.presence_of_element_located((By.ID, "content")))


def log_in(browser, username):
    open_page(browser, "/admin/login/?next=/admin/")
    browser.find_element(By.NAME, "username").send_keys(username)
    browser.find_element(By.NAME, "password").send_keys(username)
    click_and_wait(browser, browser.find_element(By.CSS_SELECTOR, "#login-form [type=submit]"))
    assert browser.find_elements(By.ID, "user-tools"), "not logged in"


def messages(browser):
    return [li.text for li in browser.find_elements(By.CSS_SELECTOR, ".messagelist li")]


def post_from_page(browser, path, data):
    """POST a form with the page's CSRF token, as a hand-made request would: returns the status."""
    return browser.execute_async_script(
        """
        const [path, data, done] = arguments;
        const token = document.cookie.match(/csrftoken=([^;]+)/)[1];
        const body = new URLSearchParams({...data, csrfmiddlewaretoken: token});
        fetch(path, {method: "POST", body, credentials: "same-origin", redirect: "manual"})
            .then(response => done(response.status), error => done(String(error)));
        """,
        path,
        data,
    )


def job_state(pk):
    return Job.objects.get(pk=pk).state


# -- an operator's incident ----------------------------------------------------------------------


def test_operator_finds_a_failed_job_reads_its_traceback_retries_it_and_sees_it_succeed(browser, workers):
    factories.user("operator", *OPERATOR)
    broken = django_jobs.enqueue("tests.testapp.jobs.flaky", args=[1], max_attempts=1)  # fails once, then works
    jobs.add.enqueue(2, 3)
    burst = workers.burst()
    assert burst.returncode == 0, burst.stderr
    assert job_state(broken.id) == JobState.FAILED

    log_in(browser, "operator")
    open_page(browser, "/admin/django_jobs/job/")
    click_and_wait(
        browser, browser.find_element(By.CSS_SELECTOR, "#changelist-filter").find_element(By.LINK_TEXT, "Failed")
    )
    rows = browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    assert len(rows) == 1
    assert "tests.testapp.jobs.flaky" in rows[0].text and "RuntimeError: attempt 1 fails" in rows[0].text

    click_and_wait(browser, rows[0].find_element(By.LINK_TEXT, str(broken.id)))
    traceback = browser.find_element(By.CSS_SELECTOR, "#attempt-1 .djobs-traceback pre").text
    assert traceback.startswith("Traceback (most recent call last)")
    assert 'raise RuntimeError(f"attempt {done + 1} fails")' in traceback
    assert traceback.rstrip().endswith("RuntimeError: attempt 1 fails")
    assert not browser.find_elements(By.CSS_SELECTOR, "button[value=cancel_jobs]")  # a failed job: retry only

    click_and_wait(browser, browser.find_element(By.CSS_SELECTOR, "button[value=retry_jobs]"))
    assert messages(browser) == [f"Job {broken.id} retried."]
    assert job_state(broken.id) == JobState.READY
    assert browser.find_element(By.CSS_SELECTOR, "fieldset .djobs-state").text == "Ready"

    burst = workers.burst()
    assert burst.returncode == 0, burst.stderr
    browser.refresh()
    wait(browser, EC.text_to_be_present_in_element((By.CSS_SELECTOR, "fieldset .djobs-state"), "Succeeded"))
    assert browser.find_element(By.CSS_SELECTOR, "#attempts h2").text.lower() == "2 attempts"
    assert browser.find_element(By.CSS_SELECTOR, "#attempt-2 .djobs-state").text == "Succeeded"
    assert Job.objects.get(pk=broken.id).return_value == 2


def test_operator_cancels_a_waiting_job_and_no_worker_runs_it(browser, workers):
    factories.user("operator", *OPERATOR)
    later = jobs.add.using(run_after=timezone.now() + timedelta(hours=1)).enqueue(1, 2)
    other = jobs.add.using(run_after=timezone.now() + timedelta(hours=1)).enqueue(3, 4)

    log_in(browser, "operator")
    open_page(browser, "/admin/django_jobs/job/?state__exact=ready")
    browser.find_element(By.CSS_SELECTOR, f"input.action-select[value='{later.id}']").click()
    Select(browser.find_element(By.NAME, "action")).select_by_value("cancel_jobs")
    click_and_wait(browser, browser.find_element(By.CSS_SELECTOR, ".actions button[name=index]"))
    assert messages(browser) == [f"Job {later.id} cancelled."]
    assert (job_state(later.id), job_state(other.id)) == (JobState.CANCELLED, JobState.READY)

    open_page(browser, f"/admin/django_jobs/job/{other.id}/change/")
    click_and_wait(browser, browser.find_element(By.CSS_SELECTOR, "button[value=run_jobs_now]"))
    assert messages(browser) == [f"Job {other.id} made due now."]
    burst = workers.burst()
    assert burst.returncode == 0, burst.stderr
    assert (job_state(later.id), job_state(other.id)) == (JobState.CANCELLED, JobState.SUCCEEDED)
    assert not JobRun.objects.filter(job_id=later.id).exists()


def test_a_user_without_the_permissions_cannot_retry_or_cancel(browser):
    factories.user("viewer", "view_job")
    broken = factories.logged_failure()
    waiting = jobs.add.using(run_after=timezone.now() + timedelta(hours=1)).enqueue(1, 2)

    log_in(browser, "viewer")
    open_page(browser, f"/admin/django_jobs/job/{broken.pk}/change/")
    assert "payment gateway did not answer" in browser.find_element(By.CSS_SELECTOR, ".djobs-traceback pre").text
    assert not browser.find_elements(By.CSS_SELECTOR, ".djobs-job-actions button")
    open_page(browser, "/admin/django_jobs/job/")
    assert not browser.find_elements(By.NAME, "action")  # no action menu at all

    # Posting anyway, as a crafted request would, is refused.
    change = f"/admin/django_jobs/job/{broken.pk}/change/"
    assert (
        post_from_page(browser, change, {"CHANGE_FORM-action": "retry_jobs", "_selected_action": str(broken.pk)}) == 403
    )
    assert (
        post_from_page(
            browser,
            "/admin/django_jobs/job/",
            {"action": "cancel_jobs", "_selected_action": str(waiting.id), "index": "0"},
        )
        == 403
    )
    assert post_from_page(browser, "/admin/django_jobs/job/dashboard/pause/", {"queue": "emails"}) == 403
    assert (job_state(broken.pk), job_state(waiting.id)) == (JobState.FAILED, JobState.READY)


# -- the dashboard, and the screenshots of the docs ------------------------------------------------------


def full_page_screenshot(browser, path, max_height=2600):
    """The whole page (up to ``max_height``), not just the window: the window is made as tall first."""
    browser.set_window_size(1440, 900)
    content, chrome = browser.execute_script(
        "return [document.getElementById('content').getBoundingClientRect().bottom + window.scrollY,"
        " window.outerHeight - window.innerHeight]"
    )
    browser.set_window_size(1440, int(min(max(content + 30, 600), max_height) + chrome))
    browser.save_screenshot(str(path))
    browser.set_window_size(1440, 900)
    with open(path, "rb") as f:
        header = f.read(24)
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", header[16:24])  # width, height


def test_dashboard_pause_and_the_screenshots(browser, screenshots):
    factories.user("admin", superuser=True)
    factories.history()
    factories.waiting()
    broken = factories.logged_failure()
    factories.running()

    log_in(browser, "admin")
    browser.execute_script("localStorage.setItem('django.admin.navSidebarIsOpen', 'false')")
    open_page(browser, "/admin/django_jobs/")
    click_and_wait(browser, browser.find_element(By.LINK_TEXT, "Dashboard"))
    row = browser.find_element(By.ID, "queue-reports")
    click_and_wait(browser, row.find_element(By.CSS_SELECTOR, ".djobs-pause-button"))
    assert messages(browser) == ["Queue reports paused: workers stop claiming its jobs; running ones finish."]
    assert browser.find_element(By.CSS_SELECTOR, "#queue-reports .djobs-state").text == "paused"
    assert browser.find_element(By.CSS_SELECTOR, "#queue-reports .djobs-pause-button").text == "Resume"
    charts = browser.find_elements(By.CSS_SELECTOR, "svg.djobs-chart rect, svg.djobs-spark rect")
    assert len(charts) > 60
    workers = browser.find_element(By.CSS_SELECTOR, ".djobs-workers tbody").text
    assert "web-1:4242:a1b2c3" in workers and "ago" in workers

    open_page(browser, "/admin/django_jobs/job/dashboard/")  # without the message, for the picture
    assert full_page_screenshot(browser, screenshots / "dashboard.png")[0] == 1440
    open_page(browser, "/admin/django_jobs/job/")
    assert "Failed" in browser.find_element(By.ID, "result_list").text
    assert full_page_screenshot(browser, screenshots / "changelist.png", max_height=1000)[0] == 1440
    open_page(browser, f"/admin/django_jobs/job/{broken.pk}/change/")
    assert browser.find_elements(By.CSS_SELECTOR, "button[value=retry_jobs]")
    assert full_page_screenshot(browser, screenshots / "change-page.png")[0] == 1440
    open_page(browser, "/admin/django_jobs/funcmap/")
    assert "TimeoutError" in browser.find_element(By.ID, "result_list").text
    assert full_page_screenshot(browser, screenshots / "functions.png")[0] == 1440
    assert Job.objects.filter(state=JobState.FAILED).exists()
    assert JobRun.objects.filter(outcome=RunOutcome.LOST).exists()
