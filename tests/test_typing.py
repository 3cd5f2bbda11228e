"""
The typed user module (tests/typing/user_code.py, which scripts/lint checks with
``mypy --strict``) run for real: what type-checks also works.
"""

from dataclasses import fields
from typing import get_origin

import pytest

from django_jobs import queue
from django_jobs.compat import Task, TaskResultStatus
from django_jobs.results import JobResult
from django_jobs.states import JobState
from django_jobs.task import JOB_OPTIONS, JobTask
from tests.typing import user_code

pytestmark = pytest.mark.django_db(transaction=True)


# Python 3.12 evaluates annotations such as ``task: JobTask[[int], str]`` when it defines the function.
def test_job_task_takes_type_parameters_at_run_time():
    assert get_origin(JobTask[[int], str]) is JobTask


def test_job_result_takes_type_parameters_at_run_time():
    assert get_origin(JobResult[[int], str]) is JobResult


def test_the_typed_options_are_the_fields_a_job_task_adds():
    # JOB_OPTIONS, which using() takes, are the keys of the JobOptions TypedDict that types it.
    assert set(JOB_OPTIONS) == {f.name for f in fields(JobTask)} - {f.name for f in fields(Task)}


def test_readme_calls_enqueue_with_the_options_given():
    result = user_code.enqueue_as_the_readme_does()
    assert result.status == TaskResultStatus.READY
    assert result.created
    assert result.task.priority == 10


def test_readme_calls_leave_the_job_enqueued_by_name_ready_again():
    user_code.enqueue_as_the_readme_does()
    (by_name,) = [job for job in queue.list_jobs(using="default") if job.max_attempts == 2]
    assert by_name.state == JobState.READY


def test_enqueue_and_run_returns_the_functions_return_values():
    summed, exported = user_code.run_here()
    assert summed.return_value == 5
    assert exported.status == TaskResultStatus.SUCCESSFUL


def test_a_job_taking_its_context_reads_its_own_id():
    _summed, exported = user_code.run_here()
    assert exported.return_value == int(exported.id)


def test_enqueue_many_takes_each_form_of_call():
    assert len(user_code.enqueue_a_batch()) == 3


def test_pause_then_resume_leaves_the_queue_running():
    user_code.pause_and_resume("emails")
    assert "emails" not in queue.paused_queues(using="default")
