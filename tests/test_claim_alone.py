"""A worker's claim with no finished attempt to record beside it (``DatabaseOps.claim_alone``)."""

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from django_jobs import queue
from django_jobs.models import JobRun
from django_jobs.states import RunOutcome
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db(transaction=True)

postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's commit without WAL flush")


def claim_alone():
    _recorded, claimed = queue.complete_and_claim(
        [], worker_id="w1", limit=1, queues=None, lease=timedelta(minutes=5), using="default", limited=False
    )
    return claimed


def synchronous_commit():
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


def test_a_claim_alone_claims_the_due_job():
    job = JobFactory()
    assert [claimed.id for claimed in claim_alone()] == [job.pk]


def test_a_claim_alone_opens_the_attempts_run():
    job = JobFactory()
    claim_alone()
    assert JobRun.objects.get(job_id=job.pk).outcome == RunOutcome.RUNNING


@postgresql_only
def test_a_claim_alone_commits_without_waiting_for_its_wal_flush():
    JobFactory()
    with CaptureQueriesContext(connection) as captured:
        claim_alone()
    assert any("set_config('synchronous_commit', 'off', true)" in query["sql"] for query in captured)


@postgresql_only
def test_a_claim_alone_leaves_the_sessions_commits_flushed():
    JobFactory()
    claim_alone()
    assert synchronous_commit() == "on"


@postgresql_only
def test_a_claim_in_the_callers_transaction_leaves_its_commit_flushed():
    JobFactory()
    with transaction.atomic():
        claim_alone()
        assert synchronous_commit() == "on"
