"""What every django_jobs admin page shares: the jobs' database, and only the filters it declares."""

from django.contrib import admin
from django.utils.functional import cached_property

from .backends import jobs_database


class JobsDatabaseAdmin(admin.ModelAdmin):
    """
    A ModelAdmin of a django_jobs table. It reads the database the jobs live
    in (``using``), and its list takes only the query parameters of its own
    filters (``filter_lookups``).

    Django's admin lets a list be filtered by any field through its URL
    (``?kwargs__cvv=123``): a user allowed to view jobs could then recover
    redacted arguments from the number of results, one character at a time.
    Any other parameter gets "400 Bad Request", for every user.
    """

    #: The query parameters the list's filters (list_filter, date_hierarchy) read.
    filter_lookups: frozenset[str] = frozenset()

    @cached_property
    def using(self):
        return jobs_database()

    def get_queryset(self, request):
        return super().get_queryset(request).using(self.using)

    def lookup_allowed(self, lookup, value, request):
        return lookup in self.filter_lookups


class ReadOnlyJobsAdmin(JobsDatabaseAdmin):
    """
    A page that shows rows django_jobs writes itself (functions, log lines,
    workers): nobody adds, edits or deletes them here. FuncMap rows in
    particular must stay: workers and enqueuers cache function ids.
    """

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
