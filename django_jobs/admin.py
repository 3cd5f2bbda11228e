import json

from django.contrib import admin
from django.utils.html import format_html

from .models import FuncMap, Job, JobLog, JobRun


def pretty_json(value):
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, ensure_ascii=False))


class JobRunInline(admin.TabularInline):
    model = JobRun
    extra = 0
    can_delete = False
    fields = ("attempt", "worker_id", "started_at", "finished_at", "outcome", "exception_class_path", "message", "traceback")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ("id", "func", "queue_name", "state", "priority", "attempts", "max_attempts", "run_after", "enqueued_at", "finished_at")
    list_filter = ("state", "queue_name")
    list_select_related = ("func",)
    search_fields = ("=id", "=uniqkey", "=coalesce")
    show_full_result_count = False
    inlines = [JobRunInline]
    readonly_fields = [f.name for f in Job._meta.fields if f.name not in ("args", "kwargs", "return_value")] + [
        "pretty_args", "pretty_kwargs", "pretty_return_value"]
    exclude = ("args", "kwargs", "return_value")

    @admin.display(description="args")
    def pretty_args(self, obj):
        return pretty_json(obj.args)

    @admin.display(description="kwargs")
    def pretty_kwargs(self, obj):
        return pretty_json(obj.kwargs)

    @admin.display(description="return value")
    def pretty_return_value(self, obj):
        return pretty_json(obj.return_value)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(JobLog)
class JobLogAdmin(admin.ModelAdmin):
    list_display = ("created_at", "run", "level", "logger", "message")
    list_select_related = ("run",)
    readonly_fields = ("run", "created_at", "level", "logger", "message")

    def has_add_permission(self, request):
        return False


@admin.register(FuncMap)
class FuncMapAdmin(admin.ModelAdmin):
    list_display = ("id", "path")
    search_fields = ("path",)
