"""The worker's records about a job carry the attempt as attributes; a failure is an ERROR with its traceback."""

import logging

import pytest

from tests.conftest import drain
from tests.testapp import jobs

pytestmark = pytest.mark.django_db(transaction=True)

FIELDS = ("job_id", "task", "queue", "attempt", "worker_id")


def records_of(caplog, job_id):
    return [r for r in caplog.records if r.name == "django_jobs.worker" and getattr(r, "job_id", None) == job_id]


@pytest.fixture
def failed(caplog):
    """The worker's records about one attempt of ``boom``, which raises ValueError('kaboom')."""
    job_id = int(jobs.boom.enqueue("kaboom").id)
    with caplog.at_level(logging.INFO, logger="django_jobs"):
        drain(worker_id="structured-worker")
    return job_id, records_of(caplog, job_id)


def errors(records):
    return [r for r in records if r.levelno == logging.ERROR]


def test_a_failed_attempt_is_logged_at_error(failed):
    _, records = failed
    assert len(errors(records)) == 1


def test_the_error_carries_the_jobs_own_exception(failed):
    _, records = failed
    assert repr(errors(records)[0].exc_info[1]) == "ValueError('kaboom')"


def test_the_error_carries_the_jobs_traceback(failed, caplog):
    _, records = failed
    formatted = logging.Formatter().formatException(errors(records)[0].exc_info)
    assert "in boom\n    raise ValueError(message)" in formatted


def test_the_error_names_the_attempt(failed):
    job_id, records = failed
    record = errors(records)[0]
    assert {name: getattr(record, name) for name in FIELDS} == {
        "job_id": job_id,
        "task": "tests.testapp.jobs.boom",
        "queue": "default",
        "attempt": 1,
        "worker_id": "structured-worker",
    }


def test_the_error_says_how_it_ended(failed):
    _, records = failed
    assert errors(records)[0].outcome == "failed"


def test_the_error_says_how_long_it_ran(failed):
    _, records = failed
    assert errors(records)[0].duration >= 0


def test_the_started_line_names_the_attempt(failed):
    job_id, records = failed
    started = [r for r in records if r.getMessage().endswith("started")]
    assert [(r.job_id, r.attempt, r.worker_id) for r in started] == [(job_id, 1, "structured-worker")]


def test_a_success_is_logged_at_info_with_its_outcome(caplog):
    job_id = int(jobs.add.enqueue(1, 2).id)
    with caplog.at_level(logging.INFO, logger="django_jobs"):
        drain()
    ended = [r for r in records_of(caplog, job_id) if hasattr(r, "outcome")]
    assert [(r.levelname, r.outcome) for r in ended] == [("INFO", "succeeded")]


def test_a_failure_that_will_be_retried_is_an_error_with_outcome_retrying(caplog):
    job_id = int(jobs.flaky.enqueue(5).id)
    with caplog.at_level(logging.INFO, logger="django_jobs"):
        drain()
    first = next(r for r in records_of(caplog, job_id) if hasattr(r, "outcome") and r.attempt == 1)
    assert (first.levelname, first.outcome, first.exc_info is not None) == ("ERROR", "retrying", True)
