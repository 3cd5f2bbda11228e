"""
Test exporters for OpenTelemetry spans: in memory for the test process, and
appending JSON lines to a file for a worker subprocess (tests/settings.py
imports this module, which installs the file exporter, when
DJANGO_JOBS_TEST_SPANS names a file).
"""

import json
import os
import threading

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

_lock = threading.Lock()
_in_memory = None


def as_dict(span):
    """What the tests check of a span, as JSON-ready data."""
    return {
        "name": span.name,
        "kind": span.kind.name,
        "trace_id": f"{span.context.trace_id:032x}",
        "span_id": f"{span.context.span_id:016x}",
        "parent_id": f"{span.parent.span_id:016x}" if span.parent is not None else None,
        "links": [f"{link.context.span_id:016x}" for link in span.links],
        "attributes": dict(span.attributes),
        "status": span.status.status_code.name,
        "events": [event.name for event in span.events],
    }


class FileExporter(SpanExporter):
    """Appends each span to a file, one JSON object a line."""

    def __init__(self, path):
        self.path = path

    def export(self, spans):
        with _lock, open(self.path, "a") as out:
            for span in spans:
                out.write(json.dumps(as_dict(span)) + "\n")
        return SpanExportResult.SUCCESS


def in_memory():
    """The test process's exporter (installed as the global provider's, once)."""
    global _in_memory
    with _lock:
        if _in_memory is None:
            _in_memory = InMemorySpanExporter()
            provider = TracerProvider()
            provider.add_span_processor(SimpleSpanProcessor(_in_memory))
            trace.set_tracer_provider(provider)
    return _in_memory


def read(path):
    """The spans a FileExporter wrote to ``path``."""
    with open(path) as spans:
        return [json.loads(line) for line in spans]


if path := os.environ.get("DJANGO_JOBS_TEST_SPANS"):
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(FileExporter(path)))
    trace.set_tracer_provider(provider)
