"""
The admin's own pages: the queues dashboard and its pause/resume buttons, and
the small formatting helpers the job pages share. Figures come from
``django_jobs.stats``; changes go through ``django_jobs.queue``.
"""

from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import router
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.translation import gettext as _

from . import queue, stats
from .backend import DatabaseBackend
from .compat import task_backends
from .models import Job, QueueState
from .states import JobState

#: The dashboard's throughput window, and the width of one bar of its charts.
WINDOW = timedelta(hours=1)
BUCKET = timedelta(minutes=1)
#: Idle workers are seen through this many latest attempts.
RECENT_RUNS = 1000
#: Auto-refresh periods the dashboard offers (seconds).
REFRESH_CHOICES = (5, 30)


def jobs_database():
    """
    The alias the job tables live in: that of the first django_jobs backend in
    TASKS (``OPTIONS['DATABASE']``, else the routers' choice).
    """
    for alias in task_backends:
        backend = task_backends[alias]
        if isinstance(backend, DatabaseBackend):
            return backend.database
    return router.db_for_write(Job)


def configured_queues(using):
    """Queue names of the TASKS backends whose jobs live in ``using``."""
    names = set()
    for alias in task_backends:
        backend = task_backends[alias]
        if isinstance(backend, DatabaseBackend) and backend.database == using:
            names.update(backend.queues)
    return names


# -- formatting ----------------------------------------------------------------------------


def compact_duration(value):
    """A timedelta or seconds as '0.42s', '12s', '3m05s', '2h04m', '3d02h'; None as '-'."""
    if value is None:
        return "-"
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if seconds < 10:
        return f"{seconds:.2f}s" if seconds < 1 else f"{seconds:.1f}s"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"


def relative(moment, now=None):
    """'in 5m00s' or '5m00s ago', with the exact local time as a tooltip; '-' for None."""
    if moment is None:
        return "-"
    delta = moment - (now or timezone.now())
    text = _("in %s") % compact_duration(delta) if delta > timedelta(0) else _("%s ago") % compact_duration(-delta)
    return format_html('<span title="{}">{}</span>', timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S %Z"), text)


def state_badge(state):
    label = JobState(state).label if state in JobState.values else state
    return format_html('<span class="djobs-state djobs-state-{}">{}</span>', state, label)


def changelist_url(**filters):
    """The job list, filtered: changelist_url(state="failed", queue="emails")."""
    params = {}
    if "state" in filters:
        params["state__exact"] = filters["state"]
    if "queue" in filters:
        params["queue_name"] = filters["queue"]
    if "func" in filters:
        params["func__id__exact"] = filters["func"]
    url = reverse("admin:django_jobs_job_changelist")
    return f"{url}?{urlencode(params)}" if params else url


# -- the throughput chart ----------------------------------------------------------------------


def bar_chart(buckets, *, width, height, now=None):
    """
    Geometry of a stacked bar chart (succeeded below, failed on top) as a
    server-rendered SVG draws it: no script, no CDN.
    """
    peak = max((b.total for b in buckets), default=0)
    step = width / max(len(buckets), 1)
    bars = []
    for i, b in enumerate(buckets):
        ok_height = height * b.succeeded / peak if peak else 0
        failed_height = height * b.failed / peak if peak else 0
        start = timezone.localtime(b.start).strftime("%H:%M")
        bars.append(
            {
                "x": round(i * step + step * 0.1, 2),
                "width": round(step * 0.8, 2),
                "ok_y": round(height - ok_height, 2),
                "ok_height": round(ok_height, 2),
                "failed_y": round(height - ok_height - failed_height, 2),
                "failed_height": round(failed_height, 2),
                "title": _("%(start)s: %(ok)d succeeded, %(failed)d failed")
                % {"start": start, "ok": b.succeeded, "failed": b.failed},
            }
        )
    return {
        "width": width,
        "height": height,
        "bars": bars,
        "peak": peak,
        "first": timezone.localtime(buckets[0].start).strftime("%H:%M") if buckets else "",
        "succeeded": sum(b.succeeded for b in buckets),
        "failed": sum(b.failed for b in buckets),
    }


# -- the dashboard --------------------------------------------------------------------------------


def can_pause(request):
    """Pausing a queue changes its QueueState row: the permission to change those."""
    return request.user.has_perm("django_jobs.change_queuestate")


def dashboard_view(model_admin, request):
    """Per queue: counts by state, the last hour's throughput, the oldest due job; and the workers."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    using = model_admin.using
    now = timezone.now()
    counts = {s.name: s for s in stats.queue_stats(using)}
    paused = queue.paused_queues(using=using)
    configured = configured_queues(using)
    names = sorted(set(counts) | configured | paused)
    flow = stats.throughput(using, now - WINDOW, BUCKET, queues=names)
    totals = [
        stats.Bucket(
            start=column[0].start, succeeded=sum(b.succeeded for b in column), failed=sum(b.failed for b in column)
        )
        for column in zip(*flow.values())
    ]
    rows = []
    for name in names:
        s = counts.get(name) or stats.QueueStats(name=name)
        chart = bar_chart(flow[name], width=120, height=24)
        rows.append(
            {
                "stats": s,
                "paused": name in paused,
                # A queue no longer in QUEUES with nothing waiting has nothing to pause.
                "pausable": name in configured or name in paused or s.waiting > 0,
                "chart": chart,
                "oldest_due": compact_duration(s.oldest_due_age) if s.oldest_due_age is not None else "-",
                "links": {
                    state: changelist_url(state=state, queue=name)
                    for state in ("ready", "running", "succeeded", "failed", "cancelled", "expired")
                },
            }
        )
    seen = [
        {
            "worker": w,
            "heartbeat": relative(w.last_heartbeat, now),
            "started": relative(w.last_started, now),
        }
        for w in stats.workers(using, recent_runs=RECENT_RUNS)
    ]
    refresh = request.GET.get("refresh")
    refresh = int(refresh) if refresh and refresh.isdigit() and int(refresh) in REFRESH_CHOICES else None
    context = {
        **model_admin.admin_site.each_context(request),
        "title": _("Jobs dashboard"),
        "subtitle": None,
        "opts": model_admin.opts,
        "app_label": model_admin.opts.app_label,
        "rows": rows,
        "total_chart": bar_chart(totals, width=720, height=90),
        "workers": seen,
        "can_pause": can_pause(request),
        "recent_runs": RECENT_RUNS,
        "refresh": refresh,
        "refresh_choices": REFRESH_CHOICES,
        "window_minutes": int(WINDOW.total_seconds() // 60),
        "generated_at": timezone.localtime(now),
    }
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(request, "admin/django_jobs/dashboard.html", context)


def pausable(using, name):
    """A queue of TASKS, a paused one, or one that still has ready jobs (the claim index answers)."""
    return (
        name in configured_queues(using)
        or QueueState.objects.using(using).filter(name=name).exists()
        or Job.objects.using(using).filter(state=JobState.READY, queue_name=name).exists()
    )


def pause_view(model_admin, request, queue_name, *, paused):
    """POST: pause or resume one queue, through the queue service."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if not (model_admin.has_view_permission(request) and can_pause(request)):
        raise PermissionDenied
    if not pausable(model_admin.using, queue_name):
        raise Http404(_("No queue %s to pause or resume.") % queue_name)
    if paused:
        queue.pause(queue_name, using=model_admin.using)
        messages.success(
            request, _("Queue %s paused: workers stop claiming its jobs; running ones finish.") % queue_name
        )
    else:
        queue.resume(queue_name, using=model_admin.using)
        messages.success(request, _("Queue %s resumed.") % queue_name)
    return HttpResponseRedirect(reverse("admin:django_jobs_dashboard"))
