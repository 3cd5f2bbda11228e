"""
Django's documented behaviour of Tasks, on DatabaseBackend.

The behaviours Django's own tests of ``django.tasks`` (and django-tasks-db's)
check on a backend that stores its tasks, written again for ours: enqueue and
aenqueue, get_result and refresh, what a worker's run does to a TaskResult,
signals, errors, validation of tasks and arguments, system checks, and a
worker serving one backend alias only.
"""

import asyncio
import dataclasses
import logging
import pickle
from datetime import datetime, timedelta

import django
import pytest
from asgiref.sync import sync_to_async
from django.core import checks
from django.core.management import call_command
from django.db import connections
from django.test import override_settings
from django.utils import timezone

from django_jobs import queue
from django_jobs.backend import DatabaseBackend
from django_jobs.compat import (
    TASKS_LOGGER,
    InvalidTask,
    TaskResultDoesNotExist,
    TaskResultMismatch,
    TaskResultStatus,
    default_task_backend,
    task,
    task_backends,
    task_enqueued,
    task_finished,
    task_started,
)
from django_jobs.exceptions import InvalidJobArguments
from django_jobs.models import Job
from tests.conftest import drain
from tests.factories import FuncMapFactory, JobFactory
from tests.testapp import conformance_jobs as tasks

db = pytest.mark.django_db
worker_db = pytest.mark.django_db(transaction=True)

BOTH_KINDS = pytest.mark.parametrize("noop", [tasks.noop, tasks.noop_async], ids=["sync", "async"])


def run_async(make_coroutine):
    """Run ``make_coroutine()`` in an event loop, closing the connections its sync_to_async calls opened."""

    async def go():
        try:
            return await make_coroutine()
        finally:
            await sync_to_async(connections.close_all, thread_sensitive=True)()

    return asyncio.run(go())


@pytest.fixture
def signals():
    """
    Records (signal name, sender, task_result, status at sending) of
    task_enqueued, task_started and task_finished. The status is kept apart:
    like Django's ImmediateBackend, a run sends one TaskResult, updated.
    """
    received = []
    connected = {"enqueued": task_enqueued, "started": task_started, "finished": task_finished}
    receivers = {}
    for name, signal in connected.items():

        def receiver(sender, task_result, _name=name, **kwargs):
            received.append((_name, sender, task_result, task_result.status))

        receivers[name] = receiver
        signal.connect(receiver, weak=False)
    yield received
    for name, signal in connected.items():
        signal.disconnect(receivers[name])


# -- enqueue ----------------------------------------------------------------------------


@db
@BOTH_KINDS
def test_enqueue_returns_a_ready_result(noop):
    result = noop.enqueue(1, two=3)
    assert result.status == TaskResultStatus.READY
    assert result.is_finished is False
    assert result.args == [1]
    assert result.kwargs == {"two": 3}
    assert result.attempts == 0
    assert result.worker_ids == []
    assert result.errors == []
    assert result.backend == "default"


@db
@BOTH_KINDS
def test_enqueue_reports_no_start_yet(noop):
    result = noop.enqueue()
    assert result.enqueued_at is not None
    assert result.started_at is None
    assert result.last_attempted_at is None
    assert result.finished_at is None


@db
@BOTH_KINDS
def test_enqueued_result_task_is_the_task(noop):
    assert noop.enqueue().task == noop


@db
def test_result_id_is_a_string():
    assert isinstance(tasks.noop.enqueue().id, str)


@db
def test_return_value_before_the_run_raises():
    result = tasks.meaning_of_life.enqueue()
    with pytest.raises(ValueError, match="Task has not finished yet"):
        result.return_value


@worker_db
@pytest.mark.parametrize("noop", [tasks.noop, tasks.noop_async], ids=["sync", "async"])
def test_aenqueue_returns_a_ready_result(noop):
    result = run_async(lambda: noop.aenqueue(1, two=3))
    assert result.status == TaskResultStatus.READY
    assert result.args == [1]
    assert result.kwargs == {"two": 3}
    assert result.task == noop


@db
def test_enqueue_sends_task_enqueued(signals):
    result = tasks.noop.enqueue()
    assert [(name, sender) for name, sender, _r, _s in signals] == [("enqueued", DatabaseBackend)]
    assert signals[0][2] == result


@db
def test_enqueue_logs_on_the_django_tasks_logger(caplog):
    with caplog.at_level(logging.DEBUG, logger=TASKS_LOGGER):
        result = tasks.noop.enqueue()
    assert [r.getMessage() for r in caplog.records if "enqueued" in r.getMessage() and result.id in r.getMessage()]


@db
def test_enqueue_writes_the_task_priority_and_queue():
    result = tasks.prioritized.using(priority=7, queue_name="emails").enqueue()
    assert (result.task.priority, result.task.queue_name) == (7, "emails")


# -- arguments must be JSON ----------------------------------------------------------------


@db
@pytest.mark.parametrize("bad", [datetime.now(), object(), {1, 2}], ids=["datetime", "object", "set"])
def test_non_json_argument_raises_type_error(bad):
    with pytest.raises(TypeError):
        tasks.noop.enqueue(bad)


@db
def test_non_json_keyword_argument_raises_type_error():
    with pytest.raises(TypeError):
        tasks.noop.enqueue(when=datetime.now())


@db
def test_non_json_argument_writes_nothing():
    with pytest.raises(TypeError):
        tasks.noop.enqueue(object())
    assert Job.objects.count() == 0


@worker_db
def test_aenqueue_non_json_argument_raises_type_error():
    with pytest.raises(TypeError):
        run_async(lambda: tasks.noop.aenqueue(datetime.now()))


@db
def test_non_json_argument_error_is_still_an_invalid_job_arguments():
    with pytest.raises(InvalidJobArguments):
        tasks.noop.enqueue(object())


@db
def test_bytes_are_stored_as_text():
    assert tasks.noop.enqueue(b"caf\xc3\xa9").args == ["café"]


@db
def test_bytes_that_are_not_utf8_are_refused():
    with pytest.raises(InvalidJobArguments, match="not UTF-8 text"):
        tasks.noop.enqueue(b"\xff")


@db
def test_other_sequences_are_stored_as_lists():
    assert tasks.noop.enqueue(range(3)).args == [[0, 1, 2]]


@db
def test_tuples_are_stored_as_lists():
    result = tasks.noop.enqueue((1, 2), pair=(3, 4))
    assert (result.args, result.kwargs) == ([[1, 2]], {"pair": [3, 4]})


# -- get_result and refresh ------------------------------------------------------------------


@db
def test_get_result_equals_the_enqueued_result():
    result = default_task_backend.enqueue(tasks.noop, (), {})
    assert tasks.noop.get_result(result.id) == result


@worker_db
def test_aget_result_equals_the_enqueued_result():
    result = tasks.noop.enqueue()
    assert run_async(lambda: tasks.noop.aget_result(result.id)) == result


@db
@pytest.mark.parametrize("result_id", ["123456789", "not-a-number", ""])
def test_get_result_of_a_missing_id_raises(result_id):
    with pytest.raises(TaskResultDoesNotExist):
        tasks.noop.get_result(result_id)


@worker_db
def test_aget_result_of_a_missing_id_raises():
    with pytest.raises(TaskResultDoesNotExist):
        run_async(lambda: tasks.noop.aget_result("123456789"))


@db
def test_get_result_of_another_task_raises_mismatch():
    result = tasks.noop_async.enqueue()
    with pytest.raises(TaskResultMismatch, match="Task does not match"):
        tasks.noop.get_result(result.id)


@db
def test_refresh_of_an_unchanged_result_changes_nothing():
    result = tasks.noop.enqueue()
    before = dataclasses.asdict(result)
    result.refresh()
    assert dataclasses.asdict(result) == before


@worker_db
def test_arefresh_of_an_unchanged_result_changes_nothing():
    result = tasks.noop.enqueue()
    before = dataclasses.asdict(result)
    run_async(result.arefresh)
    assert dataclasses.asdict(result) == before


@worker_db
def test_result_is_not_updated_until_refreshed():
    result = tasks.meaning_of_life.enqueue()
    drain()
    assert result.status == TaskResultStatus.READY
    assert result.attempts == 0


@worker_db
def test_refresh_after_the_run_reports_success():
    result = tasks.meaning_of_life.enqueue()
    drain()
    result.refresh()
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.is_finished is True
    assert result.return_value == 42
    assert result.attempts == 1


@worker_db
def test_refresh_after_the_run_reports_its_times_in_order():
    result = tasks.meaning_of_life.enqueue()
    drain()
    result.refresh()
    assert result.last_attempted_at is not None
    assert result.started_at >= result.enqueued_at
    assert result.finished_at >= result.started_at


@worker_db
def test_arefresh_after_the_run_reports_success():
    result = tasks.meaning_of_life.enqueue()
    drain()
    run_async(result.arefresh)
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == 42


@worker_db
def test_one_run_records_one_worker_id():
    result = tasks.noop.enqueue()
    drain()
    result.refresh()
    assert len(result.worker_ids) == 1


@worker_db
def test_worker_ids_name_the_worker():
    result = tasks.noop.enqueue()
    call_command("runworker", "--burst", "--worker-id", "conformance-worker")
    result.refresh()
    assert result.worker_ids == ["conformance-worker"]


@worker_db
def test_each_attempt_adds_a_worker_id():
    result = tasks.succeeds_on_third_attempt.enqueue()
    drain(rounds=4)
    result.refresh()
    assert result.attempts == 3


@worker_db
def test_each_failed_attempt_adds_an_error():
    result = tasks.succeeds_on_third_attempt.enqueue()
    drain(rounds=4)
    result.refresh()
    assert [e.exception_class for e in result.errors] == [RuntimeError, RuntimeError]


@worker_db
def test_success_after_retries_returns_its_value():
    result = tasks.succeeds_on_third_attempt.enqueue()
    drain(rounds=4)
    result.refresh()
    assert result.return_value == 3


@db
def test_refresh_of_a_deleted_result_raises():
    result = tasks.noop.enqueue()
    queue.delete_jobs([int(result.id)], using="default")
    with pytest.raises(TaskResultDoesNotExist):
        result.refresh()


@db
@pytest.mark.skipif(django.VERSION < (6, 1), reason="a TaskResult pickles from Django 6.1 on")
def test_task_result_pickles():
    result = tasks.noop.enqueue()
    assert pickle.loads(pickle.dumps(result)) == result


# -- run_after ---------------------------------------------------------------------------------


@db
def test_run_after_is_none_when_not_set():
    assert tasks.noop.enqueue().task.run_after is None


@db
def test_run_after_is_none_when_enqueued_in_a_batch():
    results = default_task_backend.enqueue_many([(tasks.noop, (i,), {}) for i in range(3)])
    assert [r.task.run_after for r in results] == [None, None, None]


@db
def test_run_after_read_back_is_none_when_not_set():
    result = tasks.noop.enqueue()
    assert tasks.noop.get_result(result.id).task.run_after is None


@worker_db
def test_run_after_is_none_after_the_run_when_not_set():
    result = tasks.noop.enqueue()
    drain()
    assert tasks.noop.get_result(result.id).task.run_after is None


@db
def test_run_after_is_reported_as_set():
    when = timezone.now() + timedelta(hours=1)
    result = tasks.noop.using(run_after=when).enqueue()
    assert tasks.noop.get_result(result.id).task.run_after == when


@db
def test_run_after_in_the_past_is_reported_as_set():
    when = timezone.now() - timedelta(hours=2)
    result = tasks.noop.using(run_after=when).enqueue()
    assert tasks.noop.get_result(result.id).task.run_after == when


@worker_db
def test_deferred_task_is_not_run_before_its_time():
    result = tasks.noop.using(run_after=timezone.now() + timedelta(hours=10)).enqueue()
    drain()
    result.refresh()
    assert result.status == TaskResultStatus.READY


def test_naive_run_after_is_refused():
    with pytest.raises(InvalidTask, match="run_after must be an aware datetime"):
        tasks.noop.using(run_after=datetime.now())


# -- validation --------------------------------------------------------------------------------


def test_run_after_cannot_be_given_to_the_decorator():
    # Django 6.1 and 6.0 say why, each in its words; the django-tasks backport refuses a duplicate keyword.
    with pytest.raises(
        TypeError, match=r"run_after cannot be (defined statically|set on @task)|multiple values for keyword"
    ):
        task(run_after=timezone.now())(tasks.meaning_of_life.func)


def test_function_not_at_module_level_is_refused():
    def local():
        return None

    with pytest.raises(InvalidTask, match="Task function must be defined at a module level"):
        task(local)


def test_takes_context_needs_a_context_parameter():
    with pytest.raises(InvalidTask, match="first argument of 'context'"):
        task(takes_context=True)(tasks.meaning_of_life.func)


@pytest.mark.parametrize("priority", [-101, 101, 3.1])
def test_priority_out_of_range_is_refused(priority):
    with pytest.raises(InvalidTask, match="priority must be a whole number between -100 and 100"):
        tasks.noop.using(priority=priority)


@pytest.mark.parametrize("priority", [-100, 0, 100])
def test_priority_in_range_is_accepted(priority):
    assert tasks.noop.using(priority=priority).priority == priority


def test_unknown_queue_is_refused_as_django_says():
    with pytest.raises(InvalidTask, match="Queue 'queue-2' is not valid for backend"):
        tasks.noop.using(queue_name="queue-2")


@worker_db
def test_unknown_queue_is_refused_at_aenqueue():
    with (
        override_settings(TASKS={"default": {"BACKEND": "django_jobs.backend.DatabaseBackend", "QUEUES": ["queue-1"]}}),
        pytest.raises(InvalidTask, match="Queue 'default' is not valid for backend"),
    ):
        run_async(tasks.noop.aenqueue)


# -- what a worker's run does ---------------------------------------------------------------


@worker_db
def test_async_task_is_run():
    result = tasks.async_meaning_of_life.enqueue()
    drain()
    result.refresh()
    assert result.return_value == 42


@worker_db
def test_failing_task_is_failed():
    result = tasks.fails_with_value_error.enqueue()
    drain()
    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    assert result.is_finished is True
    assert result.finished_at >= result.started_at


@worker_db
def test_return_value_of_a_failed_task_raises():
    result = tasks.fails_with_value_error.enqueue()
    drain()
    result.refresh()
    with pytest.raises(ValueError, match="Task failed"):
        result.return_value


@worker_db
def test_failure_records_the_exception_class():
    result = tasks.fails_with_value_error.enqueue()
    drain()
    result.refresh()
    assert result.errors[0].exception_class is ValueError


@worker_db
def test_failure_records_the_traceback():
    result = tasks.fails_with_value_error.enqueue()
    drain()
    result.refresh()
    assert result.errors[0].traceback.endswith("ValueError: This task failed due to ValueError\n")


@worker_db
def test_nested_exception_traceback_shows_the_raise():
    result = tasks.raises_nested_exception.enqueue()
    drain()
    result.refresh()
    assert 'ValueError(ValueError("This task failed"))' in result.errors[0].traceback


@worker_db
@pytest.mark.parametrize("failing", [tasks.fails_with_system_exit, tasks.calls_exit], ids=["raise", "sys.exit"])
def test_system_exit_fails_the_task_not_the_worker(failing):
    result = failing.enqueue()
    drain()
    result.refresh()
    assert result.errors[0].exception_class is SystemExit


@worker_db
def test_non_json_return_value_fails_with_type_error():
    result = tasks.returns_an_object.enqueue()
    drain()
    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    assert result.errors[0].exception_class is TypeError


@worker_db
def test_non_json_return_value_is_not_stored():
    result = tasks.returns_an_object.enqueue()
    drain()
    result.refresh()
    assert result._return_value is None


@worker_db
def test_non_json_return_value_error_says_why():
    result = tasks.returns_an_object.enqueue()
    drain()
    result.refresh()
    assert "is not JSON serializable" in result.errors[0].traceback


@worker_db
def test_takes_context_gets_its_own_result():
    result = tasks.own_id.enqueue()
    drain()
    result.refresh()
    assert result.return_value == result.id


@worker_db
def test_context_attempt_counts_from_one():
    result = tasks.attempt_number.enqueue()
    drain()
    result.refresh()
    assert result.return_value == 1


@worker_db
def test_run_sends_started_then_finished(signals):
    result = tasks.noop.enqueue()
    drain()
    assert [(name, sender, status) for name, sender, _r, status in signals[1:]] == [
        ("started", DatabaseBackend, TaskResultStatus.RUNNING),
        ("finished", DatabaseBackend, TaskResultStatus.SUCCESSFUL),
    ]
    assert {r.id for _n, _s, r, _st in signals} == {result.id}


@worker_db
def test_failed_run_sends_finished_with_the_error(signals):
    tasks.fails_with_value_error.enqueue()
    drain()
    _name, _sender, finished, status = signals[-1]
    assert status == TaskResultStatus.FAILED
    assert finished.errors[0].exception_class is ValueError


@worker_db
def test_stored_path_that_is_not_a_task_fails():
    job = JobFactory(func=FuncMapFactory(path="subprocess.check_output"), args=[["exit", "1"]])
    drain()
    job.refresh_from_db()
    assert job.state == "failed"


@worker_db
def test_stored_path_that_cannot_be_imported_fails():
    job = JobFactory(func=FuncMapFactory(path="tests.testapp.conformance_jobs.missing"), args=[])
    drain()
    job.refresh_from_db()
    assert job.state == "failed"


# -- backend aliases -------------------------------------------------------------------------

TWO_BACKENDS = {
    "default": {"BACKEND": "django_jobs.backend.DatabaseBackend", "OPTIONS": {"POLL_INTERVAL": 0.1}},
    "other": {"BACKEND": "django_jobs.backend.DatabaseBackend", "OPTIONS": {"POLL_INTERVAL": 0.1}},
}


@worker_db
@override_settings(TASKS=TWO_BACKENDS)
def test_a_worker_does_not_run_another_backends_jobs():
    result = tasks.meaning_of_life.using(backend="other").enqueue()
    call_command("runworker", "--burst", "--backend", "default")
    result.refresh()
    assert result.status == TaskResultStatus.READY


@worker_db
@override_settings(TASKS=TWO_BACKENDS)
def test_a_worker_runs_its_backends_jobs():
    result = tasks.meaning_of_life.using(backend="other").enqueue()
    call_command("runworker", "--burst", "--backend", "other")
    result.refresh()
    assert result.status == TaskResultStatus.SUCCESSFUL


@worker_db
@override_settings(TASKS=TWO_BACKENDS)
def test_a_result_reports_its_backend():
    result = tasks.meaning_of_life.using(backend="other").enqueue()
    assert task_backends["other"].get_result(result.id).backend == "other"


# -- system checks -----------------------------------------------------------------------------


def test_check_passes_when_installed():
    assert list(default_task_backend.check()) == []


def without_django_jobs():
    from django.conf import settings

    return override_settings(INSTALLED_APPS=[app for app in settings.INSTALLED_APPS if app != "django_jobs"])


def test_check_fails_when_django_jobs_is_not_installed():
    with without_django_jobs():
        errors = list(task_backends["default"].check())
    assert [e.id for e in errors] == ["django_jobs.E009"]


def test_check_hint_names_the_app():
    with without_django_jobs():
        (error,) = task_backends["default"].check()
    assert "django_jobs" in error.hint


def test_check_error_is_reported_by_django_checks():
    with without_django_jobs():
        errors = checks.run_checks()
    assert "django_jobs.E009" in [e.id for e in errors]
