"""The log lines page: what jobs logged while they ran, newest first."""

from django.contrib import admin

from .base import JobsDatabaseAdmin
from .paginator import EstimatedCountPaginator


class JobLogAdmin(JobsDatabaseAdmin):
    list_display = ("created_at", "run", "level", "logger", "message")
    list_select_related = ("run",)
    readonly_fields = ("run", "created_at", "level", "logger", "message")
    ordering = ("-id",)
    sortable_by = ()
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
