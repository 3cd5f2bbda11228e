"""The queue service's state machine: guarded transitions, leases, cancel and retry."""

from datetime import timedelta

import pytest
from django.db.models.functions import Now
from django.utils import timezone

import django_jobs
from django_jobs import queue
from django_jobs.exceptions import InvalidTransition, JobNotClaimed, JobNotFound
from django_jobs.models import Job, JobRun
from django_jobs.states import JobState, RunOutcome
from tests.factories import FuncMapFactory, JobFactory
from tests.testapp import jobs

pytestmark = pytest.mark.django_db

LEASE = timedelta(seconds=30)


def claim(worker="w1", limit=10, queues=None, lease=LEASE):
    return queue.claim(worker_id=worker, queues=queues, limit=limit, lease=lease, using="default")


def error(message="x"):
    return queue.ErrorInfo("builtins.ValueError", message, "Traceback ...")


def test_claim_takes_due_jobs_once_in_priority_order():
    low = JobFactory(priority=-5)
    high = JobFactory(priority=5)
    JobFactory(run_after=timezone.now() + timedelta(hours=1))
    JobFactory(queue_name="emails")
    claimed = claim(queues=["default"])
    assert [c.id for c in claimed] == [high.pk, low.pk]
    assert claimed[0].func_path == "tests.testapp.jobs.add" and claimed[0].attempt == 1
    assert claim(queues=["default"]) == []  # nothing is claimed twice
    job = Job.objects.get(pk=high.pk)
    assert job.state == JobState.RUNNING and job.worker_id == "w1" and job.attempts == 1
    assert job.grabbed_until > timezone.now() + timedelta(seconds=20)
    run = JobRun.objects.get(job=job)
    assert (run.attempt, run.worker_id, run.outcome) == (1, "w1", RunOutcome.RUNNING)


def test_claim_respects_the_limit_and_expiry():
    for _ in range(5):
        JobFactory()
    JobFactory(expires_at=timezone.now() - timedelta(seconds=1))
    assert len(claim(limit=3)) == 3
    assert len(claim(limit=3)) == 2


def test_complete_is_guarded_by_attempt_and_worker():
    JobFactory()
    (c,) = claim()
    other = type(c)(**{**{f: getattr(c, f) for f in c.__slots__}, "worker_id": "intruder"})
    with pytest.raises(JobNotClaimed):
        queue.complete(other, 1, using="default")
    queue.complete(c, 3, using="default")
    with pytest.raises(JobNotClaimed):
        queue.complete(c, 3, using="default")  # cannot finish twice
    job = Job.objects.get(pk=c.id)
    assert (job.state, job.return_value, job.exit_status) == (JobState.SUCCEEDED, 3, 0)
    assert JobRun.objects.get(job=job).outcome == RunOutcome.SUCCEEDED


def test_failure_retries_until_the_budget_is_spent():
    JobFactory(max_attempts=2, attempts_left=2)
    (c,) = claim()
    assert queue.fail(c, error("first"), retry_in=0, using="default").name == "retry_later"
    (c2,) = claim()
    assert c2.attempt == 2 and c2.attempts_left == 0
    assert queue.fail(c2, error("second"), retry_in=0, using="default").name == "fail"
    job = Job.objects.get(pk=c.id)
    assert job.state == JobState.FAILED and job.finished_at is not None
    assert list(job.runs.values_list("attempt", "outcome", "message")) == [
        (1, "failed", "first"),
        (2, "failed", "second"),
    ]


def test_retry_delay_uses_the_database_clock():
    JobFactory(max_attempts=2, attempts_left=2)
    (c,) = claim()
    queue.fail(c, error(), retry_in=3600, using="default")
    assert claim() == []
    job = Job.objects.get(pk=c.id)
    assert job.run_after > timezone.now() + timedelta(minutes=59)


def test_a_taken_back_attempt_cannot_overwrite_the_new_one():
    JobFactory(max_attempts=3, attempts_left=3)
    (old,) = claim("dead-worker", lease=timedelta(seconds=-1))  # already expired
    assert queue.rescue_expired(using="default") == 1
    assert JobRun.objects.get(job_id=old.id, attempt=1).outcome == RunOutcome.LOST
    (new,) = claim("w2")
    assert new.attempt == 2
    with pytest.raises(JobNotClaimed):
        queue.complete(old, "stale", using="default")
    queue.complete(new, "fresh", using="default")
    assert Job.objects.get(pk=new.id).return_value == "fresh"


def test_heartbeat_renews_only_own_leases_and_respects_max_work_duration():
    a = JobFactory()
    b = JobFactory(max_work_duration=timedelta(seconds=5))
    claimed = claim("w1", lease=timedelta(seconds=2))
    assert queue.heartbeat(worker_id="w2", job_ids=[c.id for c in claimed], lease=LEASE, using="default") == 0
    assert queue.heartbeat(worker_id="w1", job_ids=[c.id for c in claimed], lease=LEASE, using="default") == 2
    a.refresh_from_db(), b.refresh_from_db()
    assert a.grabbed_until > timezone.now() + timedelta(seconds=25)
    assert b.grabbed_until <= b.last_attempted_at + timedelta(seconds=5 + 1)


def test_decline_gives_the_attempt_back():
    JobFactory()
    (c,) = claim()
    queue.decline(c, run_after=0, using="default")
    job = Job.objects.get()
    assert (job.state, job.attempts, job.attempts_left) == (JobState.READY, 1, 1)
    assert job.runs.get().outcome == RunOutcome.DECLINED


def test_release_gives_the_attempt_back():
    JobFactory()
    (c,) = claim()
    queue.release(c, using="default")
    job = Job.objects.get()
    assert (job.state, job.attempts_left, job.worker_id) == (JobState.READY, 1, None)
    assert job.runs.get().outcome == RunOutcome.RELEASED


def test_cancel_and_retry():
    waiting = jobs.add.enqueue(1, 2)
    assert django_jobs.cancel(waiting.id).state == JobState.CANCELLED
    assert claim() == []
    with pytest.raises(InvalidTransition, match="only waiting, ready or running"):
        django_jobs.cancel(waiting.id)
    job = django_jobs.retry(waiting.id)
    assert (job.state, job.attempts_left, job.finished_at) == (JobState.READY, 1, None)
    with pytest.raises(InvalidTransition, match="only failed, cancelled or expired"):
        django_jobs.retry(waiting.id)
    with pytest.raises(JobNotFound):
        django_jobs.cancel(123456789)


def test_cancel_running_job_drops_its_late_result():
    JobFactory()
    (c,) = claim()
    django_jobs.cancel(c.id)
    with pytest.raises(JobNotClaimed):
        queue.complete(c, 1, using="default")
    job = Job.objects.get()
    assert job.state == JobState.CANCELLED and job.runs.get().outcome == RunOutcome.CANCELLED


def test_funcmap_gives_each_path_one_id():
    a = jobs.add.enqueue(1, 2)
    b = jobs.add.enqueue(3, 4)
    assert Job.objects.get(pk=a.id).func_id == Job.objects.get(pk=b.id).func_id
    assert FuncMapFactory(path="tests.testapp.jobs.add").pk == Job.objects.get(pk=a.id).func_id


def test_database_time_is_used_for_run_after():
    r = jobs.add.enqueue(1, 2)
    job = Job.objects.annotate(db_now=Now()).get(pk=r.id)
    assert abs((job.db_now - job.run_after).total_seconds()) < 5


# -- recording a batch of successes with the next claim --------------------------------------------


def complete_and_claim(succeeded, worker="w1", limit=0):
    return queue.complete_and_claim(
        succeeded, worker_id=worker, limit=limit, queues=None, lease=LEASE, using="default", limited=False
    )


def test_complete_and_claim_records_successes_and_claims_in_one_go():
    JobFactory.create_batch(3, keep_for=timedelta(days=1))
    first, second, third = claim(limit=3)
    waiting = JobFactory()
    recorded, claimed = complete_and_claim([(first, {"n": 1}), (second, None), (third, [1, "x"])], limit=5)
    assert recorded == {first.id, second.id, third.id}
    assert [c.id for c in claimed] == [waiting.pk] and claimed[0].func_path == "tests.testapp.jobs.add"
    jobs_by_id = Job.objects.in_bulk([first.id, second.id, third.id])
    assert [jobs_by_id[c.id].return_value for c in (first, second, third)] == [{"n": 1}, None, [1, "x"]]
    for job in jobs_by_id.values():
        assert (job.state, job.exit_status, job.grabbed_until) == (JobState.SUCCEEDED, 0, None)
        assert job.keep_until - job.finished_at == timedelta(days=1)
        run = job.runs.get()
        assert (run.outcome, run.exit_status) == (RunOutcome.SUCCEEDED, 0) and run.finished_at is not None
    assert Job.objects.get(pk=waiting.pk).state == JobState.RUNNING


def test_complete_and_claim_skips_attempts_no_longer_held():
    """Each success in a batch keeps complete()'s guard: cancelled, taken back or not ours is not recorded."""
    JobFactory.create_batch(2)
    JobFactory(max_attempts=3, attempts_left=3)
    kept, cancelled, stale = claim(limit=3)
    django_jobs.cancel(cancelled.id)
    Job.objects.filter(pk=stale.id).update(grabbed_until=timezone.now() - timedelta(seconds=1))
    assert queue.rescue_expired(using="default") == 1
    (new,) = claim("w2")
    assert new.id == stale.id and new.attempt == 2
    recorded, claimed = complete_and_claim([(kept, 1), (cancelled, 2), (stale, 3)])
    assert recorded == {kept.id} and claimed == []
    assert Job.objects.get(pk=cancelled.id).state == JobState.CANCELLED
    assert Job.objects.get(pk=stale.id).state == JobState.RUNNING  # still the new attempt's
    assert JobRun.objects.get(job_id=stale.id, attempt=1).outcome == RunOutcome.LOST
    assert JobRun.objects.get(job_id=stale.id, attempt=2).outcome == RunOutcome.RUNNING
    recorded, _claimed = complete_and_claim([(new, 4)], worker="intruder")
    assert recorded == set()
    recorded, _claimed = complete_and_claim([(new, 4)], worker="w2")
    assert recorded == {new.id} and Job.objects.get(pk=new.id).return_value == 4
