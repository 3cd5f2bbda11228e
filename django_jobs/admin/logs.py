"""The log lines page: what jobs logged while they ran, newest first, each linked to its job."""

import logging

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from ..models import FuncMap
from .base import ReadOnlyJobsAdmin
from .paginator import EstimatedCountPaginator


class LogFunctionFilter(admin.SimpleListFilter):
    """The lines logged by jobs of one function (the choices: one query of the small FuncMap table)."""

    title = _("function")
    parameter_name = "function"

    def lookups(self, request, model_admin):
        return [(str(pk), path) for pk, path in FuncMap.objects.using(model_admin.using).values_list("pk", "path")]

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        if not value.isdigit():
            raise IncorrectLookupParameters(_("Give the function as its id, not %r.") % value)
        return queryset.filter(run__job__func_id=int(value))


class JobLogAdmin(ReadOnlyJobsAdmin):
    list_display = ("created_at", "job", "level_name", "logger", "message")
    list_filter = (LogFunctionFilter,)
    filter_lookups = frozenset({LogFunctionFilter.parameter_name})
    list_select_related = ("run",)
    readonly_fields = ("created_at", "job", "level_name", "logger", "message")
    search_fields = ("message",)
    search_help_text = _(
        "Words of a line's message (each must appear, in any case). Reads every line: slow on a large table."
    )
    ordering = ("-id",)
    sortable_by = ()
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER

    @admin.display(description=_("job"))
    def job(self, obj):
        """The job that logged the line, and which of its attempts."""
        return format_html(
            '<a href="{}">#{}</a> <small>{}</small>',
            reverse("admin:django_jobs_job_change", args=[obj.run.job_id]),
            obj.run.job_id,
            _("attempt %d") % obj.run.attempt,
        )

    @admin.display(description=_("level"))
    def level_name(self, obj):
        """Python's name of the level (WARNING), or "Level 25" for one without a name."""
        return logging.getLevelName(obj.level)
