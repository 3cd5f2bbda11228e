"""
The job actions: cancel, retry, run now and delete, on the selected jobs (the
job list) or on one job (its page). Each goes through the queue service,
job by job, and ends with one message saying what changed and why the rest did not.
"""

from collections import Counter
from dataclasses import dataclass, field

from django.contrib import messages
from django.contrib.admin import helpers
from django.contrib.admin.models import CHANGE, LogEntry
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.template.response import TemplateResponse
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from .. import queue
from ..exceptions import DependencyNotRetried, InvalidTransition, JobNotFound
from ..models import Job
from ..states import JobState
from .base import JobsDatabaseAdmin
from .compat import CHANGE_FORM_ACTIONS, ActionLocation, action

#: Most jobs one action handles in one request (each is one call to the queue service),
#: except retry, which handles every selected job, this many at a time.
ACTION_LIMIT = 1000

BOTH = [ActionLocation.CHANGE_LIST, ActionLocation.CHANGE_FORM]


@dataclass
class Tally:
    """What an action did to the jobs it handled, added up batch by batch."""

    handled: int = 0
    changed: int = 0
    #: The first job handled: the one a message about a single job names.
    first_id: int | None = None
    #: The jobs left unchanged, by their state now; ``gone``: those deleted meanwhile.
    skipped: Counter = field(default_factory=Counter)
    gone: int = 0
    #: Jobs of a workflow refused because a job they depend on is failed, cancelled or expired.
    blocked: int = 0
    #: True if more jobs were selected than were handled.
    more: bool = False

    def add(self, using, ids, changed, blocked=()):
        """
        Count a batch: ``ids`` handled, ``changed`` among them, ``blocked`` by a
        dependency; the others' states in one query.
        """
        unchanged = set(ids) - set(changed) - set(blocked)
        states = dict(
            Job.objects.using(using).filter(pk__in=unchanged).order_by().values_list("state").annotate(n=Count("pk"))
        )
        if self.first_id is None and ids:
            self.first_id = ids[0]
        self.handled += len(ids)
        self.changed += len(changed)
        self.blocked += len(blocked)
        self.skipped.update(states)
        self.gone += len(unchanged) - sum(states.values())


class JobActionsAdmin(JobsDatabaseAdmin):
    """The actions of JobAdmin, and who may run them (the permissions cancel_job, retry_job, run_job)."""

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
        # The "Retry all matching jobs in the background" button (admin.bulk).
        extra_context = {**(extra_context or {}), "can_retry_matching": self.has_retry_permission(request)}
        return super().changelist_view(request, extra_context)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        self.check_posted_action(request, prefix=ActionLocation.CHANGE_FORM.value + "-")
        return super().changeform_view(request, object_id, form_url, extra_context)

    def get_actions(self, request, action_location=ActionLocation.CHANGE_LIST):
        if CHANGE_FORM_ACTIONS:
            actions = super().get_actions(request, action_location=action_location)
        else:  # Django < 6.1: actions on the change list only (see admin.compat)
            actions = super().get_actions(request) if action_location == ActionLocation.CHANGE_LIST else {}
        actions.pop("delete_selected", None)  # delete_jobs goes through the queue service
        return actions

    # -- actions -------------------------------------------------------------------------------

    @action(
        permissions=["cancel"], description=_("Cancel"), description_plural=_("Cancel selected jobs"), location=BOTH
    )
    def cancel_jobs(self, request, queryset):
        self.change_jobs(
            request, queryset, queue.cancel, _("cancelled"), _("only waiting, ready or running jobs can be cancelled")
        )

    @action(permissions=["retry"], description=_("Retry"), description_plural=_("Retry selected jobs"), location=BOTH)
    def retry_jobs(self, request, queryset):
        self.change_jobs(
            request,
            queryset,
            queue.retry,
            _("retried"),
            _("only failed, cancelled or expired jobs can be retried"),
            every=True,
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
        deleted = queue.delete_jobs(ids[:ACTION_LIMIT], using=queryset.db)
        gone = set(deleted)
        # The rows are gone: the jobs read before. Django iterates over any iterable; django-stubs wants a QuerySet.
        self.log_deletions(request, [job for job in jobs if job.pk in gone])  # type: ignore[arg-type]
        tally = Tally(more=len(ids) > ACTION_LIMIT)
        tally.add(queryset.db, ids[:ACTION_LIMIT], deleted)
        self.report(request, tally, _("deleted"), _("running jobs cannot be deleted: cancel them first"))

    def selected_ids(self, request, queryset):
        """The selected job ids, at most ACTION_LIMIT + 1 (the extra one tells there were more)."""
        return list(queryset.order_by("-pk").values_list("pk", flat=True)[: ACTION_LIMIT + 1])

    def batches(self, queryset):
        """
        Every selected job id, ACTION_LIMIT at a time, newest first. Each batch
        reads on from the last id of the one before (no OFFSET), so jobs that
        leave the filter meanwhile (retried ones) move nothing.
        """
        ids = queryset.order_by("-pk").values_list("pk", flat=True)
        batch = list(ids[:ACTION_LIMIT])
        while batch:
            yield batch
            batch = list(ids.filter(pk__lt=batch[-1])[:ACTION_LIMIT]) if len(batch) == ACTION_LIMIT else []

    def change_jobs(self, request, queryset, change, done, rule, *, every=False):
        """
        Call ``change`` (a queue service function) for each selected job, and
        say what happened: for the first ACTION_LIMIT of them, or with
        ``every`` for all of them, a batch at a time.
        """
        tally = Tally()
        if every:
            batches = self.batches(queryset)
        else:
            ids = self.selected_ids(request, queryset)
            batches, tally.more = iter([ids[:ACTION_LIMIT]]), len(ids) > ACTION_LIMIT
        for batch in batches:
            changed, blocked = [], []
            for pk in batch:
                try:
                    change(pk, using=queryset.db)
                except DependencyNotRetried:
                    blocked.append(pk)
                    continue
                except (InvalidTransition, JobNotFound):
                    continue
                changed.append(pk)
            if changed:  # in each job's history, as Django's own changes are
                jobs = Job.objects.using(queryset.db).select_related("func").filter(pk__in=changed)
                LogEntry.objects.log_actions(request.user.pk, jobs, CHANGE, capfirst(done) + ".")
            tally.add(queryset.db, batch, changed, blocked)
        self.report(request, tally, done, rule)

    def report(self, request, tally, done, rule):
        """
        One message: how many jobs changed, and why the others did not (their
        states now), e.g. "3 jobs retried, 2 skipped: 2 running (only failed,
        cancelled or expired jobs can be retried)."
        """
        skipped = sum(tally.skipped.values()) + tally.gone + tally.blocked
        reasons = [f"{n} {JobState(state).label.lower()}" for state, n in sorted(tally.skipped.items())]
        if tally.blocked:
            reasons.append(
                ngettext("%d depends on a failed job", "%d depend on failed jobs", tally.blocked) % tally.blocked
            )
        if tally.gone:
            reasons.append(ngettext("%d no longer exists", "%d no longer exist", tally.gone) % tally.gone)
        if tally.handled == 1:
            if tally.changed:
                message, level = _("Job %(id)s %(done)s.") % {"id": tally.first_id, "done": done}, messages.SUCCESS
            elif tally.blocked:
                message = _(
                    "Job %(id)s was not %(done)s: a job it depends on is failed, cancelled or expired "
                    "(retry that one first)."
                ) % {"id": tally.first_id, "done": done}
                level = messages.ERROR
            else:
                why = JobState(next(iter(tally.skipped))).label.lower() if tally.skipped else _("gone")
                message = _("Job %(id)s was not %(done)s: it is %(why)s (%(rule)s).") % {
                    "id": tally.first_id,
                    "done": done,
                    "why": why,
                    "rule": rule,
                }
                level = messages.ERROR
        else:
            message = ngettext("%(n)d job %(done)s", "%(n)d jobs %(done)s", tally.changed) % {
                "n": tally.changed,
                "done": done,
            }
            if skipped:
                message += _(", %(n)d skipped: %(reasons)s (%(rule)s)") % {
                    "n": skipped,
                    "reasons": ", ".join(reasons),
                    "rule": rule,
                }
            message += "."
            level = messages.SUCCESS if not skipped else messages.WARNING if tally.changed else messages.ERROR
        if tally.more:
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
