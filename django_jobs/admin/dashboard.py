"""
The admin's own pages: the queues dashboard and its pause/resume buttons.
Figures come from ``django_jobs.stats``; changes go through ``django_jobs.queue``.
"""

from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseBadRequest, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from .. import queue, stats, timings
from ..models import Job, QueueState
from ..states import JobState
from .backends import configured_queues
from .display import changelist_url, compact_duration, relative
from .live import RANGES, figures, range_of
from .timing_charts import timing_chart
from .workers import status_badge

#: Auto-refresh periods the dashboard offers (seconds).
REFRESH_CHOICES = (5, 30)


# -- the throughput chart ----------------------------------------------------------------------


def bar_chart(buckets, *, width, height, now=None, time_format="%H:%M"):
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
        start = timezone.localtime(b.start).strftime(time_format)
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
        "first": timezone.localtime(buckets[0].start).strftime(time_format) if buckets else "",
        "succeeded": sum(b.succeeded for b in buckets),
        "failed": sum(b.failed for b in buckets),
    }


# -- the dashboard --------------------------------------------------------------------------------


def timing_tables(using, since):
    """(title, chart) of the pick-up latency and run time tables: per queue, then per task."""
    found = timings.timings(using, since)
    return [(_("queue"), timing_chart(found["queues"])), (_("task"), timing_chart(found["tasks"]))]


def can_pause(request):
    """Pausing a queue changes its QueueState row: the permission to change those."""
    return request.user.has_perm("django_jobs.change_queuestate")


def dashboard_view(model_admin, request):
    """Per queue: counts by state, the throughput over a range (1h, 24h, 7d), the oldest due job; and the workers."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    using = model_admin.using
    now = timezone.now()
    try:
        range_name, window, bucket = range_of(request)
    except ValueError as e:
        return HttpResponseBadRequest(str(e))
    time_format = "%a %H:%M" if window > timedelta(days=1) else "%H:%M"
    counts, paused, configured, names, flow = figures(using, window, bucket, now)
    totals = [
        stats.Bucket(
            start=column[0].start, succeeded=sum(b.succeeded for b in column), failed=sum(b.failed for b in column)
        )
        for column in zip(*flow.values())
    ]
    rows = []
    for name in names:
        s = counts.get(name) or stats.QueueStats(name=name)
        chart = bar_chart(flow[name], width=120, height=24, time_format=time_format)
        rows.append(
            {
                "stats": s,
                "paused": name in paused,
                # A queue no longer in QUEUES with nothing waiting has nothing to pause.
                "pausable": name in configured or name in paused or s.ready > 0 or s.waiting > 0,
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
            "status": status_badge(w),
            "heartbeat": relative(w.last_heartbeat, now),
            "started": relative(w.started_at, now),
            "ended": relative(w.stopped_at, now),
        }
        for w in stats.workers(using)
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
        "total_chart": bar_chart(totals, width=720, height=90, time_format=time_format),
        "timing_tables": timing_tables(using, now - window),
        "workers": seen,
        "can_pause": can_pause(request),
        "ended_minutes": int(stats.RECENTLY_ENDED.total_seconds() // 60),
        "refresh": refresh,
        "refresh_choices": REFRESH_CHOICES,
        "range": range_name,
        "ranges": list(RANGES),
        "data_url": reverse("admin:django_jobs_dashboard_data"),
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


def pause_view(model_admin, request, *, paused):
    """
    POST ``queue``: pause or resume that queue, through the queue service.
    The name comes in the form, not the URL: a queue may be named ``""`` or
    contain ``/``, which no URL segment can carry.
    """
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if not (model_admin.has_view_permission(request) and can_pause(request)):
        raise PermissionDenied
    queue_name = request.POST.get("queue")
    if queue_name is None:
        return HttpResponseBadRequest(_("Name the queue to pause or resume in the form field 'queue'."))
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
