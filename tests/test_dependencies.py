"""Jobs that depend on others (depends_on, run_on_failure), on SQLite and PostgreSQL."""

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

import django_jobs
from django_jobs import queue
from django_jobs.compat import TaskResultStatus
from django_jobs.exceptions import InvalidJobArguments, InvalidTransition
from django_jobs.models import Dependency, Job
from django_jobs.states import JobState
from tests.conftest import drain
from tests.factories import JobFactory
from tests.testapp import jobs
from tests.testapp.models import Execution

pytestmark = pytest.mark.django_db(transaction=True)
LEASE = timedelta(seconds=30)


def state(result):
    return Job.objects.get(pk=result.id).state


def labels_in_order():
    return list(Execution.objects.order_by("pk").values_list("label", flat=True))


# -- enqueueing ------------------------------------------------------------------------------------


def test_a_job_with_an_unfinished_dependency_waits():
    a = jobs.add.enqueue(1, 2)
    b = jobs.add.using(depends_on=[a]).enqueue(3, 4)
    assert state(b) == JobState.WAITING


def test_a_waiting_job_reports_django_status_ready():
    a = jobs.add.enqueue(1, 2)
    b = jobs.add.using(depends_on=[a]).enqueue(3, 4)
    assert jobs.add.get_result(b.id).status == TaskResultStatus.READY


def test_depends_on_takes_job_ids_as_int_and_str():
    a, b = jobs.add.enqueue(1, 2), jobs.add.enqueue(1, 2)
    c = jobs.add.using(depends_on=[int(a.id), b.id]).enqueue(3, 4)
    assert list(
        Dependency.objects.filter(dependent_id=c.id).order_by("position").values_list("dependency_id", flat=True)
    ) == [
        int(a.id),
        int(b.id),
    ]


def test_a_job_whose_dependencies_all_succeeded_is_ready_at_once():
    done = JobFactory(state=JobState.SUCCEEDED)
    assert state(jobs.add.using(depends_on=[done.pk]).enqueue(3, 4)) == JobState.READY


def test_depending_on_an_unknown_job_is_refused():
    a = jobs.add.enqueue(1, 2)
    with pytest.raises(InvalidJobArguments, match=r"unknown job\(s\) \[999999\]"):
        jobs.add.using(depends_on=[a, 999999]).enqueue(3, 4)


def test_depending_on_an_unknown_job_writes_nothing():
    with pytest.raises(InvalidJobArguments):
        jobs.add.using(depends_on=[999999]).enqueue(3, 4)
    assert (Job.objects.count(), Dependency.objects.count()) == (0, 0)


@pytest.mark.parametrize("bad", ["12", ["x"], [0], [True], [1.5], 7])
def test_depends_on_refuses_what_is_not_a_result_or_job_id(bad):
    with pytest.raises(InvalidJobArguments, match="depends_on"):
        jobs.add.using(depends_on=bad).enqueue(3, 4)


def test_run_on_failure_must_be_a_bool():
    with pytest.raises(InvalidJobArguments, match="run_on_failure must be True or False"):
        jobs.add.using(run_on_failure="yes").enqueue(3, 4)


def test_depending_on_a_failed_job_is_refused_unless_it_runs_on_failure():
    failed = JobFactory(state=JobState.FAILED)
    with pytest.raises(InvalidJobArguments, match=f"depends_on job {failed.pk} is failed"):
        jobs.add.using(depends_on=[failed.pk]).enqueue(3, 4)


def test_a_run_on_failure_job_of_a_failed_job_is_ready_at_once():
    failed = JobFactory(state=JobState.FAILED)
    assert state(jobs.add.using(depends_on=[failed.pk], run_on_failure=True).enqueue(3, 4)) == JobState.READY


def test_enqueue_by_path_takes_depends_on():
    a = jobs.add.enqueue(1, 2)
    b = django_jobs.enqueue("tests.testapp.jobs.add", (3, 4), depends_on=[a])
    assert state(b) == JobState.WAITING


def test_enqueue_many_takes_depends_on_for_every_job():
    a = jobs.add.enqueue(1, 2)
    results = django_jobs.enqueue_many([(jobs.add, (1, 1)), (jobs.add, (2, 2))], depends_on=[a])
    assert [state(r) for r in results] == [JobState.WAITING, JobState.WAITING]


def test_a_rolled_back_transaction_leaves_no_part_of_a_graph():
    with pytest.raises(RuntimeError), transaction.atomic():
        a = jobs.add.enqueue(1, 2)
        jobs.add.using(depends_on=[a]).enqueue(3, 4)
        raise RuntimeError("rolled back")
    assert (Job.objects.count(), Dependency.objects.count()) == (0, 0)


# -- running -----------------------------------------------------------------------------------------


def test_a_diamond_runs_in_order():
    a = jobs.gather.enqueue("a")
    b = jobs.gather.using(depends_on=[a]).enqueue("b")
    c = jobs.gather.using(depends_on=[a]).enqueue("c")
    jobs.gather.using(depends_on=[b, c]).enqueue("d")
    drain(rounds=4, concurrency=1)
    order = labels_in_order()
    assert (order[0], sorted(order[1:3]), order[3]) == ("a", ["b", "c"], "d")


def test_the_diamonds_last_job_sees_its_dependencies_results_in_order():
    a = jobs.gather.enqueue("a")
    b = jobs.gather.using(depends_on=[a]).enqueue("b")
    c = jobs.gather.using(depends_on=[a]).enqueue("c")
    d = jobs.gather.using(depends_on=[c, b]).enqueue("d")
    drain(rounds=4)
    assert jobs.gather.get_result(d.id).return_value["saw"] == [
        {"label": "c", "saw": [{"label": "a", "saw": []}]},
        {"label": "b", "saw": [{"label": "a", "saw": []}]},
    ]


def test_a_failure_cancels_its_dependents_transitively():
    a = jobs.boom.enqueue()
    b = jobs.add.using(depends_on=[a]).enqueue(1, 2)
    c = jobs.add.using(depends_on=[b]).enqueue(1, 2)
    drain(rounds=2)
    assert [state(b), state(c)] == [JobState.CANCELLED, JobState.CANCELLED]


def test_a_cancelled_dependent_names_the_failed_dependency_in_its_errors():
    a = jobs.boom.enqueue()
    b = jobs.add.using(depends_on=[a]).enqueue(1, 2)
    drain(rounds=2)
    (error,) = jobs.add.get_result(b.id).errors
    assert error.exception_class_path == "django_jobs.exceptions.DependencyFailed"


def test_the_error_message_names_the_dependency():
    a = jobs.boom.enqueue()
    b = jobs.add.using(depends_on=[a]).enqueue(1, 2)
    drain(rounds=2)
    assert [r.message for r in django_jobs.failures(b.id)] == [f"dependency job {a.id} failed; not run"]


def test_a_transitively_cancelled_job_names_the_job_cancelled_before_it():
    a = jobs.boom.enqueue()
    b = jobs.add.using(depends_on=[a]).enqueue(1, 2)
    c = jobs.add.using(depends_on=[b]).enqueue(1, 2)
    drain(rounds=2)
    assert [r.message for r in django_jobs.failures(c.id)] == [f"dependency job {b.id} was cancelled; not run"]


def test_a_run_on_failure_job_runs_after_a_failure():
    a = jobs.boom.enqueue()
    cleanup = jobs.gather.using(depends_on=[a], run_on_failure=True).enqueue("cleanup")
    drain(rounds=3)
    assert jobs.gather.get_result(cleanup.id).return_value == {"label": "cleanup", "saw": [None]}


def test_a_run_on_failure_job_waits_for_every_dependency_to_finish():
    a = jobs.boom.enqueue()
    later = jobs.add.using(run_after=timezone.now() + timedelta(hours=1)).enqueue(1, 2)
    cleanup = jobs.add.using(depends_on=[a, later], run_on_failure=True).enqueue(1, 2)
    drain()
    assert state(cleanup) == JobState.WAITING


def test_a_run_on_failure_job_after_a_cancelled_job_still_runs_in_a_chain():
    a = jobs.boom.enqueue()
    b = jobs.add.using(depends_on=[a]).enqueue(1, 2)
    finally_ = jobs.add.using(depends_on=[b], run_on_failure=True).enqueue(1, 2)
    drain(rounds=3)
    assert state(finally_) == JobState.SUCCEEDED


def test_cancelling_a_dependency_cancels_its_dependents():
    a = jobs.add.enqueue(1, 2)
    b = jobs.add.using(depends_on=[a]).enqueue(1, 2)
    django_jobs.cancel(a.id)
    assert state(b) == JobState.CANCELLED


def test_cancelling_a_waiting_job_cancels_it():
    a = jobs.add.enqueue(1, 2)
    b = jobs.add.using(depends_on=[a]).enqueue(1, 2)
    django_jobs.cancel(b.id)
    assert state(b) == JobState.CANCELLED


def test_an_expired_dependency_cancels_its_dependents():
    a = jobs.add.using(expires_at=timezone.now() - timedelta(seconds=1)).enqueue(1, 2)
    b = jobs.add.using(depends_on=[a]).enqueue(1, 2)
    queue.expire_overdue(using="default")
    assert state(b) == JobState.CANCELLED


def test_a_batched_completion_releases_dependents_in_its_transaction():
    a = jobs.add.enqueue(1, 2)
    b = jobs.add.using(depends_on=[a]).enqueue(1, 2)
    (claimed,) = queue.claim(worker_id="w1", queues=None, limit=1, lease=LEASE, using="default")
    queue.complete_and_claim([(claimed, 3)], worker_id="w1", limit=0, using="default")
    assert state(b) == JobState.READY


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's completion says which jobs are depended on")
def test_a_batched_completion_of_jobs_nobody_waits_for_looks_for_no_dependents():
    jobs.add.enqueue(1, 2)
    (claimed,) = queue.claim(worker_id="w1", queues=None, limit=1, lease=LEASE, using="default")
    with CaptureQueriesContext(connection) as captured:
        queue.complete_and_claim([(claimed, 3)], worker_id="w1", limit=0, using="default")
    assert [q["sql"] for q in captured if "django_jobs_dependency" in q["sql"] and "UPDATE" not in q["sql"]] == []


def test_a_batch_completing_two_dependencies_of_one_job_releases_it():
    a, b = jobs.add.enqueue(1, 2), jobs.add.enqueue(1, 2)
    c = jobs.add.using(depends_on=[a, b]).enqueue(1, 2)
    claimed = queue.claim(worker_id="w1", queues=None, limit=2, lease=LEASE, using="default")
    queue.complete_and_claim([(x, 3) for x in claimed], worker_id="w1", limit=0, using="default")
    assert state(c) == JobState.READY


def test_a_job_stays_waiting_until_its_last_dependency_succeeds():
    a, b = jobs.add.enqueue(1, 2), jobs.add.using(run_after=timezone.now() + timedelta(hours=1)).enqueue(1, 2)
    c = jobs.add.using(depends_on=[a, b]).enqueue(1, 2)
    drain()
    assert Job.objects.filter(pk=c.id).values_list("state", "dependencies_left").get() == (JobState.WAITING, 1)


def _queries_to_complete_one_of(fan_in):
    heads = [jobs.add.enqueue(1, 2) for _ in range(fan_in)]
    jobs.add.using(depends_on=heads).enqueue(0, 0)
    claimed = queue.claim(worker_id="w1", queues=None, limit=1, lease=LEASE, using="default")
    with CaptureQueriesContext(connection) as queries:
        queue.complete(claimed[0], 3, using="default")
    Job.objects.all().delete()
    return len(queries)


def test_a_completion_costs_as_many_queries_whatever_the_fan_in():
    assert _queries_to_complete_one_of(3) == _queries_to_complete_one_of(60)


def test_a_cancelled_dependent_names_no_worker():
    a = jobs.boom.enqueue()
    b = jobs.add.using(depends_on=[a]).enqueue(1, 2)
    drain(rounds=2)
    assert jobs.add.get_result(b.id).worker_ids == []


def test_enqueue_and_run_refuses_depends_on():
    a = jobs.add.enqueue(1, 2)
    with pytest.raises(InvalidJobArguments, match="cannot wait for depends_on"):
        django_jobs.enqueue_and_run(jobs.add, (1, 2), depends_on=[a])


# -- deleting and retrying jobs of a graph ---------------------------------------------------------


def test_deleting_a_job_others_wait_for_cancels_them():
    a = jobs.add.enqueue(1, 2)
    b = jobs.add.using(depends_on=[a]).enqueue(3, 4)
    queue.delete_jobs([a.id], using="default")
    assert state(b) == JobState.CANCELLED


def test_a_dependent_of_a_deleted_job_names_it():
    a = jobs.add.enqueue(1, 2)
    b = jobs.add.using(depends_on=[a]).enqueue(3, 4)
    queue.delete_jobs([a.id], using="default")
    assert [r.message for r in django_jobs.failures(b.id)] == [f"dependency job {a.id} was deleted; not run"]


def test_a_run_on_failure_dependent_of_a_deleted_job_is_ready():
    a = jobs.add.enqueue(1, 2)
    cleanup = jobs.add.using(depends_on=[a], run_on_failure=True).enqueue(3, 4)
    queue.delete_jobs([a.id], using="default")
    assert state(cleanup) == JobState.READY


def test_deleting_a_succeeded_dependency_leaves_its_dependent_waiting_for_the_others():
    a, slow = jobs.add.enqueue(1, 2), jobs.add.using(run_after=timezone.now() + timedelta(hours=1)).enqueue(1, 2)
    b = jobs.add.using(depends_on=[a, slow]).enqueue(3, 4)
    drain()
    queue.delete_jobs([a.id], using="default")
    assert Job.objects.filter(pk=b.id).values_list("state", "dependencies_left").get() == (JobState.WAITING, 1)


def test_clearing_a_queue_cancels_the_jobs_waiting_for_its_jobs():
    a = jobs.add.using(queue_name="reports").enqueue(1, 2)
    b = jobs.add.using(depends_on=[a]).enqueue(3, 4)
    queue.clear_queue("reports", using="default")
    assert state(b) == JobState.CANCELLED


def test_retrying_a_job_whose_dependency_failed_is_refused():
    a = jobs.boom.enqueue()
    b = jobs.add.using(depends_on=[a]).enqueue(1, 2)
    drain(rounds=2)
    with pytest.raises(InvalidTransition, match=f"depends on job {a.id}, which is failed"):
        django_jobs.retry(b.id)


def test_a_refused_retry_leaves_the_job_cancelled():
    a = jobs.boom.enqueue()
    b = jobs.add.using(depends_on=[a]).enqueue(1, 2)
    drain(rounds=2)
    with pytest.raises(InvalidTransition):
        django_jobs.retry(b.id)
    assert state(b) == JobState.CANCELLED


def test_retrying_the_dependency_then_the_dependent_makes_it_wait_again():
    a = jobs.boom.enqueue()
    b = jobs.add.using(depends_on=[a]).enqueue(1, 2)
    drain(rounds=2)
    django_jobs.retry(a.id)
    django_jobs.retry(b.id)
    assert state(b) == JobState.WAITING


def test_a_dependent_retried_after_its_dependency_runs_once_that_succeeds():
    a = jobs.flaky.using(max_attempts=1).enqueue(1)  # fails its first attempt only
    b = jobs.add.using(depends_on=[a]).enqueue(1, 2)
    drain(rounds=2)
    django_jobs.retry(a.id)
    django_jobs.retry(b.id)
    drain(rounds=3)
    assert state(b) == JobState.SUCCEEDED
