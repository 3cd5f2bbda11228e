"""
The admin features of Django 6.1 that the job admin uses, and what stands in
for them on Django 5.2 and 6.0.

Django 6.1 offers admin actions on an object's change form as well as on the
change list (``ActionLocation``, ``@admin.action(location=...)``), with a
plural description for the list. The job page's Retry, Run now and Cancel
buttons are such actions. On earlier Django the job actions are offered on the
change list only, described there as in 6.1, and the job page has no buttons:
retry, run or cancel one job by selecting it in the list.

Kept apart from ``django_jobs.compat`` (the Tasks framework, imported by every
process) because importing the admin costs a worker a quarter of a second.
"""

import enum
from typing import TYPE_CHECKING

import django
from django.contrib import admin

#: Whether this Django offers admin actions on a change form (6.1 and later).
CHANGE_FORM_ACTIONS = django.VERSION >= (6, 1)

if TYPE_CHECKING or CHANGE_FORM_ACTIONS:
    from django.contrib.admin.options import ActionLocation

    action = admin.action
else:

    class ActionLocation(enum.Enum):
        """Where an admin action is offered: Django 6.1's enumeration, as a stand-in."""

        CHANGE_FORM = "CHANGE_FORM"
        CHANGE_LIST = "CHANGE_LIST"

    def action(function=None, *, description=None, description_plural=None, location=None, **kwargs):
        """
        ``admin.action`` for Django before 6.1: offered on the change list only
        (``location`` is ignored), where Django 6.1 shows the plural description.
        """
        return admin.action(function, description=description_plural or description, **kwargs)


__all__ = ["CHANGE_FORM_ACTIONS", "ActionLocation", "action"]
