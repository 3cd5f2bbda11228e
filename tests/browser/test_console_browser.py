"""
The operator's console in headless Chromium (issue 14's "done when"): a
running job's page and the dashboard update without a reload; schedules
added, run, paused and changed in the admin with two workers; two live
workers, one killed and seen gone; a job found by an argument's value; 2,500
failed jobs retried from one filter.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

pytest.importorskip("selenium", reason="browser tests: selenium is not installed (pip install -e '.[test]')")

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC

from django_jobs.models import Job, JobLog
from django_jobs.states import JobState, RunOutcome
from tests.browser import factories
from tests.browser.test_admin_browser import OPERATOR, log_in, open_page, wait
from tests.factories import JobFactory, JobRunFactory

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


def test_a_running_jobs_page_shows_new_log_lines_and_its_end_without_a_reload(browser):
    factories.user("operator", *OPERATOR)
    job, run = running_job()
    log_in(browser, "operator")
    open_page(browser, f"/admin/django_jobs/job/{job.pk}/change/")
    browser.execute_script("window.notReloaded = true;")
    JobLog.objects.create(run=run, created_at=timezone.now(), level=30, logger="app", message="row 7 skipped")
    wait(browser, EC.text_to_be_present_in_element((By.CSS_SELECTOR, ".djobs-live-lines"), "row 7 skipped"))
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
