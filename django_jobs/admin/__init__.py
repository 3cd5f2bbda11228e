"""
The admin: where an operator finds what is stuck or failed, reads why, and
fixes it. Every change (cancel, retry, run now, delete, pause) goes through
``django_jobs.queue``; the admin edits no row itself.

One module per concept: ``jobs`` (the job list and a job's page), ``actions``
(cancel, retry, run now, delete), ``dashboard`` (the queues page and pausing),
``functions`` (the job functions page), ``logs`` (the log lines page),
``workers`` (the worker registry and stopping workers), ``schedules``
(recurring jobs: stored in the database, editable; and those of settings),
``filters``, ``paginator`` and ``display`` (formatting); ``base`` (what every
page shares: the jobs' database, only its own filters) and ``backends``
(which database and queues TASKS configures). This module registers the
pages with Django's admin site.
"""

from django.contrib import admin

from ..models import FuncMap, Job, JobLog, Schedule, Worker
from .functions import FuncMapAdmin
from .jobs import JobAdmin
from .logs import JobLogAdmin
from .schedules import ScheduleAdmin
from .workers import WorkerAdmin

__all__ = ["FuncMapAdmin", "JobAdmin", "JobLogAdmin", "ScheduleAdmin", "WorkerAdmin"]

admin.site.register(Job, JobAdmin)
admin.site.register(FuncMap, FuncMapAdmin)
admin.site.register(JobLog, JobLogAdmin)
admin.site.register(Worker, WorkerAdmin)
admin.site.register(Schedule, ScheduleAdmin)
