"""
Workflows: chains and groups of task calls, enqueued as one graph of
dependencies (``depends_on``) in one transaction.

    from django_jobs import call, chain, group

    flow = chain(
        call(fetch, url),
        group(call(resize, 100), call(resize, 800)),  # both after fetch, in parallel
        call(publish),  # after both; context.dependency_results == [small, large]
    )
    workflow = flow.enqueue()
    workflow.results  # a TaskResult per call, in the order they were written
    workflow.cancel()  # every job of it not finished yet

A step is a ``call(...)``, a task (called with no arguments), a ``chain`` or
a ``group``; chains and groups nest. A chain runs its steps one after the
other: each step depends on every job the step before it ended with. A group
runs its steps side by side: each depends on what the group depends on, and
what follows the group depends on all of them (fan-out, then fan-in). A
job reads what its dependencies returned, in that order, from
``context.dependency_results`` (``takes_context=True``).

If one job fails for good, is cancelled or expires, the jobs after it are
cancelled, unless they were called with ``.using(run_on_failure=True)``.
"""

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.db import transaction

from .. import queue, tracing
from ..compat import Task, task_backends
from ..exceptions import InvalidJobType
from ..results import result_id
from ..task import resolve_task
from .building import build_job, check_registered, set_function

if TYPE_CHECKING:
    from . import DatabaseBackend

__all__ = ["Call", "Chain", "Group", "Workflow", "call", "chain", "group"]


@dataclass(frozen=True)
class Call:
    """One task called with these arguments: a job of a workflow."""

    task: Task
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)

    def enqueue(self, *, backend="default"):
        """Enqueue this call alone, as a workflow of one job."""
        return enqueue_workflow(self, backend=backend)


@dataclass(frozen=True)
class Chain:
    """Steps run one after the other."""

    steps: tuple

    def enqueue(self, *, backend="default"):
        """Enqueue every job of the chain in one transaction; returns a Workflow."""
        return enqueue_workflow(self, backend=backend)


@dataclass(frozen=True)
class Group:
    """Steps run side by side; what follows waits for all of them."""

    steps: tuple

    def enqueue(self, *, backend="default"):
        """Enqueue every job of the group in one transaction; returns a Workflow."""
        return enqueue_workflow(self, backend=backend)


def call(task_or_path, *args, **kwargs):
    """A call of ``task_or_path`` (a Task, or its dotted path) with these arguments, for a chain or group."""
    task = task_or_path if isinstance(task_or_path, Task) else resolve_task(task_or_path)
    return Call(task, args, kwargs)


def chain(*steps):
    """Run ``steps`` one after the other, each after every job the previous step ended with."""
    return Chain(tuple(_step(s) for s in steps))


def group(*steps):
    """Run ``steps`` side by side; a step after the group waits for all of them (and gets all their results)."""
    return Group(tuple(_step(s) for s in steps))


def _step(step):
    if isinstance(step, (Call, Chain, Group)):
        return step
    if isinstance(step, (Task, str)):
        return call(step)
    raise InvalidJobType(f"A workflow step is a call(), a task, a chain() or a group(), not {step!r}.")


@dataclass(frozen=True)
class Workflow:
    """What ``enqueue()`` of a chain or group returns."""

    #: The workflow's id: the id of its first job (``Job.workflow_id`` of each of its jobs); with
    #: several databases (OPTIONS['DATABASES']), ``"database:id"``, as its results' ids.
    id: int | str
    #: A TaskResult per call, in the order the calls were written.
    results: list
    backend: str = "default"

    def cancel(self):
        """Cancel every job of the workflow not finished yet, in one transaction. Returns how many."""
        using, workflow_id = _database_backend(self.backend).locate(self.id)
        return queue.cancel_workflow(workflow_id, using=using)


def _database_backend(alias) -> "DatabaseBackend":
    from . import DatabaseBackend

    instance = task_backends[alias]
    if not isinstance(instance, DatabaseBackend):
        raise InvalidJobType(f"Task backend {alias!r} is not a django_jobs DatabaseBackend.")
    return instance


class _Builder:
    """Builds a workflow's jobs; each distinct task is checked, and its function looked up, once."""

    def __init__(self, backend: "DatabaseBackend"):
        self.backend = backend
        self.built: list = []  # (task, unsaved job), in the order the calls were written
        self.checked: set[int] = set()

    def build(self, step, after):
        """Build the jobs of ``step``, each depending on the jobs ``after``; returns the jobs it ends with."""
        if isinstance(step, Call):
            return [self.call(step, after)]
        if isinstance(step, Chain):
            for inner in step.steps:
                after = self.build(inner, after)
            return after
        ends = []
        for inner in step.steps:
            ends += self.build(inner, after)
        return ends

    def call(self, step, after):
        task, backend = step.task, self.backend
        if id(task) not in self.checked:
            if task.get_backend() is not backend:
                raise InvalidJobType(
                    f"{task.module_path} uses backend {task.backend!r}; a workflow's jobs all use {backend.alias!r}."
                )
            backend.validate_task(task)
            check_registered(task)
            self.checked.add(id(task))
        job = build_job(backend, task, step.args, step.kwargs, task_checked=True)  # its FuncMap id once placed
        job.depends_on = [*after, *getattr(job, "depends_on", ())]  # read by queue.dependencies
        self.built.append((task, job))
        return job


def enqueue_workflow(flow, *, backend="default"):
    """
    Build and check every job of ``flow`` (a call, chain or group), then write
    them and their dependencies in one transaction: all of them exist, or
    none does. Returns a Workflow.
    """
    instance = _database_backend(backend)
    with tracing.enqueue_span(None, None) as span:
        builder = _Builder(instance)
        builder.build(_step(flow), [])
        built = builder.built
        if not built:
            raise InvalidJobType("A workflow needs at least one call.")
        tracing.batch_of(span, [task for task, _job in built])

        def insert(using):
            with transaction.atomic(using=using):
                func_ids: dict = {}
                for task, job in built:
                    set_function(job, task.module_path, using, func_ids)
                enqueued = queue.insert_many([job for _task, job in built], using=using)
                workflow_id = enqueued[0].job.pk
                queue.join_workflow([e.job.pk for e in enqueued if e.created], workflow_id, using=using)
            return using, enqueued, workflow_id

        using, enqueued, workflow_id = instance._write([job for _task, job in built], insert)
    tasks: dict = {}
    results = [instance._announce(task, e, tasks, using=using) for (task, _job), e in zip(built, enqueued, strict=True)]
    if instance.placement.several:
        workflow_id = result_id(results[0].task, workflow_id, using)  # "database:id", as its results' ids
    return Workflow(id=workflow_id, results=results, backend=backend)
