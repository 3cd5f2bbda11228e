"""What a worker prints by default, and what a job's capture takes (and leaves alone)."""

import logging
import threading

import pytest

import django_jobs
from tests.conftest import drain
from tests.testapp import jobs, obs_jobs

pytestmark = pytest.mark.django_db(transaction=True)


class WaitingJob:
    """A job running on an in-process worker's thread, until ``finish()``."""

    def __init__(self):
        obs_jobs.started.clear()
        obs_jobs.proceed.clear()
        self.id = obs_jobs.waits_for_the_test.enqueue().id
        self.worker = threading.Thread(target=drain)
        self.worker.start()
        assert obs_jobs.started.wait(30), "the job did not start"

    def finish(self):
        obs_jobs.proceed.set()
        self.worker.join(30)

    def log(self):
        return [(line.logger, line.message) for line in django_jobs.logs(self.id)]


@pytest.fixture
def waiting_job():
    job = WaitingJob()
    yield job
    job.finish()


def test_a_print_from_another_thread_while_a_job_runs_reaches_stdout(waiting_job, capfd):
    print("printed by the test")
    assert "printed by the test" in capfd.readouterr().out


def test_a_print_from_another_thread_while_a_job_runs_is_not_in_its_log(waiting_job):
    print("printed by the test")
    waiting_job.finish()
    assert ("stdout", "printed by the test") not in waiting_job.log()


def test_the_jobs_own_prints_and_records_are_captured(waiting_job):
    waiting_job.finish()
    assert waiting_job.log() == [("stdout", "printed by the job"), ("tests.obs_jobs", "logged by the job")]


def test_the_jobs_own_prints_do_not_reach_stdout(waiting_job, capfd):
    waiting_job.finish()
    assert "printed by the job" not in capfd.readouterr().out


@pytest.mark.slow
class TestWorkerWithoutLoggingSettings:
    """``runworker`` in a site with no LOGGING: its own lines and the jobs' warnings reach stderr."""

    @pytest.fixture
    def run(self, workers):
        self.result = jobs.chatty.enqueue(3)
        proc = workers.burst(env={"DJANGO_SETTINGS_MODULE": "tests.settings_no_logging"})
        assert proc.returncode == 0, proc.stderr
        return proc

    def test_prints_its_start_up_line_on_stderr(self, run):
        assert " started: queues=all" in run.stderr

    def test_prints_a_jobs_warning_on_stderr(self, run):
        assert "halfway" in run.stderr

    def test_captures_the_jobs_records_once(self, run):
        lines = [(line.logger, line.message) for line in django_jobs.logs(self.result.id)]
        assert lines == [("tests.jobs", "starting with 3"), ("tests.jobs", "halfway")]


class ListHandler(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture
def site_handler():
    """A handler on a logger of the site's that inherits the root level (WARNING, for this test)."""
    root, logger, handler = logging.getLogger(), logging.getLogger("tests.site"), ListHandler()
    old_level = root.level
    root.setLevel(logging.WARNING)
    logger.addHandler(handler)
    yield logger, handler
    logger.removeHandler(handler)
    root.setLevel(old_level)


def test_capturing_info_records_does_not_change_what_a_sites_handler_receives(site_handler):
    logger, handler = site_handler
    drain()  # installs the capture, which makes INFO records on the root level
    logger.info("not for this handler")
    assert handler.messages == []


@pytest.fixture
def shared_handler():
    """
    A handler on the root (WARNING) that also serves a logger with a level of
    its own (INFO), as Django's ``django`` logger does through the root's handlers.
    """
    root, own, handler = logging.getLogger(), logging.getLogger("tests.own_level"), ListHandler()
    old_level, old_own = root.level, own.level
    root.setLevel(logging.WARNING)
    own.setLevel(logging.INFO)
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)
    root.setLevel(old_level)
    own.setLevel(old_own)


def test_capturing_info_records_does_not_add_info_records_to_a_shared_handler(shared_handler):
    drain()  # lowers the root level to INFO
    shared_handler.messages.clear()  # the worker's own lines (the django_jobs logger has a level here)
    logging.getLogger("tests.inheriting").info("not for this handler")
    assert shared_handler.messages == []


def test_a_shared_handler_still_receives_the_info_records_of_a_logger_at_info(shared_handler):
    drain()
    shared_handler.messages.clear()
    logging.getLogger("tests.own_level.child").info("for this handler")
    assert shared_handler.messages == ["for this handler"]


def test_a_print_from_a_thread_the_job_hands_work_to_is_captured():
    result = obs_jobs.prints_from_to_thread.enqueue()
    drain()
    assert [(line.logger, line.message) for line in django_jobs.logs(result.id)] == [("stdout", "printed off-thread")]
