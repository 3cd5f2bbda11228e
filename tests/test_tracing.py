"""OpenTelemetry: an enqueue's PRODUCER span and its attempts' CONSUMER spans, in one trace across processes."""

import subprocess
import sys

import pytest
from opentelemetry import trace

import django_jobs
from django_jobs import call, chain, group
from django_jobs.models import Job
from tests import otel_spans
from tests.conftest import ROOT, drain
from tests.testapp import jobs

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def traced(workers, tmp_path):
    """
    A job enqueued within a web request's span that fails three times (two
    retries), run by a runworker subprocess: (web spans, worker spans, job id).
    """
    exporter = otel_spans.in_memory()
    exporter.clear()
    with trace.get_tracer("tests").start_as_current_span("GET /checkout"):
        job_id = int(jobs.fails_with_backoff.enqueue(delay=0).id)
    path = tmp_path / "spans.jsonl"
    proc = workers.burst("--concurrency", "1", env={"DJANGO_JOBS_TEST_SPANS": str(path)})
    assert proc.returncode == 0, proc.stderr
    web = [otel_spans.as_dict(span) for span in exporter.get_finished_spans()]
    attempts = sorted(
        (s for s in otel_spans.read(path) if s["kind"] == "CONSUMER"),
        key=lambda s: s["attributes"]["django_jobs.attempt"],
    )
    return web, attempts, job_id


def named(spans, name):
    return next(s for s in spans if s["name"] == name)


def test_the_enqueue_is_a_producer_span_in_the_callers_trace(traced):
    web, _, _ = traced
    request, send = named(web, "GET /checkout"), named(web, "send default")
    assert (send["kind"], send["trace_id"], send["parent_id"]) == ("PRODUCER", request["trace_id"], request["span_id"])


def test_the_enqueue_span_names_the_message(traced):
    web, _, job_id = traced
    assert named(web, "send default")["attributes"] == {
        "messaging.system": "django_jobs",
        "messaging.operation.type": "send",
        "messaging.operation.name": "send",
        "messaging.destination.name": "default",
        "django_jobs.task": "tests.testapp.jobs.fails_with_backoff",
        "messaging.message.id": str(job_id),
    }


def test_each_attempt_is_a_consumer_span_child_of_the_enqueue(traced):
    web, attempts, _ = traced
    send = named(web, "send default")
    assert [(s["name"], s["trace_id"], s["parent_id"]) for s in attempts] == [
        ("process default", send["trace_id"], send["span_id"])
    ] * 3


def test_the_attempt_spans_name_the_message_and_attempt(traced):
    _, attempts, job_id = traced
    assert [
        (
            s["attributes"]["messaging.system"],
            s["attributes"]["messaging.message.id"],
            s["attributes"]["django_jobs.attempt"],
        )
        for s in attempts
    ] == [("django_jobs", str(job_id), n) for n in (1, 2, 3)]


def test_a_retry_links_to_the_attempt_before_it(traced):
    _, attempts, _ = traced
    assert [s["links"] for s in attempts] == [[], [attempts[0]["span_id"]], [attempts[1]["span_id"]]]


def test_a_failed_attempt_records_its_exception_and_error_status(traced):
    _, attempts, _ = traced
    assert [(s["status"], s["events"], s["attributes"]["error.type"]) for s in attempts] == [
        ("ERROR", ["exception"], "builtins.ValueError")
    ] * 3


def test_the_job_stores_the_enqueue_spans_w3c_context(traced):
    web, _, job_id = traced
    send = named(web, "send default")
    stored = Job.objects.get(pk=job_id).trace_context["traceparent"]
    assert stored.startswith(f"00-{send['trace_id']}-{send['span_id']}-")


def test_an_in_process_worker_traces_its_attempts_in_the_same_trace():
    exporter = otel_spans.in_memory()
    exporter.clear()
    with trace.get_tracer("tests").start_as_current_span("GET /sum") as request:
        jobs.add.enqueue(1, 2)
    drain()
    process = [s for s in exporter.get_finished_spans() if s.name == "process default"]
    assert [s.context.trace_id for s in process] == [request.get_span_context().trace_id]


def test_without_opentelemetry_installed_nothing_is_traced_or_stored():
    """A process where ``opentelemetry`` cannot be imported: the spans are None and no context is stored."""
    code = (
        "import sys; sys.modules['opentelemetry'] = None\n"
        "from django_jobs import tracing\n"
        "with tracing.enqueue_span('default', 'app.task') as span:\n"
        "    print(span, tracing.current_context())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout == "None None\n"


def spans_of(block):
    """The spans ``block()`` finishes in this process, inside a request's span: (request, spans)."""
    exporter = otel_spans.in_memory()
    exporter.clear()
    with trace.get_tracer("tests").start_as_current_span("GET /page") as request:
        block()
    return request, [s for s in exporter.get_finished_spans() if s.name != "GET /page"]


def test_enqueue_and_run_is_a_producer_span_then_its_attempt_in_the_callers_trace():
    request, spans = spans_of(lambda: django_jobs.enqueue_and_run(jobs.add, (1, 2)))
    assert [(s.name, s.kind.name, s.context.trace_id) for s in spans] == [
        ("send default", "PRODUCER", request.get_span_context().trace_id),
        ("process default", "CONSUMER", request.get_span_context().trace_id),
    ]


def test_a_workflow_is_one_producer_span_naming_its_jobs():
    request, spans = spans_of(lambda: chain(call(jobs.add, 1, 2), call(jobs.add, 3, 4)).enqueue())
    (send,) = spans
    assert (send.name, send.kind.name, send.parent.span_id, send.attributes["messaging.batch.message_count"]) == (
        "send default",
        "PRODUCER",
        request.get_span_context().span_id,
        2,
    )


def test_a_workflows_jobs_store_its_enqueue_span():
    _, spans = spans_of(lambda: group(call(jobs.add, 1, 2), call(jobs.add, 3, 4)).enqueue())
    (send,) = spans
    stored = {job.trace_context["traceparent"].split("-")[2] for job in Job.objects.all()}
    assert stored == {f"{send.context.span_id:016x}"}
