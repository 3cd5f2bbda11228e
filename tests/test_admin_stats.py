"""django_jobs.stats: the figures behind the admin's dashboard and ``manage.py jobs stats``."""

import ast
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from django_jobs import queue, stats
from django_jobs.models import Job, WorkerState
from django_jobs.states import JobState, RunOutcome
from tests.factories import JobFactory, JobRunFactory, WorkerFactory

pytestmark = pytest.mark.django_db


def test_queue_stats_counts_each_state_per_queue_in_three_queries():
    now = timezone.now()
    JobFactory(run_after=now - timedelta(seconds=120))
    JobFactory(run_after=now - timedelta(seconds=10))
    JobFactory(run_after=now + timedelta(hours=1))
    JobFactory(queue_name="emails", state=JobState.RUNNING, worker_id="w")
    for state in (JobState.SUCCEEDED, JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.EXPIRED):
        JobFactory(queue_name="emails", state=state, finished_at=now)
    with CaptureQueriesContext(connection) as queries:
        result = stats.queue_stats("default")
    assert len(queries) == 4
    default, emails = result
    assert (default.name, default.ready, default.due, default.scheduled, default.running) == ("default", 3, 2, 1, 0)
    assert 119 <= default.oldest_due_age < 200
    assert emails == stats.QueueStats(name="emails", running=1, succeeded=2, failed=1, cancelled=1, expired=1)


def test_queue_stats_for_named_queues_keeps_their_order_and_gives_empty_ones_zeros():
    JobFactory(queue_name="reports")
    JobFactory(queue_name="default")
    result = stats.queue_stats("default", queues=["reports", "emails"])
    assert [(s.name, s.ready) for s in result] == [("reports", 1), ("emails", 0)]
    assert result[1].oldest_due_age is None


def test_bucket_starts_are_aligned_to_the_bucket_width():
    since = datetime(2026, 1, 1, 10, 7, 31, tzinfo=UTC)
    until = datetime(2026, 1, 1, 10, 21, 0, tzinfo=UTC)
    starts = stats.bucket_starts(since, timedelta(minutes=5), until)
    assert [s.strftime("%H:%M") for s in starts] == ["10:05", "10:10", "10:15", "10:20"]
    with pytest.raises(ValueError):
        stats.bucket_starts(since, timedelta(0), until)


def test_throughput_counts_succeeded_and_failed_jobs_per_bucket_and_queue():
    now = timezone.now()
    for minutes_ago, state, queue_name in [
        (2, "succeeded", "default"),
        (2, "succeeded", "default"),
        (2, "failed", "default"),
        (40, "succeeded", "emails"),
        (3 * 60, "succeeded", "default"),  # before the window
        (1, "cancelled", "default"),
    ]:  # not work done
        JobFactory(state=state, queue_name=queue_name, finished_at=now - timedelta(minutes=minutes_ago))
    with CaptureQueriesContext(connection) as queries:
        flow = stats.throughput(
            "default", now - timedelta(hours=1), timedelta(minutes=10), queues=["default", "emails", "reports"]
        )
    assert len(queries) == 1
    assert list(flow) == ["default", "emails", "reports"]
    assert all(len(buckets) in (7, 8) for buckets in flow.values())
    assert sum(b.succeeded for b in flow["default"]) == 2 and sum(b.failed for b in flow["default"]) == 1
    assert flow["default"][-1].total == 3 or flow["default"][-2].total == 3  # in the latest bucket(s)
    assert sum(b.total for b in flow["emails"]) == 1 and sum(b.total for b in flow["reports"]) == 0
    assert list(stats.throughput("default", now - timedelta(hours=1))) == ["default", "emails"]


def test_workers_come_from_the_registry_live_ones_first_then_those_ended_lately():
    now = timezone.now()
    WorkerFactory(worker_id="idle", running=0, started_at=now - timedelta(minutes=1))
    WorkerFactory(worker_id="stopping", status=WorkerState.STOPPING, started_at=now - timedelta(minutes=2))
    WorkerFactory(worker_id="stopped", status=WorkerState.STOPPED, stopped_at=now - timedelta(minutes=5))
    WorkerFactory(worker_id="gone", status=WorkerState.GONE, stopped_at=now - timedelta(minutes=1))
    WorkerFactory(worker_id="old", status=WorkerState.STOPPED, stopped_at=now - timedelta(hours=2))
    with CaptureQueriesContext(connection) as queries:
        seen = [w.worker_id for w in stats.workers("default")]
    assert len(queries) == 1
    assert seen == ["idle", "stopping", "gone", "stopped"]  # live (latest started first), then latest ended


def test_function_stats_counts_live_and_failed_jobs_and_finds_the_latest_failure():
    now = timezone.now()
    JobFactory(func__path="tests.testapp.jobs.boom")
    old = JobFactory(func__path="tests.testapp.jobs.boom", state=JobState.FAILED, finished_at=now - timedelta(hours=1))
    new = JobFactory(func__path="tests.testapp.jobs.boom", state=JobState.FAILED, finished_at=now)
    JobRunFactory(job=old, exception_class_path="builtins.KeyError", message="old")
    JobRunFactory(job=new, attempt=1, exception_class_path="builtins.KeyError", message="first try")
    JobRunFactory(job=new, attempt=2, exception_class_path="builtins.ValueError", message="second try")
    JobRunFactory(job=new, attempt=3, outcome=RunOutcome.DECLINED)
    quiet = JobFactory(func__path="tests.testapp.jobs.add", state=JobState.SUCCEEDED).func_id
    with CaptureQueriesContext(connection) as queries:
        figures = stats.function_stats("default", [new.func_id, quiet])
    assert len(queries) == 2
    boom = figures[new.func_id]
    assert (boom.ready, boom.running, boom.failed) == (1, 0, 2)
    assert (boom.last_failure_job_id, boom.last_error) == (new.pk, "ValueError: second try")
    assert quiet not in figures and stats.function_stats("default", []) == {}


def test_function_stats_finds_a_failure_the_queue_service_recorded():
    """finished_at written by the database's clock (SQLite: text, to the millisecond) is found again."""
    JobFactory(func__path="tests.testapp.jobs.boom", max_attempts=1, attempts_left=1)
    (claimed,) = queue.claim(worker_id="w1", queues=None, limit=1, lease=timedelta(seconds=30), using="default")
    queue.fail(claimed, queue.ErrorInfo("builtins.ValueError", "no luck", "Traceback ..."), using="default")
    figures = stats.function_stats("default", [claimed.func_id])[claimed.func_id]
    assert (figures.last_failure_job_id, figures.last_error) == (claimed.id, "ValueError: no luck")


def test_function_stats_takes_the_latest_of_failures_finished_at_once():
    now = timezone.now()
    first, second = JobFactory.create_batch(
        2, func__path="tests.testapp.jobs.boom", state=JobState.FAILED, finished_at=now
    )
    assert stats.function_stats("default", [first.func_id])[first.func_id].last_failure_job_id == second.pk


def test_stats_imports_nothing_above_it():
    """stats reads the job tables; the backend (django.tasks' side) is above it and imports the service."""
    tree = ast.parse(Path(stats.__file__).read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level}
    assert imported.isdisjoint({"backend", "queue", "worker", "admin", "scheduler"})


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite is the database without estimates")
def test_estimated_count_counts_every_row_where_the_database_has_no_estimate(monkeypatch):
    JobFactory.create_batch(3)
    monkeypatch.setattr(stats, "EXACT_BELOW", 2)
    assert stats.estimated_count(Job.objects.all()) == (3, True)


def test_error_text():
    assert stats.error_text("builtins.ValueError", "boom") == "ValueError: boom"
    assert stats.error_text("django_jobs.exceptions.WorkerLost", "") == "WorkerLost"
    assert stats.error_text("", "") == ""


def test_estimated_count_is_exact_on_sqlite_and_small_tables():
    JobFactory.create_batch(3)
    assert stats.estimated_count(Job.objects.all()) == (3, True)
    assert stats.estimated_count(Job.objects.filter(state=JobState.FAILED)) == (0, True)


def _seq_scans(plan):
    """Relations the plan reads sequentially."""
    found = [plan["Relation Name"]] if plan.get("Node Type") == "Seq Scan" else []
    for child in plan.get("Plans", []):
        found += _seq_scans(child)
    return found


@pytest.mark.skipif(connection.vendor != "postgresql", reason="plans on a large table: PostgreSQL's planner")
def test_queue_stats_on_a_large_table_reads_only_the_live_jobs_indexes():
    """
    The documented bound (docs/admin.md): the ready, waiting and running counts read only the partial
    indexes of ready and running jobs, however many jobs the table holds; only the finished
    counts read the finished rows (as many as pruning keeps). Checked on 400,000 jobs by the
    plans PostgreSQL chooses, not by timing.
    """
    template = JobFactory(queue_name="default")
    with connection.cursor() as cursor:
        cursor.execute("SELECT column_name FROM information_schema.columns WHERE table_name = 'django_jobs_job'")
        columns = [c for (c,) in cursor.fetchall() if c not in ("id", "state", "queue_name", "finished_at")]
        names = ", ".join(columns)
        for state, count in (("succeeded", 390_000), ("ready", 9_000), ("running", 1_000)):
            cursor.execute(
                f"INSERT INTO django_jobs_job ({names}, state, queue_name, finished_at) "
                f"SELECT {names}, %s, CASE WHEN n %% 2 = 0 THEN 'default' ELSE 'emails' END, "
                "CASE WHEN %s = 'succeeded' THEN statement_timestamp() END "
                "FROM django_jobs_job, generate_series(1, %s) AS n WHERE id = %s",
                [state, state, count, template.pk],
            )
        cursor.execute("ANALYZE django_jobs_job")
    with CaptureQueriesContext(connection) as queries:
        by_queue = {s.name: s for s in stats.queue_stats("default")}
    assert len(queries) == 4
    assert by_queue["emails"].ready == 4_500 and by_queue["emails"].running == 500
    assert by_queue["default"].succeeded + by_queue["emails"].succeeded == 390_000
    ready, running, waiting, _finished = (q["sql"] for q in queries)
    with connection.cursor() as cursor:
        for sql in (ready, running, waiting):
            cursor.execute("EXPLAIN (FORMAT JSON) " + sql)
            (plan,) = cursor.fetchone()[0]
            assert "django_jobs_job" not in _seq_scans(plan["Plan"]), sql


def test_queue_stats_counts_the_jobs_waiting_for_dependencies_apart_from_ready_ones():
    JobFactory(queue_name="reports")
    JobFactory(queue_name="reports", state=JobState.WAITING, dependencies_left=1)
    (reports,) = stats.queue_stats("default", queues=["reports"])
    assert (reports.ready, reports.waiting) == (1, 1)
