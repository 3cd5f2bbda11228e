"""
The declared state machine (django_jobs.transitions): every transition walked
on this database through the service, each refused from the states it does not
start from, and no code writing ``state`` outside the declarations.
"""

import ast
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.db.models.functions import Now
from django.utils import timezone

from django_jobs import queue
from django_jobs.db import mysql, postgresql, sqlite
from django_jobs.exceptions import InvalidTransition, JobNotClaimed
from django_jobs.models import Dependency, Job, JobRun
from django_jobs.queue.guarded import UndeclaredChange, move
from django_jobs.states import JobState, RunOutcome
from django_jobs.transitions import ENQUEUE, TRANSITIONS
from tests.factories import JobFactory, JobRunFactory
from tests.testapp import jobs

LEASE = timedelta(seconds=30)
PACKAGE = Path(__file__).resolve().parent.parent / "django_jobs"
ERROR = queue.ErrorInfo("builtins.ValueError", "boom", "")


def claimed_job():
    JobFactory(max_attempts=3, attempts_left=3)
    (claimed,) = queue.claim(worker_id="w1", queues=None, limit=1, lease=LEASE, using="default")
    return claimed


def lease_ran_out(claimed):
    Job.objects.filter(pk=claimed.id).update(grabbed_until=timezone.now() - timedelta(seconds=1))


# How each transition is applied through the service, from a job in ``state``: returns the job's id.
def _enqueue(state):
    return int(jobs.add.enqueue(1, 2).id)


def _enqueue_waiting(state):
    dependency = JobFactory()
    return int(jobs.add.using(depends_on=[dependency.pk]).enqueue(1, 2).id)


def _waiting_on_one(report):
    """A job waiting (or put into ``state``) for a claimed job whose attempt ``report`` then ends."""

    def apply(state):
        claimed = claimed_job()
        dependent = int(jobs.add.using(depends_on=[claimed.id]).enqueue(1, 2).id)
        if state != JobState.WAITING:
            Job.objects.filter(pk=dependent).update(state=state)
        report(claimed)
        return dependent

    return apply


def _add_and_claim(state):
    backend = jobs.add.get_backend()
    built = backend.build_job(jobs.add, (1, 2), {})
    return queue.add_and_claim(built, worker_id="here", lease=LEASE, using="default").id


def _claim(state):
    job = JobFactory(state=state)
    claimed = queue.claim(worker_id="w1", queues=None, limit=1, lease=LEASE, using="default")
    assert [c.id for c in claimed] == ([job.pk] if state == JobState.READY else [])
    return job.pk


def _attempt(report):
    """Apply an attempt's report to a job claimed and then put into ``state`` (running: left as is)."""

    def apply(state):
        claimed = claimed_job()
        if state != JobState.RUNNING:
            Job.objects.filter(pk=claimed.id).update(state=state)
        try:
            report(claimed)
        except JobNotClaimed:
            pass
        return claimed.id

    return apply


def _rescue(lost_attempts):
    def apply(state):
        claimed = claimed_job()
        Job.objects.filter(pk=claimed.id).update(state=state, lost_attempts=lost_attempts)
        lease_ran_out(claimed)
        queue.rescue_expired(using="default")
        return claimed.id

    return apply


def _operator(call, **job):
    def apply(state):
        created = JobFactory(state=state, **job)
        if state == JobState.RUNNING:
            JobRunFactory(job=created, attempt=created.attempts)
        try:
            call(created.pk, using="default")
        except InvalidTransition:
            pass
        return created.pk

    return apply


def _retried_while_its_dependency_waits(state):
    dependency = JobFactory(state=JobState.READY)
    created = JobFactory(state=state)
    Dependency.objects.create(dependent=created, dependency=dependency, position=0)
    try:
        queue.retry(created.pk, using="default")
    except InvalidTransition:
        pass
    return created.pk


def _expire(state):
    job = JobFactory(state=state, expires_at=timezone.now() - timedelta(seconds=1))
    queue.expire_overdue(using="default")
    return job.pk


APPLY = {
    "enqueue": _enqueue,
    "enqueue_waiting": _enqueue_waiting,
    "unblock": _waiting_on_one(lambda c: queue.complete(c, 3, using="default")),
    "abandon": _waiting_on_one(lambda c: queue.fail(c, ERROR, using="default")),
    "add_and_claim": _add_and_claim,
    "claim": _claim,
    "complete": _attempt(lambda c: queue.complete(c, 3, using="default")),
    "retry_later": _attempt(lambda c: queue.fail(c, ERROR, retry_in=5, using="default")),
    "fail": _attempt(lambda c: queue.fail(c, ERROR, using="default")),
    "decline": _attempt(lambda c: queue.decline(c, run_after=5, using="default")),
    "release": _attempt(lambda c: queue.release(c, using="default")),
    "rescue": _rescue(lost_attempts=0),
    "rescue_fail": _rescue(lost_attempts=2),  # its third loss (MAX_LOST_ATTEMPTS)
    "cancel": _operator(queue.cancel, attempts=1),
    "expire": _expire,
    "retry": _operator(queue.retry),
    "retry_waiting": _retried_while_its_dependency_waits,
    "run_now": _operator(queue.run_now, run_after=timezone.now() + timedelta(hours=1)),
}


def test_every_declared_transition_is_walked_here():
    assert set(APPLY) == set(TRANSITIONS)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "source"),
    [(name, source) for name, t in TRANSITIONS.items() for source in (t.source_list or [None])],
)
def test_transition_leads_from_each_source_to_its_target(name, source):
    transition = TRANSITIONS[name]
    job = Job.objects.get(pk=APPLY[name](source))
    assert job.state == transition.target


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "source"),
    [
        (name, source)
        for name, t in TRANSITIONS.items()
        for source in (t.source_list or [None])
        # a run is closed where one is open (the job was running), or opened
        if t.run_outcome is not None and (source == JobState.RUNNING or t.run_outcome == RunOutcome.RUNNING)
    ],
)
def test_transition_records_its_run_outcome(name, source):
    transition = TRANSITIONS[name]
    job_id = APPLY[name](source)
    assert JobRun.objects.filter(job_id=job_id).order_by("-attempt").first().outcome == transition.run_outcome


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "state"),
    [
        (name, state)
        for name, t in TRANSITIONS.items()
        if t.sources
        for state in sorted(set(JobState) - t.sources)
        if not (name == "claim" and state == JobState.READY)
    ],
)
def test_transition_is_refused_from_other_states(name, state):
    job_id = APPLY[name](state)
    assert Job.objects.get(pk=job_id).state == state


@pytest.mark.django_db
def test_move_refuses_a_column_the_transition_does_not_declare():
    job = JobFactory()
    with pytest.raises(UndeclaredChange):
        move(TRANSITIONS["run_now"], Job.objects.filter(pk=job.pk), run_after=Now(), priority=5)


@pytest.mark.django_db
def test_move_refuses_to_leave_out_a_declared_column():
    job = JobFactory()
    with pytest.raises(UndeclaredChange):
        move(TRANSITIONS["run_now"], Job.objects.filter(pk=job.pk))


def test_a_new_row_starts_in_the_enqueue_target():
    assert Job._meta.get_field("state").default == ENQUEUE.target


# -- the SQL of db/ sets exactly what its transition declares --------------------------------------


def _top_level_items(text):
    """Split ``text`` at commas outside parentheses."""
    items, depth, current = [], 0, []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            items.append("".join(current))
            current = []
        else:
            current.append(char)
    items.append("".join(current))
    return items


def assigned_columns(sql):
    """The columns the job-table UPDATE of ``sql`` assigns in its SET clause."""
    match = re.search(r"UPDATE \{job\}(?: AS job)? SET(.*?)\n\s*(?:FROM|WHERE)\b", sql, re.S)
    assert match, sql
    return {item.split("=", 1)[0].strip() for item in _top_level_items(match.group(1))}


@pytest.mark.parametrize("module", [postgresql, sqlite, mysql], ids=["postgresql", "sqlite", "mysql"])
@pytest.mark.parametrize("name", ["claim", "complete"])
def test_sql_sets_exactly_the_declared_columns(module, name):
    sql = getattr(module, module.STATEMENTS[name])
    assert assigned_columns(sql) == {"state", *TRANSITIONS[name].sets}


@pytest.mark.parametrize("module", [postgresql, sqlite, mysql], ids=["postgresql", "sqlite", "mysql"])
@pytest.mark.parametrize("name", ["claim", "complete"])
def test_sql_guards_with_the_declared_sources(module, name):
    sql = getattr(module, module.STATEMENTS[name])
    assert f"state IN ({TRANSITIONS[name].sql_sources()})" in sql


# -- nothing else writes state ---------------------------------------------------------------------

#: Where ``state`` may be written: the declarations, and the one function applying them.
ALLOWED = {"transitions.py", "queue/guarded.py"}
WRITES = {"update", "create", "bulk_create", "update_or_create", "get_or_create", "Job"}
#: An SQL SET assigning state anything but ``$target``, which ``db.base.declared()`` fills from a transition.
SQL_STATE_WRITE = re.compile(
    r"\bSET\b(?:(?!\bWHERE\b|\bFROM\b|\bRETURNING\b).)*?\bstate\s*=(?!\s*\$target\b)", re.S | re.I
)


def state_writes(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = getattr(node.func, "attr", getattr(node.func, "id", None))
            if name in WRITES and any(k.arg == "state" for k in node.keywords):
                yield node.lineno, f"{name}(state=...)"
        elif isinstance(node, (ast.Assign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Attribute) and t.attr == "state" for t in targets):
                yield node.lineno, "obj.state = ..."
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL_STATE_WRITE.search(node.value):
            yield node.lineno, "SQL SET state = ..."


def test_state_is_written_only_through_declared_transitions():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative in ALLOWED or relative.startswith("migrations/"):
            continue
        found += [f"{relative}:{line}: {what}" for line, what in state_writes(path)]
    assert found == []


def test_the_state_write_check_sees_each_kind_of_write(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "Job.objects.filter(pk=1).update(state='failed')\n"
        "job.state = 'ready'\n"
        "SQL = '''UPDATE job SET attempts = 1, state = 'x' WHERE id = 1'''\n"
        "Job.objects.filter(state='ready')\n"
        "READ = '''SELECT 1 FROM job WHERE state = 'ready' '''\n"
    )
    assert sorted(line for line, _what in state_writes(sample)) == [1, 2, 3]
