"""
"Retry all matching jobs in the background": the job list's filter, turned
into a filter spec (``django_jobs.operator_tasks``), handed to one job that
retries every matching job in batches, with its progress in its log lines.
Any number of jobs; the request only enqueues that job.
"""

from datetime import datetime

from django.contrib import messages
from django.contrib.admin.views.main import ALL_VAR, ORDER_VAR, PAGE_VAR, SEARCH_VAR
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _

from ..compat import InvalidTask
from ..exceptions import InvalidJobArguments
from ..models import FuncMap
from .backends import jobs_backend_alias

#: The job list's query parameters -> the filter spec's fields (operator_tasks.SPEC_FIELDS).
SPEC_OF_PARAMETER = {
    "state__exact": "state",
    "queue_name": "queue",
    SEARCH_VAR: "search",
    "enqueued_at__gte": "enqueued_after",
    "enqueued_at__lt": "enqueued_before",
    "finished_at__gte": "finished_after",
    "finished_at__lt": "finished_before",
}
#: The function filter: its FuncMap id becomes the task's path.
FUNCTION_PARAMETER = "func__id__exact"
#: Parameters that change how the list shows, not which jobs it holds.
DISPLAY_PARAMETERS = {ORDER_VAR, PAGE_VAR, ALL_VAR, "_facets"}  # "_facets": IS_FACETS_VAR


def _moment(name, value):
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidJobArguments(
            _("The filter %(name)s=%(value)r is not a date.") % {"name": name, "value": value}
        ) from None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment.isoformat()


def spec_of(query, using):
    """The filter spec of the job list's query parameters; InvalidJobArguments naming one it cannot follow."""
    spec = {}
    for name in query:
        value = query.get(name)
        if name in DISPLAY_PARAMETERS:
            continue
        if name == FUNCTION_PARAMETER:
            path = FuncMap.objects.using(using).filter(pk=value).values_list("path", flat=True).first()
            if path is None:
                raise InvalidJobArguments(_("No job function has the id %r.") % value)
            spec["task"] = path
        elif name in SPEC_OF_PARAMETER:
            field = SPEC_OF_PARAMETER[name]
            spec[field] = _moment(name, value) if field.endswith(("_after", "_before")) else value
        else:
            raise InvalidJobArguments(
                _("The filter %(name)s cannot be retried in the background: remove it, or use the Retry action.")
                % {"name": name}
            )
    if spec.get("search") == "":
        del spec["search"]
    return spec


def retry_matching_view(model_admin, request):
    """
    POST, with the job list's query string: enqueue ``retry_matching`` for its
    filter, and go back to the list with a message linking to that job.
    """
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if not (model_admin.has_view_permission(request) and model_admin.has_retry_permission(request)):
        raise PermissionDenied
    using = model_admin.using
    back = reverse("admin:django_jobs_job_changelist") + ("?" + request.GET.urlencode() if request.GET else "")
    alias = jobs_backend_alias(using)
    try:
        from ..operator_tasks import check_spec, matching, retry_matching

        spec = spec_of(request.GET, using)
        matching(check_spec(spec), using=using)  # a bad search is said now, not when the job runs
        queued = retry_matching.using(backend=alias) if alias else retry_matching
        result = queued.enqueue(spec)
    except InvalidTask as e:  # a bad filter, or a backend that cannot take the job: said, nothing written
        messages.error(request, _("Nothing was retried: %s") % e)
        return HttpResponseRedirect(back)
    job_url = reverse("admin:django_jobs_job_change", args=[result.id])
    messages.success(
        request,
        format_html(
            _('Retrying every {state} job matching this filter in the background: see job <a href="{url}">{id}</a>.'),
            state=spec.get("state", "failed"),
            url=job_url,
            id=result.id,
        ),
    )
    return HttpResponseRedirect(back)
