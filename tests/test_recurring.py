"""Recurring jobs: OPTIONS['RECURRING'], enqueued by the scheduler leader once per occurrence."""

import copy
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from django.db import connections

import django_jobs
from django_jobs.checks import check_recurring
from django_jobs.compat import task_backends
from django_jobs.models import Job, JobRun, RecurringState
from django_jobs.recurring import Recurring
from django_jobs.states import JobState, RunOutcome
from tests.conftest import ROOT, drain, wait_until
from tests.testapp.models import Execution

PARIS = ZoneInfo("Europe/Paris")

NIGHTLY = {
    "task": "tests.testapp.jobs.send_email",
    "cron": "0 3 * * *",
    "timezone": "Europe/Paris",
    "args": ["boss@example.com"],
    "kwargs": {"subject": "nightly"},
    "queue_name": "reports",
    "priority": 5,
}


def with_recurring(settings, **entries):
    tasks = copy.deepcopy(settings.TASKS)
    tasks["default"]["OPTIONS"]["RECURRING"] = entries
    settings.TASKS = tasks


def recurring():
    return Recurring(task_backends["default"].database)


def paris(*args):
    return datetime(*args, tzinfo=PARIS)


def uniqkeys():
    return list(Job.objects.order_by("id").values_list("uniqkey", flat=True))


def last(name):
    return RecurringState.objects.get(name=name).last_occurrence


@pytest.mark.django_db
class TestOccurrences:
    def test_first_tick_begins_now_and_back_fills_nothing(self, settings):
        with_recurring(settings, nightly=NIGHTLY)
        start = paris(2026, 1, 10, 12, 0, 0)
        assert recurring().run(now=start) == 0
        assert last("nightly") == start
        assert recurring().run(now=paris(2026, 1, 11, 2, 59, 59)) == 0
        assert not Job.objects.exists()

    def test_each_occurrence_is_enqueued_once_with_the_entry_options(self, settings):
        with_recurring(settings, nightly=NIGHTLY)
        r = recurring()
        r.run(now=paris(2026, 1, 10, 12, 0))
        assert r.run(now=paris(2026, 1, 11, 3, 0, 2)) == 1
        job = Job.objects.select_related("func").get()
        assert job.func.path == "tests.testapp.jobs.send_email"
        assert (job.args, job.kwargs) == (["boss@example.com"], {"subject": "nightly"})
        assert (job.queue_name, job.priority, job.state) == ("reports", 5, JobState.READY)
        assert job.uniqkey == "recurring:nightly:2026-01-11T03:00:00+01:00"
        assert last("nightly") == paris(2026, 1, 11, 3, 0)
        # Later ticks, a new leader (a new Recurring), the job having finished: never again.
        assert r.run(now=paris(2026, 1, 11, 3, 0, 3)) == 0
        django_jobs.cancel(job.pk)  # finished: its uniqkey no longer guards anything
        assert Job.objects.get().state == JobState.CANCELLED
        assert recurring().run(now=paris(2026, 1, 11, 3, 0, 4)) == 0
        assert Job.objects.count() == 1
        # The next night's occurrence comes in its turn.
        assert recurring().run(now=paris(2026, 1, 12, 3, 0, 1)) == 1
        assert uniqkeys()[-1] == "recurring:nightly:2026-01-12T03:00:00+01:00"

    def test_the_timezone_is_the_entrys_across_a_dst_change(self, settings):
        with_recurring(settings, nightly=NIGHTLY)
        r = recurring()
        r.run(now=paris(2026, 3, 28, 12, 0))
        r.run(now=paris(2026, 3, 29, 3, 0, 30))  # Paris moved to summer time that night
        r.run(now=paris(2026, 3, 30, 3, 0, 30))
        assert uniqkeys() == [
            "recurring:nightly:2026-03-29T03:00:00+02:00",
            "recurring:nightly:2026-03-30T03:00:00+02:00",
        ]
        assert last("nightly") == datetime(2026, 3, 30, 1, 0, tzinfo=UTC)

    def test_missed_occurrences_are_skipped_by_default(self, settings):
        with_recurring(settings, nightly=NIGHTLY)
        r = recurring()
        r.run(now=paris(2026, 1, 10, 12, 0))
        # Everything was down from the 10th to the 14th at noon: the nights in between were missed.
        assert r.run(now=paris(2026, 1, 14, 12, 0)) == 0
        assert not Job.objects.exists()
        assert last("nightly") == paris(2026, 1, 14, 3, 0)
        assert r.run(now=paris(2026, 1, 15, 3, 0, 1)) == 1
        assert uniqkeys() == ["recurring:nightly:2026-01-15T03:00:00+01:00"]

    def test_run_once_enqueues_the_latest_missed_occurrence_once(self, settings):
        with_recurring(settings, nightly={**NIGHTLY, "missed": "run_once"})
        r = recurring()
        r.run(now=paris(2026, 1, 10, 12, 0))
        assert r.run(now=paris(2026, 1, 14, 12, 0)) == 1
        assert uniqkeys() == ["recurring:nightly:2026-01-14T03:00:00+01:00"]
        assert r.run(now=paris(2026, 1, 14, 12, 1)) == 0
        assert r.run(now=paris(2026, 1, 15, 3, 0, 1)) == 1
        assert Job.objects.count() == 2

    @pytest.mark.parametrize(
        "missed, grace, expected",
        [
            # Within the grace every late occurrence still runs (a slow or failed-over leader catches up).
            ("skip", 600, ["10:01", "10:02", "10:03"]),
            # Past it they were missed: skipped, or the latest of them run once.
            ("skip", 90, ["10:03"]),
            ("run_once", 90, ["10:02", "10:03"]),
        ],
    )
    def test_the_grace_divides_late_from_missed(self, settings, missed, grace, expected):
        with_recurring(
            settings,
            minutely={
                "task": "tests.testapp.jobs.add",
                "cron": "* * * * *",
                "timezone": "UTC",
                "args": [1, 2],
                "missed": missed,
                "grace": grace,
            },
        )
        r = recurring()
        r.run(now=datetime(2026, 1, 1, 10, 0, 0, tzinfo=UTC))
        r.run(now=datetime(2026, 1, 1, 10, 3, 30, tzinfo=UTC))
        assert [key.split("T")[1][:5] for key in uniqkeys()] == expected
        assert last("minutely") == datetime(2026, 1, 1, 10, 3, tzinfo=UTC)

    def test_a_stale_leader_cannot_enqueue_what_its_successor_did(self, settings):
        """Two leaders that read the same state: the guarded UPDATE lets one of them enqueue."""
        from django_jobs.recurring import run_entry

        with_recurring(settings, nightly=NIGHTLY)
        old, new = recurring(), recurring()
        old.run(now=paris(2026, 1, 10, 12, 0))
        read_by_both = last("nightly")
        new.entries = new.load()
        assert run_entry(new.entries[0], read_by_both, paris(2026, 1, 11, 3, 0, 1), using=new.using) == 1
        old.entries = old.load()
        assert run_entry(old.entries[0], read_by_both, paris(2026, 1, 11, 3, 0, 2), using=old.using) == 0
        assert Job.objects.count() == 1

    def test_an_entry_that_does_not_load_is_ignored_and_the_others_run(self, settings, caplog):
        with_recurring(settings, nightly=NIGHTLY, broken={**NIGHTLY, "cron": "not a cron"})
        r = recurring()
        r.run(now=paris(2026, 1, 10, 12, 0))
        assert r.run(now=paris(2026, 1, 11, 3, 0, 1)) == 1
        assert [e.name for e in r.entries] == ["nightly"]
        assert "Ignoring RECURRING entry 'broken'" in caplog.text

    def test_no_entries_no_queries(self, settings, django_assert_num_queries):
        r = recurring()
        with django_assert_num_queries(0):
            assert r.run() == 0
            assert r.run() == 0


@pytest.mark.django_db(transaction=True)
def test_racing_leaders_enqueue_an_occurrence_once(settings):
    with_recurring(settings, every_second={"task": "tests.testapp.jobs.add", "cron": "* * * * * *", "args": [1, 2]})
    start = datetime(2026, 1, 1, 10, 0, 0, 500000, tzinfo=UTC)
    recurring().run(now=start)
    barrier = threading.Barrier(6)
    counts = []

    def leader(i):
        try:
            r = recurring()
            r.entries = r.load()
            barrier.wait()
            counts.append(r.run(now=start + timedelta(seconds=5)))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=leader, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(counts) == [0, 0, 0, 0, 0, 5]
    assert len(set(uniqkeys())) == Job.objects.count() == 5


# -- the system check ------------------------------------------------------------------


def test_the_system_check_names_each_bad_entry(settings):
    with_recurring(
        settings,
        good={**NIGHTLY},
        bad_cron={**NIGHTLY, "cron": "61 * * * *"},
        never={**NIGHTLY, "cron": "0 0 31 2 *"},
        no_task={**NIGHTLY, "task": "tests.testapp.jobs.renamed"},
        not_a_task={**NIGHTLY, "task": "tests.testapp.jobs.not_a_task"},
        foreign_task={**NIGHTLY, "task": "tests.testapp.jobs.elsewhere", "args": [1, 2], "kwargs": {}},
        bad_tz={**NIGHTLY, "timezone": "Mars/Olympus"},
        bad_missed={**NIGHTLY, "missed": "sometimes"},
        bad_grace={**NIGHTLY, "grace": 0},
        bad_args={**NIGHTLY, "args": []},
        bad_queue={**NIGHTLY, "queue_name": "nope"},
        typo={**NIGHTLY, "prority": 1},
        not_a_dict="0 3 * * *",
    )
    errors = {(e.obj, e.id) for e in check_recurring()}
    assert errors == {
        ("bad_cron", "django_jobs.E002"),
        ("never", "django_jobs.E002"),
        ("no_task", "django_jobs.E003"),
        ("not_a_task", "django_jobs.E003"),
        ("foreign_task", "django_jobs.E003"),
        ("bad_tz", "django_jobs.E004"),
        ("bad_missed", "django_jobs.E005"),
        ("bad_grace", "django_jobs.E005"),
        ("bad_args", "django_jobs.E006"),
        ("bad_queue", "django_jobs.E006"),
        ("typo", "django_jobs.E001"),
        ("not_a_dict", "django_jobs.E001"),
    }
    for error in check_recurring():
        assert f"RECURRING entry {error.obj!r}" in error.msg


def test_the_system_check_passes_good_entries(settings):
    with_recurring(
        settings,
        nightly=NIGHTLY,
        every_second={"task": "tests.testapp.jobs.add", "cron": "* * * * * *", "args": [1, 2]},
    )
    assert check_recurring() == []


def test_names_are_unique_per_database(settings):
    tasks = copy.deepcopy(settings.TASKS)
    tasks["default"]["OPTIONS"]["RECURRING"] = {"nightly": NIGHTLY}
    tasks["other"] = copy.deepcopy(tasks["default"])
    settings.TASKS = tasks
    assert [(e.obj, e.id) for e in check_recurring()] == [("nightly", "django_jobs.E007")]


def settings_module(tmp_path, entries, name="recurring_settings"):
    (tmp_path / f"{name}.py").write_text(
        "import copy\n"
        "from tests.settings import *  # noqa\n"
        "TASKS = copy.deepcopy(TASKS)\n"
        f"TASKS['default']['OPTIONS']['RECURRING'] = {entries!r}\n"
    )
    return {"DJANGO_SETTINGS_MODULE": name, "PYTHONPATH": f"{tmp_path}:{ROOT}"}


@pytest.mark.django_db
def test_a_bad_entry_stops_runworker_at_start_up(workers, tmp_path):
    env = settings_module(tmp_path, {"nightly": {**NIGHTLY, "cron": "0 25 * * *"}})
    proc = workers.burst(env=env)
    assert proc.returncode == 1
    assert "nightly: (django_jobs.E002)" in proc.stderr and "'0 25 * * *'" in proc.stderr
    check = subprocess.run(
        [sys.executable, "-m", "django", "check"],
        env={**workers.env, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 1 and "django_jobs.E002" in check.stderr


# -- real workers --------------------------------------------------------------------------


def occurrences():
    keys = Job.objects.filter(uniqkey__startswith="recurring:tick:").values_list("uniqkey", flat=True)
    return sorted(datetime.fromisoformat(key.removeprefix("recurring:tick:")) for key in keys)


def leader_of(workers, procs):
    for proc in procs:
        if proc.poll() is None and "took scheduler leadership" in workers.output(proc):
            return proc
    return None


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_every_second_one_job_per_occurrence_with_three_workers(workers, tmp_path):
    entry = {"task": "tests.testapp.jobs.record", "cron": "* * * * * *", "kwargs": {"label": "tick"}}
    env = {**settings_module(tmp_path, {"tick": entry}), "DJANGO_JOBS_LEASE_SECONDS": "2"}
    procs = [workers.start("--concurrency", "2", env=env) for _ in range(3)]
    wait_until(lambda: len(occurrences()) >= 4, timeout=30, message="four occurrences")
    # The leader dies without a word; another worker takes over and goes on where it stopped.
    leader = leader_of(workers, procs)
    assert leader is not None
    leader.send_signal(signal.SIGKILL)
    leader.wait(10)
    seen = len(occurrences())
    wait_until(lambda: len(occurrences()) >= seen + 4, timeout=30, message="four more occurrences")
    assert leader_of(workers, procs) not in (None, leader)
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        proc.wait(30)

    times = occurrences()
    assert len(times) == Job.objects.count() >= 8
    # One job per occurrence, none missing: consecutive seconds, through the change of leader.
    assert [b - a for a, b in pairwise(times)] == [timedelta(seconds=1)] * (len(times) - 1)
    assert last("tick") == times[-1]
    # Every job runs. Those the killed worker held are taken back (their attempt lost, not spent) and run
    # again: a job runs twice only when the worker running it died.
    time.sleep(2.5)
    drain()
    assert set(Job.objects.values_list("state", flat=True)) == {JobState.SUCCEEDED}
    lost = set(JobRun.objects.filter(outcome=RunOutcome.LOST).values_list("job_id", flat=True))
    executions = Counter(Execution.objects.filter(label="tick").values_list("job_id", flat=True))
    assert {job_id for job_id, n in executions.items() if n > 1} <= lost


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_occurrences_missed_while_stopped_are_skipped_after_a_restart(workers, tmp_path):
    entry = {"task": "tests.testapp.jobs.add", "cron": "* * * * * *", "args": [1, 2], "grace": 1}
    env = settings_module(tmp_path, {"tick": entry})
    first = workers.start(env=env)
    wait_until(lambda: len(occurrences()) >= 2, timeout=30, message="two occurrences")
    first.send_signal(signal.SIGTERM)
    assert first.wait(30) == 0
    before = occurrences()
    time.sleep(3.5)
    second = workers.start(env=env)
    wait_until(lambda: len(occurrences()) >= len(before) + 2, timeout=30, message="occurrences after the restart")
    second.send_signal(signal.SIGTERM)
    assert second.wait(30) == 0
    times = occurrences()
    after = times[len(before) :]
    assert times[: len(before)] == before
    assert after[0] - before[-1] >= timedelta(seconds=3)  # the ones in between were skipped
    assert [b - a for a, b in pairwise(after)] == [timedelta(seconds=1)] * (len(after) - 1)
    assert "missed its occurrences" in workers.output(second)
