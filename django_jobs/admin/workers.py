"""
The workers page: the worker registry (``Worker``), read-only, and the action
that asks workers to stop gracefully, on whatever host they run.
"""

from django.contrib import admin, messages
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from .. import queue
from ..models import WorkerState
from ..queue.workers import LIVE
from .base import ReadOnlyJobsAdmin
from .display import relative


def status_badge(worker):
    """The status, "stop requested" while a live worker has not yet seen the request."""
    badge = format_html(
        '<span class="djobs-state djobs-worker-{}">{}</span>', worker.status, WorkerState(worker.status).label
    )
    if worker.stop_requested and worker.status == WorkerState.RUNNING:
        return format_html("{} <small>{}</small>", badge, _("stop requested"))
    return badge


class WorkerAdmin(ReadOnlyJobsAdmin):
    """
    Every worker process the registry knows: live ones (running, stopping),
    and those that stopped or were found gone, with when. "Running now" counts
    the attempts a worker runs at its last heartbeat, not the jobs it claimed ahead.
    """

    list_display = (
        "worker_id",
        "status_display",
        "host",
        "pid",
        "queues_display",
        "concurrency",
        "running_display",
        "started",
        "heartbeat",
        "ended",
    )
    list_filter = ("status",)
    filter_lookups = frozenset({"status__exact"})
    search_fields = ("=worker_id", "host")
    search_help_text = _("A worker id, or its host.")
    ordering = ("-started_at",)
    actions = ["stop_gracefully"]
    show_facets = admin.ShowFacets.NEVER

    class Media:
        css = {"all": ["django_jobs/admin.css"]}

    @admin.display(description=_("status"), ordering="status")
    def status_display(self, obj):
        return status_badge(obj)

    @admin.display(description=_("queues"))
    def queues_display(self, obj):
        return ", ".join(obj.queues) or _("all")

    @admin.display(description=_("running now"), ordering="running")
    def running_display(self, obj):
        return obj.running if obj.status in LIVE else "-"

    @admin.display(description=_("started"), ordering="started_at")
    def started(self, obj):
        return relative(obj.started_at)

    @admin.display(description=_("last heartbeat"), ordering="last_heartbeat")
    def heartbeat(self, obj):
        return relative(obj.last_heartbeat)

    @admin.display(description=_("stopped or gone"), ordering="stopped_at")
    def ended(self, obj):
        return relative(obj.stopped_at)

    @admin.action(description=_("Stop gracefully (finish or release its jobs, then exit)"), permissions=["stop"])
    def stop_gracefully(self, request, queryset):
        ids = list(queryset.values_list("worker_id", flat=True))
        asked = queue.request_stop(ids, using=self.using)
        message = ngettext(
            "Asked %(n)d worker to stop: it stops at its next heartbeat.",
            "Asked %(n)d workers to stop: they stop at their next heartbeat.",
            asked,
        ) % {"n": asked}
        if len(ids) > asked:
            message += " " + _("%(n)d already stopped or gone.") % {"n": len(ids) - asked}
        self.message_user(request, message, messages.SUCCESS if asked else messages.WARNING)

    def has_stop_permission(self, request):
        return request.user.has_perm("django_jobs.stop_worker")

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]
