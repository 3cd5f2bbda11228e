"""Rate limits: at most N jobs of a rate key claimed in any window of the period, across workers."""

import bisect
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

import django_jobs
from django_jobs import queue
from django_jobs.compat import task_backends
from django_jobs.db.rates import RATE_SLICES, bucket_of
from django_jobs.exceptions import InvalidJobArguments, InvalidJobType
from django_jobs.models import Job, JobRun, RateBucket
from django_jobs.states import JobState
from django_jobs.worker import Worker
from tests.testapp import jobs, rated_jobs

LEASE = timedelta(seconds=30)


def claim(limit=10, worker="w"):
    return queue.claim(worker_id=worker, queues=None, limit=limit, lease=LEASE, using="default")


def most_in_any_window(times, seconds):
    """The most of ``times`` (sorted datetimes) that fall within any half-open window of ``seconds``."""
    window = timedelta(seconds=seconds)
    return max(bisect.bisect_left(times, t + window) - i for i, t in enumerate(times))


def undecorated():
    """A module-level function for the declaration tests."""


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_forty_jobs_at_five_per_second_across_two_workers(workers):
    for i in range(40):
        rated_jobs.ping.enqueue(i)
    procs = [workers.start("--burst", "--concurrency", "4") for _ in range(2)]
    for proc in procs:
        assert proc.wait(120) == 0, workers.output(proc)
    assert Job.objects.filter(state=JobState.SUCCEEDED).count() == 40, [workers.output(p)[-3000:] for p in procs]
    starts = sorted(JobRun.objects.values_list("started_at", flat=True))
    assert most_in_any_window(starts, 1) <= 5
    # Held to the limit, not below it: 8 periods' worth, each at most a slice longer.
    assert (starts[-1] - starts[0]).total_seconds() >= 7
    assert (starts[-1] - starts[0]).total_seconds() < 7 * (1 + 1 / RATE_SLICES) + 3
    # Both workers claimed some: the limit is held across them, not per worker.
    assert JobRun.objects.values("worker_id").distinct().count() == 2


@pytest.mark.django_db
def test_claims_stop_at_the_limit_per_key():
    for account in ("a", "a", "a", "b"):
        rated_jobs.sync.enqueue(account)
    first = claim()
    assert sorted(c.args[0] for c in first) == ["a", "a", "b"]
    assert claim() == []


@pytest.mark.django_db
def test_a_full_key_says_when_it_frees_and_does_not_hold_back_other_jobs():
    for _ in range(3):
        rated_jobs.sync.enqueue("a")
    claim()
    other = jobs.add.enqueue(1, 2)
    again = claim()
    assert [c.id for c in again] == [int(other.id)]
    # 2/m: the first bucket stops counting after the minute and one slice (6 s) more.
    assert 60 < again.rate_wait <= 66


@pytest.mark.django_db
def test_the_limit_frees_once_its_bucket_stops_counting():
    for _ in range(3):
        rated_jobs.sync.enqueue("a")
    claim()
    RateBucket.objects.update(counts_until=timezone.now() - timedelta(seconds=1))
    (third,) = claim()
    assert third.args == ["a"]


@pytest.mark.django_db
def test_claims_are_counted_in_buckets_of_a_tenth_of_the_period():
    rated_jobs.sync.enqueue("a")
    (claimed,) = claim()
    (bucket,) = RateBucket.objects.all()
    assert (bucket.key, bucket.claims, bucket.rate_limit) == ("account:a", 1, 2)
    assert bucket.counts_until - bucket.start == timedelta(seconds=66)
    assert bucket.start <= claimed.last_attempted_at < bucket.start + timedelta(seconds=6)


def test_a_bucket_starts_on_a_slice_boundary():
    start, until = bucket_of(datetime(2026, 1, 1, 12, 0, 0, 750_000, tzinfo=UTC), 1)
    assert start == datetime(2026, 1, 1, 12, 0, 0, 700_000, tzinfo=UTC)
    assert until == datetime(2026, 1, 1, 12, 0, 1, 800_000, tzinfo=UTC)


@pytest.mark.django_db
def test_the_default_key_is_the_task():
    job = rated_jobs.ping.enqueue(1)
    stored = Job.objects.get(pk=job.id)
    assert (stored.rate_key, stored.rate_limit, stored.rate_period) == ("tests.testapp.rated_jobs.ping", 5, 1)


@pytest.mark.django_db
def test_using_sets_a_limit_per_enqueue():
    job = jobs.add.using(rate_limit="3/h", rate_limit_key="mail").enqueue(1, 2)
    stored = Job.objects.get(pk=job.id)
    assert (stored.rate_key, stored.rate_limit, stored.rate_period) == ("mail", 3, 3600)


@pytest.mark.django_db
def test_jobs_without_a_limit_write_no_buckets():
    jobs.add.enqueue(1, 2)
    claim()
    assert not RateBucket.objects.exists()


@pytest.mark.parametrize("spec", ["5/x", "0/s", "-1/s", "5", "/s", "1.5/m", "five/s", 5])
def test_a_bad_spec_is_refused_at_declaration(spec):
    with pytest.raises(InvalidJobType, match="rate_limit"):
        django_jobs.job(rate_limit=spec)(undecorated)


@pytest.mark.django_db
@pytest.mark.parametrize("spec", ["5/x", "0/s", 7])
def test_a_bad_spec_is_refused_at_using_and_writes_nothing(spec):
    with pytest.raises(InvalidJobType, match="rate_limit"):
        jobs.add.using(rate_limit=spec).enqueue(1, 2)
    assert not Job.objects.exists()


def test_a_rate_key_needs_a_limit():
    with pytest.raises(InvalidJobType, match="rate_limit_key needs a rate_limit"):
        jobs.add.using(rate_limit_key="mail")


@pytest.mark.parametrize("key", ["", 5, "k" * 256])
def test_a_bad_rate_key_is_refused(key):
    with pytest.raises(InvalidJobType, match="rate_limit_key"):
        jobs.add.using(rate_limit="5/s", rate_limit_key=key)


@pytest.mark.django_db
def test_a_key_function_giving_no_string_writes_nothing():
    with pytest.raises(InvalidJobArguments, match=r"rate_limit_key of tests\.testapp\.jobs\.add"):
        jobs.add.using(rate_limit="5/s", rate_limit_key=lambda a, b: None).enqueue(1, 2)
    assert not Job.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_an_idle_worker_sleeps_until_the_key_frees(monkeypatch):
    """With only rate-limited jobs left, a worker waits for the key's bucket: not POLL_INTERVAL, not a hot loop."""
    for i in range(4):
        jobs.add.using(rate_limit="2/s", rate_limit_key="k").enqueue(i, 0)
    claims = []
    original = queue.complete_and_claim

    def counted(*args, **kwargs):
        claims.append(time.monotonic())
        return original(*args, **kwargs)

    monkeypatch.setattr(queue, "complete_and_claim", counted)
    started = time.monotonic()
    backend = task_backends["default"]
    # A heartbeat far off: its thread would hold a connection past the test (it does not close its own).
    options = replace(backend.job_options, WORKER_HEARTBEAT=60.0)
    Worker(using=backend.database, options=options, burst=True, concurrency=2).run()
    took = time.monotonic() - started
    assert Job.objects.filter(state=JobState.SUCCEEDED).count() == 4
    assert 1.0 <= took < 3
    assert len(claims) < 60  # not a claim every BUSY_WAIT while it waited


@pytest.mark.django_db
def test_pruning_drops_buckets_long_spent():
    now = timezone.now()
    RateBucket.objects.create(key="gone", start=now, claims=1, rate_limit=1, counts_until=now - timedelta(hours=2))
    RateBucket.objects.create(key="live", start=now, claims=1, rate_limit=1, counts_until=now + timedelta(seconds=5))
    assert queue.prune_rate_buckets(using="default") == 1
    assert list(RateBucket.objects.values_list("key", flat=True)) == ["live"]


@pytest.mark.django_db
def test_a_job_under_both_limits_is_held_by_the_tighter():
    both = jobs.add.using(rate_limit="5/s", rate_limit_key="r", concurrency_key="c", concurrency_limit=1)
    for i in range(3):
        both.enqueue(i, 0)
    assert len(claim()) == 1
    assert RateBucket.objects.get().claims == 1


@pytest.mark.django_db
def test_a_full_key_of_another_queue_keeps_no_worker_of_this_one_waiting():
    for _ in range(3):
        rated_jobs.sync.using(queue_name="emails").enqueue("a")
    claim()
    mine = queue.claim(worker_id="w2", queues=["default"], limit=10, lease=LEASE, using="default")
    assert mine.rate_wait is None
