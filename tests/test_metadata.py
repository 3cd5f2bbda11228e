"""
Progress and metadata: a job with ``takes_context=True`` saves ``context.metadata``
with ``context.save_metadata()``; callers read ``result.metadata`` after ``refresh()``;
``manage.py jobs show`` and the admin's job page show it.
"""

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from django_jobs import queue
from django_jobs.compat import TaskResultStatus
from django_jobs.metadata import describe_progress
from django_jobs.models import Job
from tests.conftest import drain, wait_until
from tests.testapp import atomic_jobs

pytestmark = pytest.mark.django_db(transaction=True)
LEASE = timedelta(seconds=30)


def test_metadata_is_empty_before_anything_is_saved():
    assert atomic_jobs.counts.enqueue(3).metadata == {}


def test_a_refresh_reads_the_saved_metadata():
    result = atomic_jobs.counts.enqueue(3)
    drain()
    result.refresh()
    assert result.metadata == {"progress": 3, "total": 3}


def test_a_result_read_again_carries_the_metadata():
    result = atomic_jobs.counts.enqueue(2)
    drain()
    assert atomic_jobs.counts.get_result(result.id).metadata == {"progress": 2, "total": 2}


def test_an_async_job_saves_its_metadata_with_asave_metadata():
    result = atomic_jobs.counts_async.enqueue(2)
    drain()
    result.refresh()
    assert result.metadata == {"progress": 2, "total": 2}


def test_the_metadata_is_kept_after_the_job_ends():
    result = atomic_jobs.counts.enqueue(3)
    drain()
    assert Job.objects.get(pk=result.id).metadata == {"progress": 3, "total": 3}


def test_a_job_that_saves_nothing_has_empty_metadata_after_it_ends():
    result = atomic_jobs.plain_write.enqueue("quiet")
    drain()
    result.refresh()
    assert result.metadata == {}


def test_a_retry_starts_from_the_metadata_its_last_attempt_saved():
    result = atomic_jobs.resumes.enqueue()
    drain(rounds=3)
    result.refresh()
    assert result.return_value == {"stage": "attempt 1"}


def test_non_json_metadata_is_a_clear_error_at_save_metadata():
    result = atomic_jobs.bad_metadata.enqueue(catch=True)
    drain()
    result.refresh()
    assert result.return_value == ("context.metadata['tags'] is a builtins.set, which is not JSON serializable.")


def test_non_json_metadata_fails_the_job_with_a_type_error():
    result = atomic_jobs.bad_metadata.enqueue()
    drain()
    result.refresh()
    assert result.errors[-1].exception_class_path == "builtins.TypeError"


def test_non_json_metadata_writes_nothing():
    result = atomic_jobs.bad_metadata.enqueue()
    drain()
    assert Job.objects.get(pk=result.id).metadata is None


def claim(worker, lease=LEASE):
    (claimed,) = queue.claim(worker_id=worker, queues=None, limit=1, lease=lease, using="default")
    return claimed


def test_the_attempt_holding_the_job_saves_its_metadata():
    result = atomic_jobs.counts.enqueue(1)
    assert queue.save_metadata(claim("w1"), {"progress": 1}, using="default") is True
    assert Job.objects.get(pk=result.id).metadata == {"progress": 1}


def test_a_taken_back_attempt_cannot_save_its_metadata():
    atomic_jobs.counts.enqueue(1)
    lost = claim("w1", lease=timedelta(seconds=-1))
    queue.rescue_expired(using="default")
    assert queue.save_metadata(lost, {"progress": 1}, using="default") is False


def test_a_taken_back_attempt_does_not_overwrite_the_metadata_of_the_next():
    result = atomic_jobs.counts.enqueue(1)
    lost = claim("w1", lease=timedelta(seconds=-1))
    queue.rescue_expired(using="default")
    queue.save_metadata(claim("w2"), {"by": "w2"}, using="default")
    queue.save_metadata(lost, {"by": "w1"}, using="default")
    assert Job.objects.get(pk=result.id).metadata == {"by": "w2"}


def test_a_finished_attempt_cannot_save_its_metadata():
    atomic_jobs.counts.enqueue(1)
    claimed = claim("w1")
    queue.complete(claimed, 1, using="default")
    assert queue.save_metadata(claimed, {"late": True}, using="default") is False


def test_saving_metadata_is_one_query(django_assert_num_queries):
    atomic_jobs.counts.enqueue(1)
    claimed = claim("w1")
    with django_assert_num_queries(1):
        queue.save_metadata(claimed, {"progress": 1}, using="default")


# -- displays ------------------------------------------------------------------------------------


def show(*args):
    out = StringIO()
    call_command("jobs", "show", *args, stdout=out)
    return out.getvalue()


def test_jobs_show_gives_the_progress():
    result = atomic_jobs.counts.enqueue(4)
    drain()
    assert "progress      4 of 4 (100%)" in show(result.id)


def test_jobs_show_gives_the_metadata():
    result = atomic_jobs.resumes.enqueue()
    drain(rounds=3)
    assert 'metadata      {"stage": "attempt 2"}' in show(result.id)


def test_jobs_show_json_gives_the_metadata():
    result = atomic_jobs.counts.enqueue(4)
    drain()
    assert json.loads(show(result.id, "--json"))["metadata"] == {"progress": 4, "total": 4}


def test_the_admin_job_page_draws_a_progress_bar(admin_client):
    result = atomic_jobs.counts.enqueue(4)
    drain()
    page = admin_client.get(reverse("admin:django_jobs_job_change", args=[result.id])).content.decode()
    assert '<progress value="4" max="4"></progress> 4 of 4 (100%)' in page


def test_the_admin_job_page_shows_the_metadata(admin_client):
    result = atomic_jobs.resumes.enqueue()
    drain(rounds=3)
    page = admin_client.get(reverse("admin:django_jobs_job_change", args=[result.id])).content.decode()
    assert "&quot;stage&quot;: &quot;attempt 2&quot;" in page


@pytest.mark.parametrize(
    ("metadata", "described"),
    [
        ({"progress": 1, "total": 4}, "1 of 4 (25%)"),
        ({"progress": 2.5, "total": 10}, "2.5 of 10 (25%)"),
        ({"progress": 1, "total": 0}, None),
        ({"progress": True, "total": 4}, None),
        ({"progress": "1", "total": 4}, None),
        ({"stage": "loading"}, None),
        (None, None),
    ],
)
def test_progress_is_described_only_for_numbers_and_a_positive_total(metadata, described):
    assert describe_progress(metadata) == described


# -- a real worker -----------------------------------------------------------------------------


def read_while_running(task, workers, tmp_path):
    """Run ``task`` (it saves its progress, then waits for a file) in a worker; its metadata is read meanwhile."""
    go = tmp_path / "go"
    result = task.enqueue(5, until=str(go))
    workers.start()

    def saved():
        result.refresh()
        return result.metadata == {"progress": 5, "total": 5}

    wait_until(saved, timeout=60, message="the job's metadata")
    assert result.status == TaskResultStatus.RUNNING
    go.touch()
    wait_until(lambda: Job.objects.get(pk=result.id).state == "succeeded", timeout=60, message="the job to end")


@pytest.mark.slow
def test_a_running_jobs_metadata_is_readable_while_it_runs(workers, tmp_path):
    read_while_running(atomic_jobs.counts, workers, tmp_path)


@pytest.mark.slow
@pytest.mark.skipif(
    connection.vendor == "sqlite", reason="on SQLite an atomic job's metadata is saved in its transaction"
)
def test_an_atomic_jobs_metadata_is_readable_while_it_runs_on_postgresql(workers, tmp_path):
    read_while_running(atomic_jobs.atomic_counts, workers, tmp_path)


@pytest.mark.slow
@pytest.mark.skipif(connection.vendor != "sqlite", reason="on PostgreSQL it is readable at once")
def test_an_atomic_jobs_metadata_is_readable_once_it_ends_on_sqlite(workers, tmp_path):
    go = tmp_path / "go"
    result = atomic_jobs.atomic_counts.enqueue(5, until=str(go))
    workers.start()
    wait_until(lambda: Job.objects.get(pk=result.id).state == "running", timeout=60, message="the job to start")
    result.refresh()
    assert result.metadata == {}
    go.touch()
    wait_until(lambda: Job.objects.get(pk=result.id).state == "succeeded", timeout=60, message="the job to end")
    result.refresh()
    assert result.metadata == {"progress": 5, "total": 5}
