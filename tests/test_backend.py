"""The django.tasks API on DatabaseBackend, through Django's own public calls."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from django_jobs.backend import DatabaseBackend
from django_jobs.compat import (
    InvalidTask,
    TaskResultDoesNotExist,
    TaskResultMismatch,
    TaskResultStatus,
    default_task_backend,
    task_backends,
    task_enqueued,
    task_finished,
    task_started,
)
from django_jobs.models import Job
from tests.conftest import drain
from tests.testapp import jobs

pytestmark = pytest.mark.django_db


def test_backend_declares_its_features():
    assert isinstance(task_backends["default"], DatabaseBackend)
    assert default_task_backend.supports_defer
    assert default_task_backend.supports_async_task
    assert default_task_backend.supports_get_result
    assert default_task_backend.supports_priority


def test_enqueue_writes_a_ready_job():
    result = jobs.add.enqueue(2, 3)
    assert result.status == TaskResultStatus.READY
    assert result.args == [2, 3] and result.kwargs == {}
    assert result.enqueued_at is not None and result.started_at is None and result.finished_at is None
    assert result.worker_ids == [] and result.attempts == 0 and result.errors == []
    assert result.backend == "default"
    job = Job.objects.get(pk=int(result.id))
    assert job.func.path == "tests.testapp.jobs.add"
    assert (job.state, job.queue_name, job.priority, job.max_attempts) == ("ready", "default", 0, 1)
    with pytest.raises(ValueError, match="not finished"):
        result.return_value
    # The times the database wrote are the ones the result reports.
    assert result.enqueued_at == job.enqueued_at and result.enqueued_at.tzinfo is not None


def test_get_result_reads_back_and_checks_the_task():
    result = jobs.add.enqueue(1, 1)
    again = jobs.add.get_result(result.id)
    assert again.id == result.id and again.status == TaskResultStatus.READY
    assert default_task_backend.get_result(result.id).task.func is jobs.add.func
    with pytest.raises(TaskResultMismatch):
        jobs.boom.get_result(result.id)
    with pytest.raises(TaskResultDoesNotExist):
        jobs.add.get_result("999999999")
    with pytest.raises(TaskResultDoesNotExist):
        jobs.add.get_result("not-a-number")


@pytest.mark.django_db(transaction=True)
def test_success_failure_and_refresh():
    ok = jobs.add.enqueue(2, 40)
    bad = jobs.boom.enqueue("it broke")
    drain()
    ok.refresh()
    assert ok.status == TaskResultStatus.SUCCESSFUL and ok.return_value == 42
    assert ok.started_at and ok.finished_at and ok.last_attempted_at and ok.finished_at >= ok.started_at
    assert ok.attempts == 1 and len(ok.worker_ids) == 1
    bad.refresh()
    assert bad.status == TaskResultStatus.FAILED
    assert [e.exception_class_path for e in bad.errors] == ["builtins.ValueError"]
    assert bad.errors[0].exception_class is ValueError
    assert "it broke" in bad.errors[0].traceback and "Traceback" in bad.errors[0].traceback
    with pytest.raises(ValueError, match="failed"):
        bad.return_value


@pytest.mark.django_db(transaction=True)
def test_async_task_and_context():
    a = jobs.async_add.enqueue(20, 22)
    c = jobs.context_flaky.enqueue(2)
    drain(rounds=4)
    a.refresh(), c.refresh()
    assert a.return_value == 42
    assert c.status == TaskResultStatus.SUCCESSFUL
    assert c.return_value == {"attempt": 2, "job_id": int(c.id)}
    assert c.attempts == 2 and len(c.errors) == 1


def test_run_after_priority_and_queue(backend):
    later = timezone.now() + timedelta(hours=1)
    r = jobs.add.using(run_after=later, priority=50, queue_name="reports").enqueue(1, 2)
    job = Job.objects.get(pk=r.id)
    assert (job.run_after, job.priority, job.queue_name) == (later, 50, "reports")
    assert (r.enqueued_at, r.task.run_after) == (job.enqueued_at, later)
    assert r.task.priority == 50 and r.task.queue_name == "reports"
    assert jobs.send_email.enqueue("a@b.c").task.queue_name == "emails"


@pytest.mark.django_db(transaction=True)
def test_deferred_job_waits_and_priority_orders():
    deferred = jobs.add.using(run_after=timezone.now() + timedelta(hours=1)).enqueue(0, 0)
    low = jobs.record.using(priority=-10).enqueue("low")
    high = jobs.record.using(priority=90).enqueue("high")
    drain(concurrency=1)
    assert jobs.add.get_result(deferred.id).status == TaskResultStatus.READY
    from tests.testapp.models import Execution

    assert list(Execution.objects.order_by("id").values_list("label", flat=True)) == ["high", "low"]
    assert low.id != high.id


def test_bad_inputs_are_refused_and_nothing_is_written():
    with pytest.raises(InvalidTask, match="Queue 'nope' is not valid for backend"):
        jobs.add.using(queue_name="nope").enqueue(1, 2)
    with pytest.raises(InvalidTask, match="priority"):
        jobs.add.using(priority=101).enqueue(1, 2)
    with pytest.raises(InvalidTask, match=r"args\[0\] is a builtins.object"):
        jobs.add.enqueue(object(), 1)
    with pytest.raises(InvalidTask, match=r"kwargs\['b'\] is nan"):
        jobs.add.enqueue(1, b=float("nan"))
    with pytest.raises(InvalidTask, match="aware"):
        jobs.add.using(run_after=timezone.now().replace(tzinfo=None)).enqueue(1, 2)
    assert not Job.objects.exists()


def test_a_function_that_is_not_module_level_is_refused():
    from django_jobs.compat import task

    def local():
        pass

    with pytest.raises(InvalidTask, match="module level"):
        task(local)


def test_signals_fire(backend):
    seen = []

    def receiver(sender, task_result, **kwargs):
        seen.append((sender, task_result.status))

    task_enqueued.connect(receiver)
    try:
        jobs.add.enqueue(1, 2)
    finally:
        task_enqueued.disconnect(receiver)
    assert seen == [(DatabaseBackend, TaskResultStatus.READY)]


@pytest.mark.django_db(transaction=True)
def test_started_and_finished_signals_fire_in_the_worker():
    seen = []

    def receiver(signal, sender, task_result, **kwargs):
        seen.append((signal, task_result.status))

    task_started.connect(receiver)
    task_finished.connect(receiver)
    try:
        jobs.add.enqueue(1, 2)
        drain()
    finally:
        task_started.disconnect(receiver)
        task_finished.disconnect(receiver)
    assert seen == [(task_started, TaskResultStatus.RUNNING), (task_finished, TaskResultStatus.SUCCESSFUL)]


@pytest.mark.django_db(transaction=True)
def test_enqueue_is_part_of_the_callers_transaction():
    with pytest.raises(RuntimeError), transaction.atomic():
        jobs.add.enqueue(1, 2)
        raise RuntimeError("the view failed")
    assert not Job.objects.exists()
    with transaction.atomic():
        kept = jobs.add.enqueue(3, 4)
    assert Job.objects.filter(pk=kept.id).exists()
    # a FuncMap created in a rolled-back transaction is not remembered
    with transaction.atomic():
        jobs.add.enqueue(5, 6)
    assert Job.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_aenqueue_and_aget_result():
    import asyncio

    from asgiref.sync import sync_to_async
    from django.db import connections

    async def go():
        r = await jobs.add.aenqueue(1, 2)
        result = await jobs.add.aget_result(r.id)
        await sync_to_async(connections.close_all, thread_sensitive=True)()
        return result

    assert asyncio.run(go()).status == TaskResultStatus.READY
