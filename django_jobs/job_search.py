"""
The job list's search box, as the admin and the background retry
(``django_jobs.operator_tasks``) read it: a job id, a job's exact uniqkey or
coalesce value, or an argument's value:

- ``args:<value>``: a positional argument equal to the value;
- ``kwargs:<name>=<value>``: the keyword argument ``name`` equal to it.

The value is read as JSON when it is JSON (``args:42`` is the number,
``args:"42"`` the string), else as the text typed (``args:alice@example.com``).
PostgreSQL answers with JSON containment (``@>``), SQLite with its JSON functions.

Jobs of a task with ``redact_args=True`` (or whose task no longer resolves:
redaction fails closed) are never matched: a search would otherwise tell
whether a redacted job holds a given value.
"""

import json

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from .db import get_ops
from .models import FuncMap
from .redaction import is_redacted

PREFIXES = ("args:", "kwargs:")


def is_argument_search(term):
    return term.startswith(PREFIXES)


def search(queryset, term, using):
    """
    The jobs of ``queryset`` matching the search ``term`` (stripped; all of
    them for ""). ValidationError naming the problem for a malformed argument search.
    """
    term = term.strip()
    if not term:
        return queryset
    if is_argument_search(term):
        return search_arguments(queryset, term, using)
    match = queryset.filter(uniqkey=term) | queryset.filter(coalesce=term)
    if term.isdigit() and len(term) < 19:
        match |= queryset.filter(pk=int(term))
    return match


def parse_value(text):
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse(term):
    """``(key, value)`` of an argument search term; ValidationError naming the problem."""
    if term.startswith("args:"):
        text = term.removeprefix("args:")
        if not text:
            raise ValidationError(_("Give the value after 'args:', e.g. args:42 or args:alice@example.com."))
        return None, parse_value(text)
    name, sep, text = term.removeprefix("kwargs:").partition("=")
    if not sep or not name:
        raise ValidationError(_("Search a keyword argument as kwargs:<name>=<value>, e.g. kwargs:user_id=42."))
    return name, parse_value(text)


def shown_functions(using):
    """Ids of the job functions whose arguments displays may show (the FuncMap table is small)."""
    return [pk for pk, path in FuncMap.objects.using(using).values_list("pk", "path") if not is_redacted(path)]


def search_arguments(queryset, term, using):
    """The jobs of ``queryset`` matching the argument search ``term``, never a redacted one."""
    key, value = parse(term)
    return queryset.filter(get_ops(using).argument_condition(value, key=key), func_id__in=shown_functions(using))
