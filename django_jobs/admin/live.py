"""
What the live pages poll (``static/django_jobs/live.js``, every 2 s).

The dashboard's figures as JSON, for pages and scripts that poll instead of
reloading: ``dashboard/data/?range=1h`` (or 24h, 7d). The same figures and
queries as the dashboard; the same permission (``django_jobs.view_job``).
With ``throughput=0``, without the finished/failed buckets (their query
scans the range: the live dashboard polls its counts and workers only).
With ``timings=1``, also the pick-up latency and run time per queue and per
task (``django_jobs.timings``): left out by default, being the costliest
figures (docs/admin.md), and not needed every two seconds.

A job's state as JSON, for its page while it waits or runs:
``<job id>/live/?after=<line id>`` gives its state, attempts and the log lines
stored after that line (``django_jobs.logs``, at most LINES_PER_POLL a
time). The same permission as the job's page (``django_jobs.view_job``).
"""

import logging
from dataclasses import asdict
from datetime import timedelta

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseBadRequest, JsonResponse
from django.utils import timezone
from django.utils.translation import gettext as _

from .. import queue, stats, timings
from ..exceptions import JobNotFound
from ..models import JobLog, WorkerState
from ..states import LIVE_STATES, JobState
from .backends import configured_queues

#: The ranges the charts offer: name -> (window, width of one bar). The first is the default.
RANGES = {
    "1h": (timedelta(hours=1), timedelta(minutes=1)),
    "24h": (timedelta(hours=24), timedelta(minutes=30)),
    "7d": (timedelta(days=7), timedelta(hours=4)),
}
DEFAULT_RANGE = "1h"

#: Most log lines one poll of a job returns; the next poll reads on from the last.
LINES_PER_POLL = 500


def range_of(request):
    """``(name, window, bucket)`` of the request's ``range``; ValueError naming the choices."""
    name = request.GET.get("range", DEFAULT_RANGE)
    if name not in RANGES:
        raise ValueError(
            _("Unknown range %(range)r: one of %(ranges)s.") % {"range": name, "ranges": ", ".join(RANGES)}
        )
    return (name, *RANGES[name])


def figures(using, window, bucket, now, *, throughput=True):
    """
    Counts per queue, paused queues, the configured ones, and the throughput
    over ``window`` (with ``throughput=False``, no buckets: its query is skipped).
    """
    counts = {s.name: s for s in stats.queue_stats(using)}
    paused = queue.paused_queues(using=using)
    configured = configured_queues(using)
    names = sorted(set(counts) | configured | paused)
    flow = stats.throughput(using, now - window, bucket, queues=names) if throughput else {}
    return counts, paused, configured, names, flow


def data_view(model_admin, request):
    """GET: the dashboard's figures as JSON."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    try:
        name, window, bucket = range_of(request)
    except ValueError as e:
        return HttpResponseBadRequest(str(e))
    now = timezone.now()
    with_throughput = request.GET.get("throughput") != "0"
    counts, paused, _configured, names, flow = figures(
        model_admin.using, window, bucket, now, throughput=with_throughput
    )
    queues = []
    for queue_name in names:
        figures_of = asdict(counts.get(queue_name) or stats.QueueStats(name=queue_name))
        queues.append(
            {
                **figures_of,
                "paused": queue_name in paused,
                "finished": [
                    {"start": b.start.isoformat(), "succeeded": b.succeeded, "failed": b.failed}
                    for b in flow.get(queue_name, [])
                ],
            }
        )
    workers = [
        {
            "worker_id": w.worker_id,
            "status": w.status,
            "status_label": WorkerState(w.status).label,
            "host": w.host,
            "pid": w.pid,
            "queues": w.queues,
            "concurrency": w.concurrency,
            "running": w.running,
            "stop_requested": w.stop_requested,
            "started_at": w.started_at.isoformat(),
            "last_heartbeat": w.last_heartbeat.isoformat(),
            "stopped_at": w.stopped_at.isoformat() if w.stopped_at else None,
        }
        for w in stats.workers(model_admin.using)
    ]
    data = {
        "generated_at": now.isoformat(),
        "range": name,
        "bucket_seconds": int(bucket.total_seconds()),
        "queues": queues,
        "workers": workers,
    }
    if request.GET.get("timings") == "1":
        data["timings"] = {
            group: [asdict(t) for t in found]
            for group, found in timings.timings(model_admin.using, now - window).items()
        }
    return JsonResponse(data)


def job_view(model_admin, request, object_id):
    """GET: a job's state, attempts and its log lines after the line ``after``, as JSON."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    after = request.GET.get("after", "0")
    if not after.isdigit() or len(after) > 18:
        return HttpResponseBadRequest(_("'after' must be a log line id (a whole number), not %r.") % after)
    try:
        job = queue.get_job(object_id, using=model_admin.using)
    except JobNotFound:
        raise Http404(_("No job %s.") % object_id) from None
    lines = list(
        JobLog.objects.using(model_admin.using)
        .filter(run__job_id=job.pk, pk__gt=int(after))
        .select_related("run")
        .order_by("pk")[:LINES_PER_POLL]
    )
    return JsonResponse(
        {
            "id": job.pk,
            "state": job.state,
            "state_label": JobState(job.state).label,
            "live": job.state in LIVE_STATES,
            "attempts": job.attempts,
            "attempts_left": job.attempts_left,
            "max_attempts": job.max_attempts,
            "finished_at": job.finished_at.isoformat() if job.finished_at else None,
            "lines": [
                {
                    "id": line.pk,
                    "attempt": line.run.attempt,
                    "created_at": line.created_at.isoformat(),
                    "level": line.level,
                    "level_name": logging.getLevelName(line.level),
                    "logger": line.logger,
                    "message": line.message,
                }
                for line in lines
            ],
            "after": lines[-1].pk if lines else int(after),
        }
    )
