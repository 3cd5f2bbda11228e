"""The ``jobs/metrics`` view: the queue's figures in the Prometheus text format."""

import hmac

from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.http import HttpResponse
from django.views import View

from ..compat import DEFAULT_TASK_BACKEND_ALIAS, task_backends


class MetricsView(View):
    """
    Serves ``QueueCollector`` (a fresh registry per request) to logged-in
    staff users, and to requests with ``Authorization: Bearer <token>`` where
    the token is the backend's ``OPTIONS["METRICS_TOKEN"]``. Anyone else gets 403.

    ``MetricsView.as_view(backend="other")`` serves another backend alias.
    """

    backend = DEFAULT_TASK_BACKEND_ALIAS
    http_method_names = ["get", "head"]

    def get(self, request):
        from ..backend import DatabaseBackend

        backend = task_backends[self.backend]
        if not isinstance(backend, DatabaseBackend):
            raise ImproperlyConfigured(f"Task backend {self.backend!r} is not django_jobs' DatabaseBackend.")
        if not self.allowed(request, backend.job_options.METRICS_TOKEN):
            raise PermissionDenied("Metrics are for staff users, or a bearer token equal to METRICS_TOKEN.")
        try:
            from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

            from .collectors import QueueCollector
        except ImportError as e:
            raise ImproperlyConfigured(
                "The jobs/metrics view needs prometheus_client: pip install 'django-jobs-db[metrics]'."
            ) from e
        registry = CollectorRegistry(auto_describe=True)
        registry.register(QueueCollector(backend.database, backend.queues))
        return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)

    @staticmethod
    def allowed(request, token):
        user = getattr(request, "user", None)
        if user is not None and user.is_active and user.is_staff:
            return True
        scheme, _, sent = request.headers.get("Authorization", "").partition(" ")
        if not token or scheme.lower() != "bearer" or not sent:
            return False
        return hmac.compare_digest(sent.strip().encode(), str(token).encode())
