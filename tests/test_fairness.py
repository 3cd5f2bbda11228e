"""Fair queuing: the waiting jobs of different fairness keys are claimed in turn, priorities first."""

from datetime import timedelta

import pytest

import django_jobs
from django_jobs import queue
from django_jobs.exceptions import InvalidJobArguments, InvalidJobType
from django_jobs.models import Job
from tests.testapp import jobs, rated_jobs

LEASE = timedelta(seconds=30)


def claim(limit=1):
    return queue.claim(worker_id="w", queues=None, limit=limit, lease=LEASE, using="default")


def tenants_of(claimed):
    return [c.args[0] for c in claimed]


@pytest.mark.django_db
def test_a_late_tenant_starts_within_thirty_claims_of_two_thousand_waiting():
    django_jobs.enqueue_many((rated_jobs.tenant_work, ("A", i)) for i in range(2000))
    late = django_jobs.enqueue_many((rated_jobs.tenant_work, ("B", i)) for i in range(10))
    claimed = [job.id for _ in range(30) for job in claim()]
    assert {int(r.id) for r in late} <= set(claimed)


@pytest.mark.django_db
def test_a_batch_claim_takes_keys_in_turn():
    for tenant in ("A", "A", "A", "B", "B", "B"):
        rated_jobs.tenant_work.enqueue(tenant, 0)
    assert tenants_of(claim(limit=6)) == ["A", "B", "A", "B", "A", "B"]


@pytest.mark.django_db
def test_a_key_joining_late_does_not_starve_the_others():
    for i in range(10):
        rated_jobs.tenant_work.enqueue("A", i)
    for _ in range(6):
        claim()
    for i in range(10):
        rated_jobs.tenant_work.enqueue("C", i)
    assert tenants_of(claim(limit=6)) == ["A", "C", "A", "C", "A", "C"]


@pytest.mark.django_db
def test_priorities_come_first():
    for i in range(3):
        rated_jobs.tenant_work.enqueue("A", i)
    urgent = rated_jobs.tenant_work.using(priority=10).enqueue("A", 99)
    rated_jobs.tenant_work.enqueue("B", 0)
    assert claim()[0].id == int(urgent.id)


@pytest.mark.django_db
def test_using_sets_the_key():
    job = jobs.add.using(fairness_key="tenant-7").enqueue(1, 2)
    assert Job.objects.get(pk=job.id).fairness_key == "tenant-7"


@pytest.mark.django_db
def test_no_key_leaves_the_order_unchanged():
    low = jobs.add.enqueue(1, 1)
    high = jobs.add.using(priority=5).enqueue(2, 2)
    later = jobs.add.enqueue(3, 3)
    assert [c.id for c in claim(limit=3)] == [int(high.id), int(low.id), int(later.id)]
    assert set(Job.objects.values_list("fair_round", "fairness_key")) == {(0, None)}


@pytest.mark.parametrize("key", ["", 5, "k" * 256])
def test_a_bad_key_is_refused(key):
    with pytest.raises(InvalidJobType, match="fairness_key"):
        jobs.add.using(fairness_key=key)


@pytest.mark.django_db
def test_a_key_function_giving_no_string_writes_nothing():
    with pytest.raises(InvalidJobArguments, match="fairness_key"):
        django_jobs.enqueue_many([(rated_jobs.tenant_work, ("A", 1)), (rated_jobs.tenant_work, (None, 2))])
    assert not Job.objects.exists()
