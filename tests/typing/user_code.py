"""
A user's module, written as README.md and docs/tutorial.md use the public API.

``scripts/lint`` checks this package with ``mypy --strict``: should the API lose
its types (a parameter or return value turning into ``Any``), an ``assert_type``
below fails, and so does strict mode's ban on calling untyped functions.
``tests/test_typing.py`` runs it, so that what type-checks also works.
"""

from typing import Any, assert_type

import django_jobs
from django_jobs import Decline, PermanentFailure
from django_jobs.compat import TaskResultStatus, task
from django_jobs.models import Job, JobLog, JobRun
from django_jobs.results import JobResult
from django_jobs.task import JobContext, JobTask

PATH = "tests.typing.user_code"


@task(queue_name="emails")
def send_receipt(order_id: int) -> None:
    """Django's own ``@task``: typed by django-stubs, run by our backend."""


@django_jobs.job(max_attempts=5, max_work_duration=60)  # a Task with our options
def sync_account(account_id: int) -> str:
    return f"account {account_id} synced"


# ``/``: a parameter that may be passed by name shows in the type with its name,
# so ``JobTask[[int, int], int]`` below is written for positional-only ones.
@django_jobs.job
def add(a: int, b: int, /) -> int:
    return a + b


@django_jobs.job(takes_context=True, max_attempts=3)
def export(context: JobContext, report_id: int, /) -> int:
    """A job that reads its context: the job's id, and which attempt this is."""
    context.raise_if_cancelled()
    if report_id < 0 and context.attempt == 1:
        raise Decline(run_after=60)
    if report_id == 0:
        raise PermanentFailure(f"no report {report_id}", exit_status=2)
    return context.job_id


assert_type(add, JobTask[[int, int], int])
assert_type(export, JobTask[[int], int])  # the JobContext is the worker's to pass, not the caller's


def enqueue_as_the_readme_does() -> JobResult[..., str]:
    """The calls of README.md's "Use it"; returns the result of ``sync_account``."""
    send_receipt.enqueue(7)
    assert_type(send_receipt.call(7), None)
    assert_type(sync_account.call(42), str)
    result = sync_account.using(priority=10, uniqkey="account-42").enqueue(42)
    assert_type(result.status, TaskResultStatus)
    assert_type(result.created, bool)
    assert_type(result.attempts, int)
    by_name = django_jobs.enqueue(f"{PATH}.sync_account", args=[42], max_attempts=2)
    assert_type(by_name, JobResult[..., Any])
    assert_type(django_jobs.cancel(by_name.id), Job)
    assert_type(django_jobs.retry(by_name.id), Job)
    assert_type(django_jobs.run_now(by_name.id), Job)
    return result


def run_here() -> tuple[JobResult[[int, int], int], JobResult[[int], int]]:
    """``enqueue_and_run`` a plain job and one taking its context; their results, read back."""
    summed = django_jobs.enqueue_and_run(add, [2, 3])
    exported = django_jobs.enqueue_and_run(f"{PATH}.export", [7], queue_name="reports")
    assert_type(django_jobs.failures(summed.id), list[JobRun])
    assert_type(django_jobs.logs(summed.id, attempt=1), list[JobLog])
    assert_type(add.get_result(summed.id).return_value, int)
    return add.get_result(summed.id), export.get_result(exported.id)


def enqueue_a_batch() -> list[str]:
    """``enqueue_many`` with each form a call may take; the ids of the jobs."""
    results = django_jobs.enqueue_many([(add, [1, 2]), (f"{PATH}.add", [3, 4], {}), (export, [5])])
    assert_type(results, list[JobResult[..., Any]])
    return [result.id for result in results]


def pause_and_resume(queue_name: str) -> None:
    assert_type(django_jobs.pause(queue_name), None)
    django_jobs.resume(queue_name)
