"""The functions page: each job function with its waiting, running and failed jobs and its latest failure."""

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.urls import reverse
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _

from .. import stats
from ..states import JobState
from .base import ReadOnlyJobsAdmin
from .display import changelist_url, relative


class FunctionChangeList(ChangeList):
    model_admin: "FuncMapAdmin"

    def get_results(self, request):
        super().get_results(request)
        functions = list(self.result_list)
        figures = stats.function_stats(self.model_admin.using, [f.pk for f in functions])
        for function in functions:
            function.figures = figures.get(function.pk) or stats.FunctionStats(func_id=function.pk)


class FuncMapAdmin(ReadOnlyJobsAdmin):
    """Each job function with its ready, running and failed jobs and its latest failure."""

    list_display = ("path", "ready", "running", "failed", "last_failure")
    search_fields = ("path",)
    ordering = ("path",)
    show_facets = admin.ShowFacets.NEVER

    class Media:
        css = {"all": ["django_jobs/admin.css"]}

    def get_changelist(self, request, **kwargs):
        return FunctionChangeList

    def _count(self, obj, state, attribute):
        n = getattr(obj.figures, attribute)
        if not n:
            return "0"
        return format_html('<a href="{}">{}</a>', changelist_url(func=obj.pk, state=state), n)

    @admin.display(description=_("ready"))
    def ready(self, obj):
        return self._count(obj, JobState.READY, "ready")

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
