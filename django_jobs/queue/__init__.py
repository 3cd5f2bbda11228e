"""
The queue service: the only code that changes a job's state, each change one
of the transitions declared in ``django_jobs.transitions``, applied as one
guarded UPDATE (``guarded.move``).

It knows jobs, not tasks: the backend (``django_jobs.backend``) turns a Task
call into an unsaved Job and hands it here; the worker hands back how each
attempt ended. One module per concern:

- ``enqueue``: writing new jobs (one, or many in one statement);
- ``dependencies``: jobs waiting for others (``depends_on``), released or abandoned as those end;
- ``claims``: claiming due jobs, leases, batched completion;
- ``reports``: how an attempt ended (complete, fail, decline, release), its lines and metadata while it runs;
- ``maintenance``: the scheduler's rescue, expiry and pruning (of jobs, and of ended workers' rows);
- ``workers``: the worker registry, and rescuing the attempts of dead workers;
- ``workflows``: the jobs of a chain or group, cancelled or counted together;
- ``operations``: what operators do (cancel, retry, run now, pause);
- ``clearing``: deleting a queue's waiting jobs, in batches, resumable;
- ``reads``: jobs, attempts and logs as the API, admin and commands read them.
"""

from .claims import (
    add_and_claim,
    cancelled_among,
    claim,
    claim_coalesced,
    complete_and_claim,
    heartbeat,
)
from .clearing import clear_queue
from .dependencies import Neighbour, dependency_results, neighbours
from .enqueue import Enqueued, insert, insert_many, live_with_uniqkey
from .errors import ErrorInfo
from .functions import func_id, func_paths
from .maintenance import delete_jobs, expire_overdue, prune, prune_rate_buckets, prune_workers, rescue_expired
from .operations import cancel, pause, resume, retry, run_now
from .reads import failures, get_job, list_jobs, logs, metadata, paused_queues, runs
from .reports import add_logs, complete, decline, fail, release, save_metadata
from .workers import beat, live_workers, register, request_stop, rescue_dead_workers, sign_off
from .workflows import cancel_workflow, join_workflow, workflow_progress

__all__ = [
    "Enqueued",
    "ErrorInfo",
    "Neighbour",
    "add_and_claim",
    "add_logs",
    "beat",
    "cancel",
    "cancel_workflow",
    "cancelled_among",
    "claim",
    "claim_coalesced",
    "clear_queue",
    "complete",
    "complete_and_claim",
    "decline",
    "delete_jobs",
    "dependency_results",
    "expire_overdue",
    "fail",
    "failures",
    "func_id",
    "func_paths",
    "get_job",
    "heartbeat",
    "insert",
    "insert_many",
    "join_workflow",
    "list_jobs",
    "live_with_uniqkey",
    "live_workers",
    "logs",
    "metadata",
    "neighbours",
    "pause",
    "paused_queues",
    "prune",
    "prune_rate_buckets",
    "prune_workers",
    "register",
    "release",
    "request_stop",
    "rescue_dead_workers",
    "rescue_expired",
    "resume",
    "retry",
    "run_now",
    "runs",
    "save_metadata",
    "sign_off",
    "workflow_progress",
]
