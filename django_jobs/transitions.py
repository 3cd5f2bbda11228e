"""
Every way a job's state may change, declared once.

A transition names the states it may start from, the state it leads to, the
job columns it sets besides ``state``, and how it closes (or opens) the
attempt's JobRun. Nothing else in django_jobs writes ``state``:

- the queue service applies a transition with ``queue.guarded.move()``, one
  UPDATE whose WHERE clause names the transition's sources and which refuses
  to set a column the transition does not declare;
- the SQL of ``db/postgresql.py`` and ``db/sqlite.py`` takes its target state,
  source states and run outcome from here, and a test checks that each
  statement sets exactly the declared columns;
- the state diagram in the docs is drawn from ``TRANSITIONS``.

Two workers racing for one transition cannot both win: the second UPDATE
finds the job no longer in a source state and matches no row. Reports of an
attempt are further guarded by the attempt number and the worker id, so an
attempt that was taken back cannot write over the one that replaced it.
"""

from dataclasses import dataclass

from .states import JobState, RunOutcome

WAITING, READY, RUNNING = JobState.WAITING, JobState.READY, JobState.RUNNING
FAILED, CANCELLED, EXPIRED = JobState.FAILED, JobState.CANCELLED, JobState.EXPIRED

#: Columns set whenever a job enters a finished state: when, and until when it is kept.
FINISHING = ("finished_at", "keep_until", "grabbed_until")
#: Columns an operator's retry resets: a fresh attempt budget, due now, no trace of the last end.
RETRYING = (
    "attempts_left",
    "run_after",
    "finished_at",
    "keep_until",
    "cancel_requested",
    "worker_id",
    "grabbed_until",
    "return_value",
    "exit_status",
    "lost_attempts",
)


@dataclass(frozen=True)
class Transition:
    name: str
    #: States the job may be in for the transition to apply (empty: the job is new).
    sources: frozenset[JobState]
    target: JobState
    #: The job columns the transition sets, besides ``state``.
    sets: tuple[str, ...]
    #: What the attempt's JobRun becomes: its outcome (``RUNNING``: a run is opened).
    run_outcome: RunOutcome | None = None
    #: True when the transition applies to one attempt: guarded by (attempt, worker id) too.
    by_attempt: bool = False
    doc: str = ""

    @property
    def source_list(self) -> list[str]:
        """The source states, sorted, for a WHERE … IN clause."""
        return sorted(self.sources)

    def sql_sources(self) -> str:
        """The source states as an SQL list of literals: ``'failed', 'ready'``."""
        return ", ".join(f"'{state}'" for state in self.source_list)


def _declare(*transitions: Transition) -> dict[str, Transition]:
    return {t.name: t for t in transitions}


TRANSITIONS = _declare(
    Transition(
        "enqueue",
        frozenset(),
        READY,
        (),
        doc="A new job is written, due at its run_after.",
    ),
    Transition(
        "enqueue_waiting",
        frozenset(),
        WAITING,
        ("dependencies_left",),
        doc="A new job whose dependencies (depends_on) are not all finished is written waiting for them.",
    ),
    Transition(
        "add_and_claim",
        frozenset(),
        RUNNING,
        ("attempts", "attempts_left", "worker_id", "started_at", "last_attempted_at", "grabbed_until"),
        run_outcome=RunOutcome.RUNNING,
        doc="A new job is written already running as its first attempt (enqueue_and_run).",
    ),
    Transition(
        "claim",
        frozenset({READY}),
        RUNNING,
        ("attempts", "attempts_left", "worker_id", "started_at", "last_attempted_at", "grabbed_until"),
        run_outcome=RunOutcome.RUNNING,
        doc="A worker takes a due job: one more attempt, a lease, a run opened.",
    ),
    Transition(
        "complete",
        frozenset({RUNNING}),
        JobState.SUCCEEDED,
        (*FINISHING, "return_value", "exit_status"),
        run_outcome=RunOutcome.SUCCEEDED,
        by_attempt=True,
        doc="The attempt returned: the job succeeded.",
    ),
    Transition(
        "retry_later",
        frozenset({RUNNING}),
        READY,
        ("run_after", "worker_id", "grabbed_until", "trace_context"),
        run_outcome=RunOutcome.FAILED,
        by_attempt=True,
        doc="The attempt raised and the job has attempts left: ready again after its backoff (traced: linked to it).",
    ),
    Transition(
        "fail",
        frozenset({RUNNING}),
        FAILED,
        (*FINISHING, "exit_status"),
        run_outcome=RunOutcome.FAILED,
        by_attempt=True,
        doc="The attempt raised and no retry is left (or the failure is permanent).",
    ),
    Transition(
        "decline",
        frozenset({RUNNING}),
        READY,
        ("run_after", "attempts_left", "worker_id", "grabbed_until"),
        run_outcome=RunOutcome.DECLINED,
        by_attempt=True,
        doc="The job said 'not now' (Decline): ready again later, the attempt given back.",
    ),
    Transition(
        "release",
        frozenset({RUNNING}),
        READY,
        ("attempts_left", "worker_id", "grabbed_until"),
        run_outcome=RunOutcome.RELEASED,
        by_attempt=True,
        doc="A stopping worker hands back an attempt it could not finish; the attempt is given back.",
    ),
    Transition(
        "rescue",
        frozenset({RUNNING}),
        READY,
        ("worker_id", "grabbed_until", "attempts_left", "lost_attempts"),
        run_outcome=RunOutcome.LOST,
        by_attempt=True,
        doc="Its worker died (or its lease ran out): ready again at once, keeping its place in the queue "
        "(run_after unchanged). A death does not spend the attempt; an overrun of max_work_duration does.",
    ),
    Transition(
        "rescue_fail",
        frozenset({RUNNING}),
        FAILED,
        (*FINISHING, "worker_id", "exit_status", "lost_attempts"),
        run_outcome=RunOutcome.LOST,
        by_attempt=True,
        doc="Its worker died with it MAX_LOST_ATTEMPTS times (the job kills its worker), or it overran "
        "max_work_duration with no attempt left: failed.",
    ),
    Transition(
        "unblock",
        frozenset({WAITING}),
        READY,
        (),
        doc="The last unfinished dependency of a waiting job succeeded (or, for a run_on_failure job, "
        "finished): it is ready, in the transaction that recorded that dependency's end.",
    ),
    Transition(
        "abandon",
        frozenset({WAITING}),
        CANCELLED,
        FINISHING,
        run_outcome=RunOutcome.CANCELLED,
        doc="A dependency failed for good, was cancelled or expired: the waiting job is cancelled "
        "(transitively), with an error naming that dependency, unless it runs on failure.",
    ),
    Transition(
        "cancel",
        frozenset({WAITING, READY, RUNNING}),
        CANCELLED,
        (*FINISHING, "cancel_requested"),
        run_outcome=RunOutcome.CANCELLED,
        doc="Someone cancelled the job; a running attempt is asked to stop and its report refused.",
    ),
    Transition(
        "expire",
        frozenset({WAITING, READY}),
        EXPIRED,
        FINISHING,
        doc="Nobody started the job before its expires_at.",
    ),
    Transition(
        "retry",
        frozenset({FAILED, CANCELLED, EXPIRED}),
        READY,
        RETRYING,
        doc="An operator runs a finished job again, with a fresh attempt budget.",
    ),
    Transition(
        "retry_waiting",
        frozenset({FAILED, CANCELLED, EXPIRED}),
        WAITING,
        (*RETRYING, "dependencies_left"),
        doc="An operator runs again a finished job some of whose dependencies have not finished (they "
        "were retried too): it waits for them again.",
    ),
    Transition(
        "run_now",
        frozenset({READY}),
        READY,
        ("run_after",),
        doc="An operator makes a waiting job due now.",
    ),
)

ENQUEUE = TRANSITIONS["enqueue"]
ENQUEUE_WAITING = TRANSITIONS["enqueue_waiting"]
ADD_AND_CLAIM = TRANSITIONS["add_and_claim"]
CLAIM = TRANSITIONS["claim"]
COMPLETE = TRANSITIONS["complete"]
RETRY_LATER = TRANSITIONS["retry_later"]
FAIL = TRANSITIONS["fail"]
DECLINE = TRANSITIONS["decline"]
RELEASE = TRANSITIONS["release"]
RESCUE = TRANSITIONS["rescue"]
RESCUE_FAIL = TRANSITIONS["rescue_fail"]
UNBLOCK = TRANSITIONS["unblock"]
ABANDON = TRANSITIONS["abandon"]
CANCEL = TRANSITIONS["cancel"]
EXPIRE = TRANSITIONS["expire"]
RETRY = TRANSITIONS["retry"]
RETRY_WAITING = TRANSITIONS["retry_waiting"]
RUN_NOW = TRANSITIONS["run_now"]
