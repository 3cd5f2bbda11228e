"""
The job pages: the list (filters, search, columns), a job's page (arguments,
times, attempts and their logs) and deleting one job. The actions are in
``actions``, the dashboard's views in ``dashboard``.

Made for a job table of millions of rows: on PostgreSQL the changelist's
count is the planner's estimate (EstimatedCountPaginator), every filter is one
an index serves, and a page costs a fixed number of queries (docs/admin.md).
"""

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import ValidationError
from django.db.models import Max, Prefetch
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _

from .. import job_search, queue, stats
from ..models import JobLog, JobRun
from ..redaction import displayed
from ..states import LIVE_STATES, JobState
from ..transitions import CANCEL, RETRY, RUN_NOW
from . import bulk, dashboard, live
from .actions import JobActionsAdmin
from .compat import ActionLocation
from .display import compact_duration, moment, pretty_json, relative, state_badge
from .filters import EnqueuedDateFilter, FinishedDateFilter, FunctionFilter, QueueFilter
from .paginator import EstimatedCountPaginator
from .progress import progress as progress_field

#: Log lines shown per attempt on a job's page (a chatty job may log many more).
LOG_LINES_SHOWN = 500


class JobChangeList(ChangeList):
    model_admin: "JobAdmin"

    def get_results(self, request):
        super().get_results(request)
        # The latest error of each job on the page, in one query.
        jobs = list(self.result_list)
        errors = stats.last_errors(self.model_admin.using, [job.pk for job in jobs]) if jobs else {}
        for job in jobs:
            job.last_error_text = errors.get(job.pk, "")


class JobAdmin(JobActionsAdmin):
    list_display = (
        "id",
        "function",
        "queue_display",
        "state_display",
        "priority",
        "attempts_display",
        "run_after_display",
        "age",
        "duration",
        "last_error",
    )
    list_filter = (
        "state",
        QueueFilter,
        ("func", FunctionFilter),
        ("enqueued_at", EnqueuedDateFilter),
        ("finished_at", FinishedDateFilter),
    )
    filter_lookups = frozenset(
        {
            *("state__exact", "state__isnull"),  # "state"
            QueueFilter.parameter_name,
            *("func__id__exact", "func__isnull"),  # FunctionFilter
            *("enqueued_at__gte", "enqueued_at__lt"),  # EnqueuedDateFilter
            *("finished_at__gte", "finished_at__lt", "finished_at__isnull"),  # FinishedDateFilter
            "workflow_id",  # a job page's link to the jobs of its workflow
        }
    )
    search_fields = ("=id", "=uniqkey", "=coalesce")
    search_help_text = _(
        "A job id, or a job's exact uniqkey or coalesce value; args:<value> for a positional argument, "
        "kwargs:<name>=<value> for a keyword argument (never matches jobs whose arguments are redacted)."
    )
    ordering = ("-id",)
    sortable_by = ("id",)
    list_per_page = 100
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    actions = ["cancel_jobs", "retry_jobs", "run_jobs_now", "delete_jobs"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    ("state_display", "queue_name", "priority", "backend"),
                    ("attempts_detail", "duration", "exit_status"),
                    ("progress",),
                ]
            },
        ),
        (_("Arguments and result"), {"fields": [("pretty_args", "pretty_kwargs", "pretty_return_value")]}),
        (
            _("Times"),
            {"fields": [("enqueued", "run_after_detail", "expires"), ("started", "last_attempted", "finished")]},
        ),
        (_("Lease"), {"fields": [("worker_id", "lease_until", "max_work_duration", "cancel_requested")]}),
        (_("Workflow"), {"fields": [("waits_for", "waited_by", "workflow")]}),
        (
            _("Keys, limits and keeping"),
            {
                "classes": ["collapse"],
                "fields": [("uniqkey", "coalesce", "concurrency_key", "concurrency_limit"), ("keep_for", "kept_until")],
            },
        ),
    ]

    class Media:
        css = {"all": ["django_jobs/admin.css"]}

    def get_readonly_fields(self, request, obj=None):
        return [name for _title, options in self.fieldsets for line in options["fields"] for name in line]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("func")

    def get_changelist(self, request, **kwargs):
        return JobChangeList

    def get_search_results(self, request, queryset, search_term):
        """An id, an exact uniqkey or coalesce value, or an argument (args:…, kwargs:…=…; see job_search)."""
        try:
            return job_search.search(queryset, search_term, self.using), False
        except ValidationError as e:
            messages.error(request, e.messages[0])
            return queryset.none(), False

    # -- columns and fields ----------------------------------------------------------------------

    @admin.display(description=_("function"))
    def function(self, obj):
        return obj.func.path

    @admin.display(description=_("queue"))
    def queue_display(self, obj):
        return obj.queue_name

    @admin.display(description=_("state"))
    def state_display(self, obj):
        return state_badge(obj.state)

    @admin.display(description=_("attempts"))
    def attempts_display(self, obj):
        return f"{obj.attempts}/{obj.max_attempts}"

    @admin.display(description=_("attempts"))
    def attempts_detail(self, obj):
        return _("%(made)d made, %(left)d left, of %(max)d") % {
            "made": obj.attempts,
            "left": obj.attempts_left,
            "max": obj.max_attempts,
        }

    @admin.display(description=_("run after"))
    def run_after_display(self, obj):
        return relative(obj.run_after)

    @admin.display(description=_("age"))
    def age(self, obj):
        return compact_duration(timezone.now() - obj.enqueued_at) if obj.enqueued_at else "-"

    @admin.display(description=_("duration"))
    def duration(self, obj):
        """Of the latest attempt: until it finished, or until now while it runs."""
        if obj.last_attempted_at is None:
            return "-"
        if obj.state == JobState.RUNNING:
            return format_html(
                "{} <small>{}</small>", compact_duration(timezone.now() - obj.last_attempted_at), _("so far")
            )
        if obj.finished_at is None:
            return "-"
        return compact_duration(obj.finished_at - obj.last_attempted_at)

    @admin.display(description=_("last error"))
    def last_error(self, obj):
        if obj.state == JobState.SUCCEEDED:
            return ""
        text = getattr(obj, "last_error_text", "")
        if not text:
            return ""
        return format_html('<span class="djobs-error" title="{}">{}</span>', text, Truncator(text).chars(60))

    enqueued = moment("enqueued_at", _("enqueued"))
    run_after_detail = moment("run_after", _("run after"))
    expires = moment("expires_at", _("expires"))
    started = moment("started_at", _("first attempt started"))
    last_attempted = moment("last_attempted_at", _("last attempt started"))
    finished = moment("finished_at", _("finished"))
    lease_until = moment("grabbed_until", _("lease until"))
    progress = progress_field
    kept_until = moment("keep_until", _("kept until"))

    @admin.display(description=_("args"))
    def pretty_args(self, obj):
        return pretty_json(displayed(obj)[0])

    @admin.display(description=_("kwargs"))
    def pretty_kwargs(self, obj):
        return pretty_json(displayed(obj)[1])

    @admin.display(description=_("return value"))
    def pretty_return_value(self, obj):
        return pretty_json(displayed(obj)[2])

    # -- permissions -----------------------------------------------------------------------------

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.state == JobState.RUNNING:
            return False  # cancel it first
        return super().has_delete_permission(request, obj)

    # The delete view of one job (linked from its page) goes through the service too.

    delete_confirmation_max_display = 20

    def get_deleted_objects(self, objs, request):
        deleted, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        # A job's log lines go with it; JobLogAdmin refuses deleting them one by one.
        perms_needed.discard(JobLog._meta.verbose_name)
        return deleted, model_count, perms_needed, protected

    def delete_model(self, request, obj):
        queue.delete_jobs([obj.pk], using=self.using)

    def delete_queryset(self, request, queryset):
        queue.delete_jobs(list(queryset.values_list("pk", flat=True)), using=queryset.db)

    # -- dependencies ------------------------------------------------------------------------------

    def _neighbours(self, obj):
        """What the job waits for and what waits for it (``queue.neighbours``), read once per page."""
        if not hasattr(obj, "_neighbours"):
            obj._neighbours = queue.neighbours(obj.pk, self.using)
        return obj._neighbours

    def _links(self, shown, count):
        if not count:
            return "-"
        url = f"{self.admin_site.name}:django_jobs_job_change"
        links = format_html_join(
            mark_safe("<br>"),  # a constant
            '<a href="{}">#{}</a> {} {}',
            ((reverse(url, args=[n.id]), n.id, state_badge(n.state), n.path) for n in shown),
        )
        more = count - len(shown)
        return format_html("{}<br>{}", links, _("… and %(n)d more") % {"n": more}) if more else links

    @admin.display(description=_("waits for"))
    def waits_for(self, obj):
        shown, _by, (count, _n) = self._neighbours(obj)
        return self._links(shown, count)

    @admin.display(description=_("waited for by"))
    def waited_by(self, obj):
        _for, shown, (_n, count) = self._neighbours(obj)
        return self._links(shown, count)

    @admin.display(description=_("workflow"))
    def workflow(self, obj):
        if obj.workflow_id is None:
            return "-"
        done, total = queue.workflow_progress(obj.workflow_id, using=self.using)
        url = reverse(f"{self.admin_site.name}:django_jobs_job_changelist") + f"?workflow_id={obj.workflow_id}"
        return format_html(
            '<a href="{}">{}</a>: {}',
            url,
            obj.workflow_id,
            _("%(done)d of %(total)d done") % {"done": done, "total": total},
        )

    # -- the change page ------------------------------------------------------------------------

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["job_buttons"] = self.job_buttons(request, obj)
            context["runs"] = self.runs(obj)
            context["log_lines_shown"] = LOG_LINES_SHOWN
            context["live"] = self.live(obj)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def live(self, job):
        """For a job that waits or runs: what its page's script polls (admin.live.job_view), from which line on."""
        if job.state not in LIVE_STATES:
            return None
        last = JobLog.objects.using(self.using).filter(run__job=job).aggregate(last=Max("pk"))["last"]
        return {
            "url": reverse(f"{self.admin_site.name}:django_jobs_job_live", args=[job.pk]),
            "after": last or 0,
            "state": state_badge(job.state),
            "attempts": self.attempts_detail(job),
        }

    def runs(self, job):
        """Every attempt of the job, newest first, with (the first lines of) what it logged: two queries."""
        lines = JobLog.objects.using(self.using).order_by("id")[: LOG_LINES_SHOWN + 1]
        runs = list(
            JobRun.objects.using(self.using)
            .filter(job=job)
            .order_by("-attempt")
            .prefetch_related(Prefetch("logs", queryset=lines, to_attr="lines"))
        )
        for run in runs:  # attributes for the template
            run.took = compact_duration(run.finished_at - run.started_at) if run.finished_at else None  # type: ignore[attr-defined]
            run.more_lines = len(run.lines) > LOG_LINES_SHOWN  # type: ignore[attr-defined]
            del run.lines[LOG_LINES_SHOWN:]
        return runs

    def job_buttons(self, request, obj):
        """The actions this user may run on this job in its state: (action, label, css class)."""
        allowed = self.get_actions(request, action_location=ActionLocation.CHANGE_FORM)
        candidates: list[tuple[str, Any, str, list[str]]] = [
            ("retry_jobs", _("Retry"), "djobs-retry", RETRY.source_list),
            ("run_jobs_now", _("Run now"), "djobs-run", RUN_NOW.source_list),
            ("cancel_jobs", _("Cancel"), "djobs-cancel", CANCEL.source_list),
        ]
        return [
            (name, label, css) for name, label, css, states in candidates if name in allowed and obj.state in states
        ]

    # -- the dashboard ---------------------------------------------------------------------------

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path(
                "dashboard/",
                wrap(lambda request: dashboard.dashboard_view(self, request)),
                name="django_jobs_dashboard",
            ),
            path(
                "dashboard/data/",
                wrap(lambda request: live.data_view(self, request)),
                name="django_jobs_dashboard_data",
            ),
            path(
                "<path:object_id>/live/",
                wrap(lambda request, object_id: live.job_view(self, request, object_id)),
                name="django_jobs_job_live",
            ),
            path(
                "retry-matching/",
                wrap(lambda request: bulk.retry_matching_view(self, request)),
                name="django_jobs_retry_matching",
            ),
            path(
                "dashboard/pause/",
                wrap(lambda request: dashboard.pause_view(self, request, paused=True)),
                name="django_jobs_pause",
            ),
            path(
                "dashboard/resume/",
                wrap(lambda request: dashboard.pause_view(self, request, paused=False)),
                name="django_jobs_resume",
            ),
            *super().get_urls(),
        ]
