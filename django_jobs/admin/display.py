"""How the admin pages show durations, moments, states, JSON, and links to a filtered job list."""

import json
from datetime import timedelta

from django.contrib import admin
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.translation import gettext as _

from ..redaction import Redacted
from ..states import JobState


def compact_duration(value):
    """A timedelta or seconds as '0.42s', '12s', '3m05s', '2h04m', '3d02h'; None as '-'."""
    if value is None:
        return "-"
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if seconds < 10:
        return f"{seconds:.2f}s" if seconds < 1 else f"{seconds:.1f}s"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"


def relative(moment, now=None):
    """'in 5m00s' or '5m00s ago', with the exact local time as a tooltip; '-' for None."""
    if moment is None:
        return "-"
    delta = moment - (now or timezone.now())
    text = _("in %s") % compact_duration(delta) if delta > timedelta(0) else _("%s ago") % compact_duration(-delta)
    return format_html('<span title="{}">{}</span>', timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S %Z"), text)


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


def state_badge(state):
    label = JobState(state).label if state in JobState.values else state
    return format_html('<span class="djobs-state djobs-state-{}">{}</span>', state, label)


def pretty_json(value):
    """Arguments or a result, indented; a redacted one as the redaction says it."""
    if isinstance(value, Redacted):
        return value
    return format_html('<pre class="djobs-json">{}</pre>', json.dumps(value, indent=2, ensure_ascii=False))


def changelist_url(**filters):
    """The job list, filtered: changelist_url(state="failed", queue="emails")."""
    params = {}
    if "state" in filters:
        params["state__exact"] = filters["state"]
    if "queue" in filters:
        params["queue_name"] = filters["queue"]
    if "func" in filters:
        params["func__id__exact"] = filters["func"]
    url = reverse("admin:django_jobs_job_changelist")
    return f"{url}?{urlencode(params)}" if params else url
