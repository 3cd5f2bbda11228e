"""
The admin: where an operator finds what is stuck or failed, reads why, and
fixes it. Every change (cancel, retry, run now, delete, pause) goes through
``django_jobs.queue``; the admin edits no row itself.

Made for a job table of millions of rows: on PostgreSQL the changelist's
count is the planner's estimate (EstimatedCountPaginator), every filter is one
an index serves, and a page costs a fixed number of queries (docs/admin.md).
"""

import json

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.filters import DateFieldListFilter, SimpleListFilter
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Prefetch
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.text import Truncator, capfirst
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from . import admin_views, queue, stats
from .admin_compat import CHANGE_FORM_ACTIONS, ActionLocation, action
from .admin_views import changelist_url, compact_duration, relative, state_badge
from .exceptions import InvalidTransition, JobNotFound
from .models import FuncMap, Job, JobLog, JobRun
from .redaction import REDACTED, displayed
from .states import FINISHED_STATES, JobState, sources

#: Most jobs one action handles in one request (each is one call to the queue service).
ACTION_LIMIT = 1000
#: Pages of a job list offered (of list_per_page jobs each).
MAX_PAGES = 100
#: Log lines shown per attempt on a job's page (a chatty job may log many more).
LOG_LINES_SHOWN = 500
#: Jobs that may be deleted: not running (its worker would report on a job that is gone).

BOTH = [ActionLocation.CHANGE_LIST, ActionLocation.CHANGE_FORM]


def pretty_json(value):
    if value is REDACTED:
        return value
    return format_html('<pre class="djobs-json">{}</pre>', json.dumps(value, indent=2, ensure_ascii=False))


def moment(field, description):
    """A read-only field showing a datetime to the second, and how long ago (or in how long) it is."""

    @admin.display(description=description)
    def show(self, obj):
        value = getattr(obj, field)
        if value is None:
            return "-"
        return format_html(
            "{} <small>({})</small>", timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S"), relative(value)
        )

    return show


class EstimatedCountPaginator(Paginator):
    """
    A paginator for millions of rows. On PostgreSQL its ``count`` is the
    planner's estimate, made exact below stats.EXACT_BELOW; ``exact`` says
    which (the pagination template writes "about"). Only the first
    ``max_pages`` pages are offered: a deeper page is an OFFSET that reads
    every row before it; filters and search reach the rest.
    """

    exact = True
    max_pages = MAX_PAGES

    @cached_property
    def count(self):
        count, self.exact = stats.estimated_count(self.object_list)
        return count

    @cached_property
    def num_pages(self):
        # Paginator's own figure; django-stubs types a cached_property read on its class as the bare function.
        return min(Paginator.num_pages.func(self), self.max_pages)  # type: ignore[attr-defined]

    @property
    def capped(self):
        return self.count > self.max_pages * self.per_page


# -- filters: each served by an index (docs/admin.md) ----------------------------------------


class QueueFilter(SimpleListFilter):
    """The queues of TASKS, from settings: no SELECT DISTINCT over the table."""

    title = _("queue")
    parameter_name = "queue_name"

    def lookups(self, request, model_admin):
        return [(name, name) for name in sorted(admin_views.configured_queues(model_admin.using))]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(queue_name=self.value())
        return queryset


class FunctionFilter(admin.RelatedFieldListFilter):
    """The job functions: one query of the small FuncMap table."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.title = _("function")


class EnqueuedDateFilter(DateFieldListFilter):
    """
    enqueued_at ranges. Each ends now (today, the past 7 days, ...) and ids grow
    with enqueued_at, so the newest-first scan of the primary key finds a
    page's rows at once: no index on enqueued_at is needed.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.title = _("enqueued")


class FinishedDateFilter(DateFieldListFilter):
    """finished_at ranges, restricted to finished states so django_jobs_finished_idx serves them."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.title = _("finished")

    def queryset(self, request, queryset):
        queryset = super().queryset(request, queryset)
        if self.lookup_kwarg_since in self.used_parameters:
            queryset = queryset.filter(state__in=sorted(FINISHED_STATES))
        return queryset


# -- the job pages -----------------------------------------------------------------------------


class JobChangeList(ChangeList):
    model_admin: "JobAdmin"

    def get_results(self, request):
        super().get_results(request)
        # The latest error of each job on the page, in one query.
        jobs = list(self.result_list)
        errors = stats.last_errors(self.model_admin.using, [job.pk for job in jobs]) if jobs else {}
        for job in jobs:
            job.last_error_text = errors.get(job.pk, "")


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
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
    search_fields = ("=id", "=uniqkey", "=coalesce")
    search_help_text = _("A job id, or a job's exact uniqkey or coalesce value.")
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
                ]
            },
        ),
        (_("Arguments and result"), {"fields": [("pretty_args", "pretty_kwargs", "pretty_return_value")]}),
        (
            _("Times"),
            {"fields": [("enqueued", "run_after_detail", "expires"), ("started", "last_attempted", "finished")]},
        ),
        (_("Lease"), {"fields": [("worker_id", "lease_until", "max_work_duration", "cancel_requested")]}),
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

    @cached_property
    def using(self):
        return admin_views.jobs_database()

    def get_readonly_fields(self, request, obj=None):
        return [name for _title, options in self.fieldsets for line in options["fields"] for name in line]

    def get_queryset(self, request):
        return super().get_queryset(request).using(self.using).select_related("func")

    def get_changelist(self, request, **kwargs):
        return JobChangeList

    def get_search_results(self, request, queryset, search_term):
        """The whole term, stripped, matched exactly: an id, a uniqkey or a coalesce value."""
        term = search_term.strip()
        if not term:
            return queryset, False
        match = queryset.filter(uniqkey=term) | queryset.filter(coalesce=term)
        if term.isdigit() and len(term) < 19:
            match |= queryset.filter(pk=int(term))
        return match, False

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

    def has_cancel_permission(self, request, obj=None):
        return request.user.has_perm("django_jobs.cancel_job")

    def has_retry_permission(self, request, obj=None):
        return request.user.has_perm("django_jobs.retry_job")

    def has_run_permission(self, request, obj=None):
        return request.user.has_perm("django_jobs.run_job")

    #: action -> the permission it needs (has_<permission>_permission).
    ACTION_PERMISSIONS = {
        "cancel_jobs": "cancel",
        "retry_jobs": "retry",
        "run_jobs_now": "run",
        "delete_jobs": "delete",
    }

    def check_posted_action(self, request, prefix=""):
        """
        403 for a posted action the user may not run. (Django would only say
        "No action selected": the action is left out of their choices.)
        """
        if request.method != "POST":
            return
        for name in request.POST.getlist(prefix + "action"):
            permission = self.ACTION_PERMISSIONS.get(name)
            if permission and not getattr(self, f"has_{permission}_permission")(request):
                raise PermissionDenied

    def changelist_view(self, request, extra_context=None):
        self.check_posted_action(request)
        return super().changelist_view(request, extra_context)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        self.check_posted_action(request, prefix=ActionLocation.CHANGE_FORM.value + "-")
        return super().changeform_view(request, object_id, form_url, extra_context)

    def get_actions(self, request, action_location=ActionLocation.CHANGE_LIST):
        if CHANGE_FORM_ACTIONS:
            actions = super().get_actions(request, action_location=action_location)
        else:  # Django < 6.1: actions on the change list only (see admin_compat)
            actions = super().get_actions(request) if action_location == ActionLocation.CHANGE_LIST else {}
        actions.pop("delete_selected", None)  # delete_jobs goes through the queue service
        return actions

    # -- actions -------------------------------------------------------------------------------

    @action(
        permissions=["cancel"], description=_("Cancel"), description_plural=_("Cancel selected jobs"), location=BOTH
    )
    def cancel_jobs(self, request, queryset):
        self.change_jobs(
            request, queryset, queue.cancel, _("cancelled"), _("only ready or running jobs can be cancelled")
        )

    @action(permissions=["retry"], description=_("Retry"), description_plural=_("Retry selected jobs"), location=BOTH)
    def retry_jobs(self, request, queryset):
        self.change_jobs(
            request, queryset, queue.retry, _("retried"), _("only failed, cancelled or expired jobs can be retried")
        )

    @action(
        permissions=["run"],
        description=_("Run now"),
        description_plural=_("Run selected jobs now (make them due)"),
        location=BOTH,
    )
    def run_jobs_now(self, request, queryset):
        self.change_jobs(request, queryset, queue.run_now, _("made due now"), _("only ready jobs can be made due"))

    @action(permissions=["delete"], description_plural=_("Delete selected jobs"))
    def delete_jobs(self, request, queryset):
        ids = self.selected_ids(request, queryset)
        if request.POST.get("post") != "yes":
            return self.delete_confirmation(request, ids)
        jobs = list(Job.objects.using(queryset.db).select_related("func").filter(pk__in=ids[:ACTION_LIMIT]))
        deleted = delete_jobs(ids[:ACTION_LIMIT], using=queryset.db)
        gone = set(deleted)
        # The rows are gone: the jobs read before. Django iterates over any iterable; django-stubs wants a QuerySet.
        self.log_deletions(request, [job for job in jobs if job.pk in gone])  # type: ignore[arg-type]
        self.report(
            request, ids, deleted, queryset.db, _("deleted"), _("running jobs cannot be deleted: cancel them first")
        )

    def selected_ids(self, request, queryset):
        """The selected job ids, at most ACTION_LIMIT + 1 (the extra one tells there were more)."""
        return list(queryset.order_by("-pk").values_list("pk", flat=True)[: ACTION_LIMIT + 1])

    def change_jobs(self, request, queryset, change, done, rule):
        """Call ``change`` (a queue service function) for each selected job, and say what happened."""
        ids = self.selected_ids(request, queryset)
        changed = []
        for pk in ids[:ACTION_LIMIT]:
            try:
                change(pk, using=queryset.db)
            except (InvalidTransition, JobNotFound):
                continue
            changed.append(pk)
        if changed:  # in each job's history, as Django's own changes are
            jobs = Job.objects.using(queryset.db).select_related("func").filter(pk__in=changed)
            LogEntry.objects.log_actions(request.user.pk, jobs, CHANGE, capfirst(done) + ".")
        self.report(request, ids, changed, queryset.db, done, rule)

    def report(self, request, ids, changed, using, done, rule):
        """
        One message: how many jobs changed, and why the others did not (their
        states now, read in one query), e.g. "3 jobs retried, 2 skipped: 2 running
        (only failed, cancelled or expired jobs can be retried)."
        """
        handled, more = ids[:ACTION_LIMIT], len(ids) > ACTION_LIMIT
        skipped = sorted(set(handled) - set(changed))
        states = dict(
            Job.objects.using(using).filter(pk__in=skipped).order_by().values_list("state").annotate(n=Count("pk"))
        )
        gone = len(skipped) - sum(states.values())
        reasons = [f"{n} {JobState(state).label.lower()}" for state, n in sorted(states.items())]
        if gone:
            reasons.append(ngettext("%d no longer exists", "%d no longer exist", gone) % gone)
        if len(handled) == 1:
            if changed:
                message, level = _("Job %(id)s %(done)s.") % {"id": handled[0], "done": done}, messages.SUCCESS
            else:
                why = JobState(next(iter(states))).label.lower() if states else _("gone")
                message = _("Job %(id)s was not %(done)s: it is %(why)s (%(rule)s).") % {
                    "id": handled[0],
                    "done": done,
                    "why": why,
                    "rule": rule,
                }
                level = messages.ERROR
        else:
            message = ngettext("%(n)d job %(done)s", "%(n)d jobs %(done)s", len(changed)) % {
                "n": len(changed),
                "done": done,
            }
            if skipped:
                message += _(", %(n)d skipped: %(reasons)s (%(rule)s)") % {
                    "n": len(skipped),
                    "reasons": ", ".join(reasons),
                    "rule": rule,
                }
            message += "."
            level = messages.SUCCESS if not skipped else messages.WARNING if changed else messages.ERROR
        if more:
            message += " " + _("Only the first %d selected jobs were handled: run the action again for the rest.") % (
                ACTION_LIMIT
            )
            level = messages.WARNING
        self.message_user(request, message, level)

    def delete_confirmation(self, request, ids):
        handled = ids[:ACTION_LIMIT]
        by_state = dict(
            Job.objects.using(self.using).filter(pk__in=handled).order_by().values_list("state").annotate(n=Count("pk"))
        )
        context = {
            **self.admin_site.each_context(request),
            "title": _("Delete jobs?"),
            "subtitle": None,
            "opts": self.opts,
            "count": len(handled),
            "more": len(ids) > ACTION_LIMIT,
            "limit": ACTION_LIMIT,
            "running": by_state.get(JobState.RUNNING, 0),
            "by_state": [(JobState(s).label, n) for s, n in sorted(by_state.items())],
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
            "action": "delete_jobs",
            "media": self.media,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/django_jobs/job/delete_jobs_confirmation.html", context)

    # The delete view of one job (linked from its page) goes through the service too.

    delete_confirmation_max_display = 20

    def get_deleted_objects(self, objs, request):
        deleted, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        # A job's log lines go with it; JobLogAdmin refuses deleting them one by one.
        perms_needed.discard(JobLog._meta.verbose_name)
        return deleted, model_count, perms_needed, protected

    def delete_model(self, request, obj):
        delete_jobs([obj.pk], using=self.using)

    def delete_queryset(self, request, queryset):
        delete_jobs(list(queryset.values_list("pk", flat=True)), using=queryset.db)

    # -- the change page ------------------------------------------------------------------------

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["job_buttons"] = self.job_buttons(request, obj)
            context["runs"] = self.runs(obj)
            context["log_lines_shown"] = LOG_LINES_SHOWN
        return super().render_change_form(request, context, add, change, form_url, obj)

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
        candidates = [
            ("retry_jobs", _("Retry"), "djobs-retry", sources("retry")),
            ("run_jobs_now", _("Run now"), "djobs-run", [JobState.READY]),
            ("cancel_jobs", _("Cancel"), "djobs-cancel", sources("cancel")),
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
                wrap(lambda request: admin_views.dashboard_view(self, request)),
                name="django_jobs_dashboard",
            ),
            path(
                "dashboard/<str:queue_name>/pause/",
                wrap(lambda request, queue_name: admin_views.pause_view(self, request, queue_name, paused=True)),
                name="django_jobs_pause",
            ),
            path(
                "dashboard/<str:queue_name>/resume/",
                wrap(lambda request, queue_name: admin_views.pause_view(self, request, queue_name, paused=False)),
                name="django_jobs_resume",
            ),
            *super().get_urls(),
        ]


def delete_jobs(ids, *, using):
    """
    Delete the jobs among ``ids`` that are not running, with their runs and
    logs; returns the ids deleted. Through the queue service's guarded delete
    (select for update, then delete only rows still not running).
    """
    return queue.delete_jobs(ids, using=using)


# -- functions -----------------------------------------------------------------------------------


class FunctionChangeList(ChangeList):
    model_admin: "FuncMapAdmin"

    def get_results(self, request):
        super().get_results(request)
        functions = list(self.result_list)
        figures = stats.function_stats(self.model_admin.using, [f.pk for f in functions])
        for function in functions:
            function.figures = figures.get(function.pk) or stats.FunctionStats(func_id=function.pk)


@admin.register(FuncMap)
class FuncMapAdmin(admin.ModelAdmin):
    """Each job function with its waiting, running and failed jobs and its latest failure."""

    list_display = ("path", "waiting", "running", "failed", "last_failure")
    search_fields = ("path",)
    ordering = ("path",)
    show_facets = admin.ShowFacets.NEVER

    class Media:
        css = {"all": ["django_jobs/admin.css"]}

    @cached_property
    def using(self):
        return admin_views.jobs_database()

    def get_queryset(self, request):
        return super().get_queryset(request).using(self.using)

    def get_changelist(self, request, **kwargs):
        return FunctionChangeList

    def _count(self, obj, state, attribute):
        n = getattr(obj.figures, attribute)
        if not n:
            return "0"
        return format_html('<a href="{}">{}</a>', changelist_url(func=obj.pk, state=state), n)

    @admin.display(description=_("waiting"))
    def waiting(self, obj):
        return self._count(obj, JobState.READY, "waiting")

    @admin.display(description=_("running"))
    def running(self, obj):
        return self._count(obj, JobState.RUNNING, "running")

    @admin.display(description=_("failed (kept)"))
    def failed(self, obj):
        return self._count(obj, JobState.FAILED, "failed")

    @admin.display(description=_("last failure"))
    def last_failure(self, obj):
        f = obj.figures
        if f.last_failure_job_id is None:
            return "-"
        return format_html(
            '{} <a href="{}">#{}</a> <span class="djobs-error" title="{}">{}</span>',
            relative(f.last_failure),
            reverse("admin:django_jobs_job_change", args=[f.last_failure_job_id]),
            f.last_failure_job_id,
            f.last_error,
            Truncator(f.last_error).chars(80),
        )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        # Workers and enqueuers cache function ids: a deleted row would be re-used by id.
        return False


@admin.register(JobLog)
class JobLogAdmin(admin.ModelAdmin):
    list_display = ("created_at", "run", "level", "logger", "message")
    list_select_related = ("run",)
    readonly_fields = ("run", "created_at", "level", "logger", "message")
    ordering = ("-id",)
    sortable_by = ()
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER

    @cached_property
    def using(self):
        return admin_views.jobs_database()

    def get_queryset(self, request):
        return super().get_queryset(request).using(self.using)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
