"""
The worker registry: workers register, heartbeat and sign off here; the
scheduler leader finds the dead ones and rescues their attempts at once.

A worker is dead when its heartbeat is older than ``dead_after`` seconds and
nothing proves it alive: on PostgreSQL, the session advisory lock it holds on
its own connection is gone (PostgreSQL drops it with the connection when the
process dies); on SQLite, which lives on one host, its process is gone. A live
worker that was merely slow keeps its lock and is never rescued out from
under itself; one found dead anyway (stopped for longer than ``dead_after``
and its connection lost) finds its reports refused: its attempts were rescued.
"""

from collections.abc import Iterable
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Now

from ..db import get_ops
from ..models import Job, Worker, WorkerState
from ..states import JobState
from .maintenance import rescue

LIVE = [WorkerState.RUNNING, WorkerState.STOPPING]


def register(*, worker_id, backend, host, pid, queues, concurrency, using):
    """Add (or revive) this worker's row in the registry; returns its registry id."""
    worker, _created = Worker.objects.using(using).update_or_create(
        worker_id=worker_id,
        defaults={
            "backend": backend,
            "host": host[:255],
            "pid": pid,
            "queues": list(queues or []),
            "concurrency": concurrency,
            "status": WorkerState.RUNNING,
            "started_at": Now(),
            "last_heartbeat": Now(),
            "stopped_at": None,
            "running": 0,
            "stop_requested": False,
        },
    )
    return worker.pk


def beat(worker_id, *, running, stopping=False, using):
    """
    Heartbeat: the worker is alive and runs ``running`` attempts now. Returns
    ``stop_requested`` (an operator asked it to stop), or None when the row is
    gone or was marked gone (the leader found it dead and rescued its jobs).
    """
    changes = {"last_heartbeat": Now(), "running": running}
    if stopping:
        changes["status"] = WorkerState.STOPPING
    workers = Worker.objects.using(using).filter(worker_id=worker_id, status__in=LIVE)
    if not workers.update(**changes):
        return None
    return workers.values_list("stop_requested", flat=True).first()


def sign_off(worker_id, *, using):
    """The worker stopped (its jobs finished or were released)."""
    Worker.objects.using(using).filter(worker_id=worker_id).update(
        status=WorkerState.STOPPED, stopped_at=Now(), running=0
    )


def request_stop(worker_ids: Iterable[str], *, using: str) -> int:
    """Ask these workers to stop gracefully at their next heartbeat, on whatever host. Returns how many."""
    return Worker.objects.using(using).filter(worker_id__in=worker_ids, status__in=LIVE).update(stop_requested=True)


def rescue_dead_workers(*, dead_after, max_lost, using):
    """
    Mark gone the workers found dead (see the module's docstring) and rescue
    the attempts they held at once. Returns ``(workers, attempts)`` rescued.
    """
    stale = Worker.objects.using(using).filter(
        status__in=LIVE, last_heartbeat__lt=Now() - timedelta(seconds=dead_after)
    )
    candidates = list(stale.values_list("id", "worker_id", "host", "pid"))
    if not candidates:
        return 0, 0
    alive = get_ops(using).workers_alive([(pk, host, pid) for pk, _worker_id, host, pid in candidates])
    dead = [worker_id for pk, worker_id, _host, _pid in candidates if pk not in alive]
    rescued = gone = 0
    for worker_id in dead:
        # One transaction: a worker is marked gone together with the rescue of its attempts, so a
        # failure half-way (a locked or lost database) leaves it to be found again at the next tick.
        with transaction.atomic(using=using):
            # Still stale: a heartbeat that arrived meanwhile keeps the worker.
            if not stale.filter(worker_id=worker_id).update(status=WorkerState.GONE, stopped_at=Now(), running=0):
                continue
            held = Job.objects.using(using).filter(state=JobState.RUNNING, worker_id=worker_id)
            rescued += rescue(held, max_lost=max_lost, using=using, why=f"worker {worker_id} died")
            gone += 1
    return gone, rescued


def live_workers(*, using: str) -> list[Worker]:
    """The registry's live workers (running or stopping), oldest first."""
    return list(Worker.objects.using(using).filter(Q(status__in=LIVE)).order_by("started_at"))
