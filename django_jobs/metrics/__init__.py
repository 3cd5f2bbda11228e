"""
Prometheus metrics (docs/observability.md): ``collectors`` reads the queue's
figures from the database for the ``jobs/metrics`` view (``views``);
``worker`` counts one worker process's attempts for ``runworker --metrics-port``.

Only these modules import ``prometheus_client`` (the ``metrics`` extra).
"""
