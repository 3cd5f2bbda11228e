"""
OpenTelemetry spans for enqueues and attempts (the ``otel`` extra:
``opentelemetry-api``; the site brings the SDK and its exporter).

* Each enqueue is a PRODUCER span ``send <queue>``, in the caller's current
  trace; the W3C trace context of that span (the global propagator's
  carrier: ``traceparent``, ``tracestate``) is stored with the job
  (``Job.trace_context``).
* Each attempt is a CONSUMER span ``process <queue>``, a child of its
  enqueue's span; a retry also links to the attempt before it. The job's own
  spans (its HTTP calls, its queries) are children of its attempt's span.
* Attributes after OpenTelemetry's messaging semantic conventions:
  ``messaging.system`` (``django_jobs``), ``messaging.destination.name`` (the
  queue), ``messaging.message.id`` (the job id), ``messaging.operation.type``;
  and ``django_jobs.task``, ``django_jobs.attempt``. A failed attempt records
  its exception on the span, whose status is ERROR.

Spans go through the global tracer provider, so whatever the site configures
receives them. Without ``opentelemetry-api`` nothing happens at all; with it
but no SDK configured, the API's no-op spans cost a few microseconds, and no
trace context is stored.
"""

from contextlib import contextmanager

try:
    from opentelemetry import propagate, trace
    from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags
except ImportError:  # the otel extra is not installed
    trace = None  # type: ignore[assignment]

SYSTEM = "django_jobs"

_tracer = None


def _get_tracer():
    """The global provider's tracer (a proxy until the site sets a provider, then the site's)."""
    global _tracer  # noqa: PLW0603  # once per process
    if _tracer is None:
        _tracer = trace.get_tracer("django_jobs")
    return _tracer


def _attributes(operation, queue_name, task_path):
    attributes = {
        "messaging.system": SYSTEM,
        "messaging.operation.type": operation,
        "messaging.operation.name": operation,
    }
    if queue_name is not None:
        attributes["messaging.destination.name"] = queue_name
    if task_path is not None:
        attributes["django_jobs.task"] = task_path
    return attributes


@contextmanager
def enqueue_span(queue_name, task_path):
    """
    A PRODUCER span around one enqueue, current in the block (yields it, or
    None without OpenTelemetry). A batch (``enqueue_many``, a workflow) is one
    span, started without a queue or task and named by ``batch_of``.
    """
    if trace is None:
        yield None
        return
    attributes = _attributes("send", queue_name, task_path)
    with _get_tracer().start_as_current_span(
        f"send {queue_name}" if queue_name is not None else "send", kind=SpanKind.PRODUCER, attributes=attributes
    ) as span:
        yield span


def batch_of(span, tasks):
    """
    The enqueue in ``span`` (a batch's) writes a job for each of ``tasks``: their count, and their queue and task
    when they share one.
    """
    if span is None or not span.is_recording():
        return
    span.set_attribute("messaging.batch.message_count", len(tasks))
    queues, paths = {task.queue_name for task in tasks}, {task.module_path for task in tasks}
    if len(queues) == 1:
        (queue_name,) = queues
        span.update_name(f"send {queue_name}")
        span.set_attribute("messaging.destination.name", queue_name)
    if len(paths) == 1:
        span.set_attribute("django_jobs.task", paths.pop())


def sent(span, job_id):
    """The enqueue in ``span`` wrote job ``job_id``."""
    if span is not None and span.is_recording():
        span.set_attribute("messaging.message.id", str(job_id))


def current_context():
    """
    The W3C trace context to store with a job built now: the current span's
    (an enqueue's, or an attempt's for the jobs it enqueues), or None when it
    is not recorded.
    """
    if trace is None or not trace.get_current_span().is_recording():
        return None
    carrier: dict = {}
    propagate.inject(carrier)
    return carrier or None


@contextmanager
def attempt_span(claimed):
    """
    A CONSUMER span around one attempt, current in the block, child of the
    span its job was enqueued in and linked to the attempt before it (a
    retry). Yields it, or None without OpenTelemetry.
    """
    if trace is None:
        yield None
        return
    stored = claimed.trace_context if isinstance(claimed.trace_context, dict) else {}
    parent = propagate.extract(stored) if stored else None
    links = []
    previous = stored.get("attempt")
    if isinstance(previous, dict):
        try:
            context = SpanContext(
                trace_id=int(previous["trace_id"], 16),
                span_id=int(previous["span_id"], 16),
                is_remote=True,
                trace_flags=TraceFlags(TraceFlags.SAMPLED),
            )
            links.append(Link(context, {"django_jobs.attempt": claimed.attempt - 1}))
        except (KeyError, TypeError, ValueError):
            pass  # edited by hand: no link
    attributes = {
        **_attributes("process", claimed.queue_name, claimed.func_path),
        "messaging.message.id": str(claimed.id),
        "django_jobs.attempt": claimed.attempt,
    }
    with _get_tracer().start_as_current_span(
        f"process {claimed.queue_name}",
        context=parent,
        kind=SpanKind.CONSUMER,
        links=links,
        attributes=attributes,
    ) as span:
        yield span


def attempt_ended(span, report):
    """
    Record how the attempt ended on its span; returns the trace context to
    store for its retry (the job's, and this attempt's to link to), or None.
    """
    if span is None or not span.is_recording():
        return None
    span.set_attribute("django_jobs.outcome", str(report.outcome))
    if report.error is None:
        return None
    if report.exception is not None:
        span.record_exception(report.exception)
    span.set_attribute("error.type", report.error.exception_class_path)
    span.set_status(Status(StatusCode.ERROR, f"{report.error.exception_class_path}: {report.error.message}"))
    if report.retry_in is None:
        return None
    context = span.get_span_context()
    stored = report.claimed.trace_context if isinstance(report.claimed.trace_context, dict) else {}
    return {**stored, "attempt": {"trace_id": f"{context.trace_id:032x}", "span_id": f"{context.span_id:016x}"}}
