"""
``path("jobs/", include("django_jobs.urls"))`` serves ``jobs/metrics``
(docs/observability.md).
"""

from django.urls import path

from .metrics.views import MetricsView

app_name = "django_jobs"
urlpatterns = [path("metrics", MetricsView.as_view(), name="metrics")]
