"""Concurrency limits, paused queues and argument validation."""

from datetime import timedelta

import pytest

from django_jobs import queue
from django_jobs.db.base import DatabaseOps
from django_jobs.exceptions import InvalidJobArguments
from django_jobs.models import Job
from django_jobs.states import JobState
from tests.testapp import jobs, limited_jobs
from tests.testapp.models import Span

LEASE = timedelta(seconds=30)


def max_overlap(label):
    events = []
    for start, end in Span.objects.filter(label=label).values_list("start", "end"):
        events += [(start, 1), (end, -1)]
    running = peak = 0
    for _t, delta in sorted(events, key=lambda e: (e[0], e[1])):
        running += delta
        peak = max(peak, running)
    return peak


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_limits_hold_under_load_across_workers(workers):
    for _ in range(16):
        limited_jobs.call_api.enqueue(0.15)
    for i in range(12):
        limited_jobs.sync_account.enqueue(i % 2, seconds=0.1)
    for _ in range(10):
        limited_jobs.report.enqueue(0.15)
    for _ in range(20):
        limited_jobs.unlimited.enqueue(0.05)
    procs = [workers.start("--burst", "--concurrency", "4") for _ in range(3)]
    for proc in procs:
        assert proc.wait(120) == 0, workers.output(proc)
    assert set(Job.objects.values_list("state", flat=True)) == {JobState.SUCCEEDED}
    assert Span.objects.count() == 16 + 12 + 10 + 20
    assert max_overlap("api") == 2
    assert max_overlap("account:0") == 1 and max_overlap("account:1") == 1
    assert max_overlap("reports") == 2
    # unlimited jobs were not held back behind the limited ones
    assert max_overlap("unlimited") > 2


@pytest.mark.django_db
def test_limited_jobs_wait_without_blocking_others():
    for _ in range(3):
        limited_jobs.call_api.enqueue()
    other = jobs.add.enqueue(1, 2)
    claimed = queue.claim(
        worker_id="w", queues=None, limit=10, lease=LEASE, using="default", queue_limits={"reports": 2}
    )
    names = sorted(c.func_path.rsplit(".", 1)[1] for c in claimed)
    assert names == ["add", "call_api", "call_api"]
    assert int(other.id) in {c.id for c in claimed}
    again = queue.claim(worker_id="w2", queues=None, limit=10, lease=LEASE, using="default")
    assert again == []  # the third api job waits for a slot
    queue.complete(claimed[0] if claimed[0].func_path.endswith("call_api") else claimed[1], None, using="default")
    (third,) = queue.claim(worker_id="w2", queues=None, limit=10, lease=LEASE, using="default")
    assert third.func_path.endswith("call_api")


def test_choose_limited_respects_every_resource():
    candidates = [(1, "a", 1, "q"), (2, "a", 1, "q"), (3, None, None, "r"), (4, "b", 2, "r"), (5, "b", 2, "r")]
    chosen = DatabaseOps.choose_limited(candidates, {("queue", "r"): 1}, {"r": 2}, lambda r: True, 10)
    assert chosen == [1, 3]
    chosen = DatabaseOps.choose_limited(candidates, {}, {}, lambda r: r != ("key", "a"), 10)
    assert chosen == [3, 4, 5]


@pytest.mark.django_db
def test_paused_queue_is_not_claimed_but_still_fills():
    import django_jobs
    from django_jobs.exceptions import QueueNotFound

    with pytest.raises(QueueNotFound):
        django_jobs.pause("no-such-queue")
    django_jobs.pause("emails")
    email = jobs.send_email.enqueue("a@b.c")
    other = jobs.add.enqueue(1, 2)
    claimed = queue.claim(worker_id="w", queues=None, limit=10, lease=LEASE, using="default")
    assert [c.id for c in claimed] == [int(other.id)]
    assert queue.paused_queues(using="default") == {"emails"}
    django_jobs.resume("emails")
    (resumed,) = queue.claim(worker_id="w", queues=None, limit=10, lease=LEASE, using="default")
    assert resumed.id == int(email.id)


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_a_paused_queue_stops_real_workers(workers):
    queue.pause("emails", using="default")
    email = jobs.send_email.enqueue("a@b.c")
    other = jobs.add.enqueue(1, 2)
    assert workers.burst().returncode == 0
    assert Job.objects.get(pk=email.id).state == JobState.READY
    assert Job.objects.get(pk=other.id).state == JobState.SUCCEEDED


@pytest.mark.django_db
def test_arguments_are_bound_to_the_signature_at_enqueue():
    with pytest.raises(InvalidJobArguments, match=r"add\(a, b\): missing a required argument: 'b'"):
        jobs.add.enqueue(1)
    with pytest.raises(InvalidJobArguments, match="unexpected keyword argument 'c'"):
        jobs.add.enqueue(1, 2, c=3)
    with pytest.raises(InvalidJobArguments, match="too many positional arguments"):
        jobs.add.enqueue(1, 2, 3)
    jobs.record.enqueue("ctx-ok")  # takes_context: the context is not counted
    with pytest.raises(InvalidJobArguments):
        jobs.record.enqueue("a", 1.0, "extra")
    assert Job.objects.count() == 1


@pytest.mark.django_db
def test_schema_errors_point_at_the_field():
    limited_jobs.invite.enqueue("ada@example.com", count=2)
    with pytest.raises(InvalidJobArguments, match=r"schema at email: 'nobody' does not match"):
        limited_jobs.invite.enqueue("nobody")
    with pytest.raises(InvalidJobArguments, match=r"schema at count: 0 is less than the minimum of 1"):
        limited_jobs.invite.enqueue("ada@example.com", count=0)
    assert Job.objects.count() == 1


def test_an_invalid_schema_is_refused_when_declared():
    from django.core.exceptions import ImproperlyConfigured

    import django_jobs

    with pytest.raises(ImproperlyConfigured, match=r"schema .* is invalid"):
        django_jobs.job(broken_schema, schema={"type": "no-such-type"})


def broken_schema(x):
    return x


@pytest.mark.django_db
def test_redacted_arguments_stay_out_of_displays():
    from django_jobs.redaction import REDACTED, displayed

    secret = limited_jobs.charge_card.enqueue("4111 1111 1111 1111", 10)
    plain = jobs.add.enqueue(1, 2)
    assert displayed(Job.objects.get(pk=secret.id)) == (REDACTED, REDACTED, REDACTED)
    assert displayed(Job.objects.get(pk=plain.id)) == ([1, 2], {}, None)
