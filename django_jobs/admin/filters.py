"""The job list's filters: each one an index serves (docs/admin.md)."""

from django.contrib import admin
from django.contrib.admin.filters import DateFieldListFilter, SimpleListFilter
from django.utils.translation import gettext_lazy as _

from ..states import FINISHED_STATES
from .backends import configured_queues


class QueueFilter(SimpleListFilter):
    """The queues of TASKS, from settings: no SELECT DISTINCT over the table."""

    title = _("queue")
    parameter_name = "queue_name"

    def lookups(self, request, model_admin):
        return [(name, name) for name in sorted(configured_queues(model_admin.using))]

    def queryset(self, request, queryset):
        if self.value() is not None:  # "" is a queue's name too
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
