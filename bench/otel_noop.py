"""
OpenTelemetry with a no-op exporter, for measuring what tracing costs
(bench/obs_overhead.py): the SDK records every span and hands it, in
batches, to an exporter that drops it. bench/project/settings.py imports
this when BENCH_OTEL=noop.
"""

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult


class DropSpans(SpanExporter):
    def export(self, spans):
        return SpanExportResult.SUCCESS


provider = TracerProvider()
provider.add_span_processor(BatchSpanProcessor(DropSpans()))
trace.set_tracer_provider(provider)
