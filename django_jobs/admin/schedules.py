"""
The schedules page: recurring jobs stored in the database (``Schedule``),
editable, with "run now", enable and disable; and the RECURRING entries of
settings, shown read-only above them. A schedule is checked as a settings
entry is (``recurring.check_entry``): a bad cron, an unknown timezone or
arguments that do not fit the task is a form error, and nothing is saved.
"""

from django import forms
from django.contrib import admin, messages
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from ..compat import InvalidTask
from ..exceptions import JobsError
from ..models import RecurringState, Schedule
from ..recurring import EntryError, Recurring
from ..schedules import check_schedule, run_now
from .base import JobsDatabaseAdmin
from .display import relative

#: The form field each kind of problem (``EntryError.kind``) is shown at.
FIELD_OF_KIND = {"cron": "cron", "timezone": "timezone", "task": "task", "arguments": "args", "entry": "name"}


class ScheduleForm(forms.ModelForm):
    class Meta:
        model = Schedule
        fields = ("name", "task", "cron", "timezone", "args", "kwargs", "queue_name", "priority", "enabled")

    def clean(self):
        super().clean()
        cleaned = self.cleaned_data
        # An empty JSON field: no arguments.
        if cleaned.get("args") is None and "args" not in self.errors:
            cleaned["args"] = []
        if cleaned.get("kwargs") is None and "kwargs" not in self.errors:
            cleaned["kwargs"] = {}
        if self.errors:
            return cleaned  # a field already refused (e.g. JSON that does not parse): nothing more to check
        candidate = Schedule(**{name: cleaned.get(name) for name in self.Meta.fields})
        for problem in check_schedule(candidate):
            self.add_error(FIELD_OF_KIND.get(problem.kind), str(problem))
        return cleaned


def settings_entries(using):
    """The RECURRING entries of settings whose jobs live in ``using``, with their next and last occurrence."""
    entries = Recurring(using).load()
    last = dict(
        RecurringState.objects.using(using)
        .filter(name__in=[e.name for e in entries])
        .values_list("name", "last_occurrence")
    )
    now = timezone.now()
    return [
        {
            "entry": entry,
            "timezone": entry.timezone.key,
            "last": relative(last.get(entry.name), now),
            "next": relative(entry.next_after(now), now),
        }
        for entry in entries
    ]


class ScheduleAdmin(JobsDatabaseAdmin):
    form = ScheduleForm
    list_display = ("name", "task", "cron", "timezone_display", "enabled", "last_run_display", "next_run_display")
    list_filter = ("enabled",)
    filter_lookups = frozenset({"enabled__exact"})
    search_fields = ("name", "task")
    ordering = ("name",)
    readonly_fields = ("last_run", "next_run")
    actions = ["run_selected_now", "enable", "disable"]
    show_facets = admin.ShowFacets.NEVER
    change_list_template = "admin/django_jobs/schedule/change_list.html"

    class Media:
        css = {"all": ["django_jobs/admin.css"]}

    @admin.display(description=_("timezone"))
    def timezone_display(self, obj):
        return obj.timezone or _("TIME_ZONE")

    @admin.display(description=_("last run"), ordering="last_run")
    def last_run_display(self, obj):
        return relative(obj.last_run)

    @admin.display(description=_("next run"), ordering="next_run")
    def next_run_display(self, obj):
        return relative(obj.next_run) if obj.enabled else _("disabled")

    @admin.action(description=_("Run now (one job each, outside the cron)"), permissions=["run"])
    def run_selected_now(self, request, queryset):
        done = []
        for schedule in queryset:
            try:
                result = run_now(schedule)
            except (EntryError, JobsError, InvalidTask, TypeError) as e:
                self.message_user(
                    request, _("%(name)s: not run: %(error)s") % {"name": schedule, "error": e}, messages.ERROR
                )
                continue
            done.append(f"{schedule.name} (job {result.id})")
        if done:
            self.message_user(request, _("Enqueued now: %s.") % ", ".join(done), messages.SUCCESS)

    @admin.action(description=_("Enable"), permissions=["change"])
    def enable(self, request, queryset):
        n = queryset.update(enabled=True)
        self.message_user(request, ngettext("%d schedule enabled.", "%d schedules enabled.", n) % n)

    @admin.action(description=_("Disable (occurrences while disabled are skipped)"), permissions=["change"])
    def disable(self, request, queryset):
        n = queryset.update(enabled=False)
        self.message_user(request, ngettext("%d schedule disabled.", "%d schedules disabled.", n) % n)

    def has_run_permission(self, request):
        return request.user.has_perm("django_jobs.run_schedule")

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "settings_entries": settings_entries(self.using)}
        return super().changelist_view(request, extra_context)
