"""Chains and groups (django_jobs.chain, group, call), on SQLite and PostgreSQL."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

import django_jobs
from django_jobs import call, chain, group
from django_jobs.exceptions import InvalidJobArguments, InvalidJobType
from django_jobs.models import Dependency, Job
from django_jobs.queue import functions
from django_jobs.states import JobState
from tests.conftest import drain
from tests.testapp import jobs
from tests.testapp.models import Execution

pytestmark = pytest.mark.django_db(transaction=True)


def returned(result):
    return jobs.gather.get_result(result.id).return_value


def test_a_chain_runs_its_steps_in_order():
    chain(call(jobs.gather, "a"), call(jobs.gather, "b"), call(jobs.gather, "c")).enqueue()
    drain(rounds=4)
    assert list(Execution.objects.order_by("pk").values_list("label", flat=True)) == ["a", "b", "c"]


def test_each_step_of_a_chain_reads_the_previous_result():
    flow = chain(call(jobs.gather, "a"), call(jobs.gather, "b")).enqueue()
    drain(rounds=3)
    assert returned(flow.results[1])["saw"] == [{"label": "a", "saw": []}]


def test_a_group_then_a_callback_is_a_fan_in_of_every_result_in_order():
    flow = chain(group(*(call(jobs.gather, f"p{i}") for i in range(4))), call(jobs.gather, "sum")).enqueue()
    drain(rounds=3)
    assert [r["label"] for r in returned(flow.results[-1])["saw"]] == ["p0", "p1", "p2", "p3"]


def test_groups_and_chains_nest():
    flow = chain(
        call(jobs.gather, "a"),
        group(chain(call(jobs.gather, "b1"), call(jobs.gather, "b2")), call(jobs.gather, "c")),
        call(jobs.gather, "d"),
    ).enqueue()
    drain(rounds=5)
    assert [r["label"] for r in returned(flow.results[-1])["saw"]] == ["b2", "c"]


def test_a_task_or_path_is_a_step_called_without_arguments():
    flow = chain("tests.testapp.jobs.forgettable", jobs.forgettable).enqueue()
    assert list(Dependency.objects.values_list("dependent_id", "dependency_id")) == [
        (int(flow.results[1].id), int(flow.results[0].id))
    ]


def test_every_job_of_a_workflow_carries_its_id():
    flow = group(call(jobs.add, 1, 2), call(jobs.add, 3, 4)).enqueue()
    assert list(Job.objects.values_list("workflow_id", flat=True)) == [flow.id, flow.id]


def test_a_workflow_is_written_whole_or_not_at_all():
    with pytest.raises(InvalidJobArguments):
        chain(call(jobs.add, 1, 2), call(jobs.add, 1, {1, 2})).enqueue()
    assert (Job.objects.count(), Dependency.objects.count()) == (0, 0)


def test_a_rolled_back_transaction_leaves_no_part_of_a_workflow():
    with pytest.raises(RuntimeError), transaction.atomic():
        chain(call(jobs.add, 1, 2), group(call(jobs.add, 1, 2), call(jobs.add, 3, 4))).enqueue()
        raise RuntimeError("rolled back")
    assert (Job.objects.count(), Dependency.objects.count()) == (0, 0)


def test_a_step_that_is_not_a_call_is_refused():
    with pytest.raises(InvalidJobType, match="A workflow step is a call"):
        chain(call(jobs.add, 1, 2), 42)


def test_a_call_on_another_backend_is_refused():
    with pytest.raises(InvalidJobType, match="uses backend 'immediate'"):
        chain(call(jobs.add, 1, 2), call(jobs.elsewhere, 1, 2)).enqueue()


def test_a_failure_in_a_chain_cancels_the_rest():
    flow = chain(call(jobs.boom), call(jobs.add, 1, 2), call(jobs.add, 3, 4)).enqueue()
    drain(rounds=2)
    assert [Job.objects.get(pk=r.id).state for r in flow.results[1:]] == [JobState.CANCELLED] * 2


def test_a_run_on_failure_step_ends_a_failed_chain():
    flow = chain(call(jobs.boom), call(jobs.gather.using(run_on_failure=True), "finally")).enqueue()
    drain(rounds=3)
    assert returned(flow.results[1]) == {"label": "finally", "saw": [None]}


def test_cancelling_a_workflow_cancels_each_unfinished_job():
    flow = chain(call(jobs.add, 1, 2), group(call(jobs.add, 1, 2), call(jobs.add, 3, 4))).enqueue()
    flow.cancel()
    assert set(Job.objects.values_list("state", flat=True)) == {JobState.CANCELLED}


def test_cancelling_a_workflow_says_how_many_jobs_it_cancelled():
    flow = chain(call(jobs.add, 1, 2), call(jobs.add, 3, 4)).enqueue()
    assert django_jobs.cancel_workflow(flow.id) == 2


def test_a_new_workflow_has_none_of_its_jobs_done():
    flow = chain(call(jobs.add, 1, 2), call(jobs.add, 3, 4), call(jobs.boom)).enqueue()
    assert django_jobs.workflow_progress(flow.id) == (0, 3)


def test_a_workflow_counts_failed_jobs_as_done():
    flow = chain(call(jobs.add, 1, 2), call(jobs.add, 3, 4), call(jobs.boom)).enqueue()
    drain(rounds=4)
    assert django_jobs.workflow_progress(flow.id) == (3, 3)


def statements_to_enqueue(width):
    """Statements to enqueue a fan-out of ``width`` and its fan-in, in a process that has not looked up their ids."""
    functions.clear_caches()
    with CaptureQueriesContext(connection) as queries:
        chain(group(*[call(jobs.add, 1, 2)] * width), call(jobs.gather, "sum")).enqueue()
    return len(queries)


def test_enqueueing_a_workflow_costs_as_many_statements_whatever_its_size():
    statements_to_enqueue(1)  # writes the functions' FuncMap rows
    # Sizes written alike everywhere: by COPY on PostgreSQL (from 20 jobs), in one INSERT on SQLite
    # (Django 5.2 splits SQLite's INSERTs at 999 parameters).
    assert statements_to_enqueue(20) == statements_to_enqueue(22)
