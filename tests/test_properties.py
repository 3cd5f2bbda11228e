"""
Property-based tests (hypothesis): arguments round-trip through the database unchanged, and no
sequence of claim / complete / fail / decline / release / cancel / retry / rescue calls from
several workers reaches an invalid state.
"""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

import django_jobs
from django_jobs import queue
from django_jobs.exceptions import InvalidTransition, JobNotClaimed
from django_jobs.models import Job, JobRun
from django_jobs.states import FINISHED_STATES, JobState, RunOutcome
from tests.testapp import jobs

pytestmark = pytest.mark.django_db

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.text(alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=20),
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.text(alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=8),
            children,
            max_size=4,
        )
    ),
    max_leaves=12,
)


def same_json(x, y):
    """
    JSON equality as the databases keep it: PostgreSQL's jsonb stores numbers
    as decimals, so a float printed in exponent form with an integral value
    (2.25e+16) comes back as the int with that decimal value.
    """
    if isinstance(x, float) or isinstance(y, float):
        return isinstance(y, (int, float)) and isinstance(x, (int, float)) and float(x) == float(y)
    if isinstance(x, list):
        return isinstance(y, list) and len(x) == len(y) and all(same_json(a, b) for a, b in zip(x, y))
    if isinstance(x, dict):
        return isinstance(y, dict) and x.keys() == y.keys() and all(same_json(x[k], y[k]) for k in x)
    return type(x) is type(y) and x == y


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(a=json_values, b=json_values)
def test_arguments_round_trip(a, b):
    result = jobs.add.enqueue(a, b=b)
    job = Job.objects.get(pk=result.id)
    assert same_json(job.args, [a]) and same_json(job.kwargs, {"b": b})
    assert same_json(jobs.add.get_result(result.id).args, [a])


LEASE = timedelta(seconds=30)
WORKERS = ("w1", "w2")


class JobLifecycle(RuleBasedStateMachine):
    """One job, two workers and an operator, taking turns in any order."""

    def __init__(self):
        super().__init__()
        self.job_id = int(jobs.add.using().enqueue(1, 2).id)
        Job.objects.filter(pk=self.job_id).update(max_attempts=3, attempts_left=3)
        self.held = {}  # worker -> ClaimedJob it believes it holds

    def _claim(self, worker, lease=LEASE):
        claimed = queue.claim(worker_id=worker, queues=None, limit=1, lease=lease, using="default")
        mine = [c for c in claimed if c.id == self.job_id]
        for other in claimed:
            if other.id != self.job_id:  # jobs of earlier examples: put them back
                queue.release(other, using="default")
        if mine:
            self.held[worker] = mine[0]

    @rule(worker=st.sampled_from(WORKERS))
    def claim(self, worker):
        self._claim(worker)

    @rule(worker=st.sampled_from(WORKERS))
    def claim_and_die(self, worker):
        self._claim(worker, lease=timedelta(seconds=-1))

    @rule(
        worker=st.sampled_from(WORKERS),
        outcome=st.sampled_from(["complete", "fail", "retry_later", "decline", "release"]),
    )
    def report(self, worker, outcome):
        claimed = self.held.pop(worker, None)
        if claimed is None:
            return
        error = queue.ErrorInfo("builtins.ValueError", "x", "")
        try:
            if outcome == "complete":
                queue.complete(claimed, 3, using="default")
            elif outcome == "fail":
                queue.fail(claimed, error, using="default")
            elif outcome == "retry_later":
                queue.fail(claimed, error, retry_in=0, using="default")
            elif outcome == "decline":
                queue.decline(claimed, run_after=0, using="default")
            else:
                queue.release(claimed, using="default")
        except JobNotClaimed:
            pass

    @rule()
    def rescue(self):
        queue.rescue_expired(using="default")

    @rule(action=st.sampled_from(["cancel", "retry", "run_now"]))
    def operator(self, action):
        try:
            getattr(django_jobs, action)(self.job_id)
        except InvalidTransition:
            pass

    @invariant()
    def consistent(self):
        job = Job.objects.get(pk=self.job_id)
        runs = list(JobRun.objects.filter(job_id=self.job_id).order_by("attempt"))
        assert job.state in JobState.values
        assert [r.attempt for r in runs] == list(range(1, job.attempts + 1))
        open_runs = [r for r in runs if r.outcome == RunOutcome.RUNNING]
        if job.state == JobState.RUNNING:
            assert job.worker_id and job.grabbed_until is not None
            assert len(open_runs) == 1 and open_runs[0].attempt == job.attempts
        else:
            assert not open_runs and job.grabbed_until is None
        if job.state in FINISHED_STATES:
            assert job.finished_at is not None
        if job.state == JobState.READY:
            assert job.attempts_left >= 1
        assert 0 <= job.attempts_left <= job.max_attempts + job.attempts
        assert JobRun.objects.filter(job_id=self.job_id, outcome=RunOutcome.SUCCEEDED).count() <= 1


def test_no_sequence_of_calls_reaches_an_invalid_state():
    JobLifecycle.TestCase.settings = settings(max_examples=40, stateful_step_count=25, deadline=None)
    JobLifecycle.TestCase().runTest()


@pytest.mark.skipif(connection.vendor == "sqlite", reason="SQLite runs on one host: its clock is the host's")
def test_leases_use_the_database_clock_not_the_workers(monkeypatch):
    jobs.add.enqueue(1, 2)
    skewed = timezone.now() + timedelta(hours=3)
    monkeypatch.setattr(timezone, "now", lambda: skewed)
    (claimed,) = queue.claim(worker_id="skewed", queues=None, limit=1, lease=LEASE, using="default")
    job = Job.objects.get(pk=claimed.id)
    real_now = skewed - timedelta(hours=3)
    assert abs((job.grabbed_until - (real_now + LEASE)).total_seconds()) < 60
