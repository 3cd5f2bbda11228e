"""The log lines page: what jobs logged while they ran, newest first, each linked to its job."""

import logging

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from .base import JobsDatabaseAdmin
from .paginator import EstimatedCountPaginator


class JobLogAdmin(JobsDatabaseAdmin):
    list_display = ("created_at", "job", "level_name", "logger", "message")
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

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
