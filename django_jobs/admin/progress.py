"""
How the admin's job page shows what a job saved with ``context.save_metadata()``:
a progress bar when it holds numbers ``progress`` and ``total``, then the metadata itself.
"""

from django.contrib import admin
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from ..metadata import describe_progress, progress_of
from .display import pretty_json


def progress_bar(metadata):
    """An HTML progress bar and '3 of 10 (30%)'; '' when ``metadata`` holds no progress."""
    found = progress_of(metadata)
    if found is None:
        return ""
    progress, total = found
    return format_html(
        '<div class="djobs-progress"><progress value="{}" max="{}"></progress> {}</div>',
        max(0, min(progress, total)),
        total,
        describe_progress(metadata),
    )


@admin.display(description=_("progress and metadata"))
def progress(model_admin, obj):
    """The job page's read-only field: the progress bar, then the metadata; '-' when nothing was saved."""
    if not obj.metadata:
        return "-"
    return format_html("{}{}", progress_bar(obj.metadata), pretty_json(obj.metadata))
