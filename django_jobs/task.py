"""The Task class our backend hands to ``@task``, and the ``job`` decorator."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from functools import lru_cache
from typing import (
    TYPE_CHECKING,
    Any,
    Concatenate,
    Generic,
    Literal,
    TypeAlias,
    TypedDict,
    Union,
    Unpack,
    cast,
    overload,
)

from django.utils.module_loading import import_string

from .compat import DEFAULT_TASK_BACKEND_ALIAS, Task, task
from .exceptions import InvalidJobType
from .generic import GenericTask, GenericTaskContext, P, R

if TYPE_CHECKING:
    from .backend import DatabaseBackend
    from .db.base import ClaimedJob
    from .models import Job
    from .results import JobResult

#: ``backoff(exception, task_result) -> seconds | None`` (None: stop retrying).
Backoff: TypeAlias = Callable[[BaseException, Any], float | None]


class JobOptions(TypedDict, total=False):
    """
    Options a JobTask adds to Django's Task; each may be set on the decorator
    or per enqueue with ``.using(...)``. See JobTask for what each means.
    """

    max_attempts: int | None
    backoff: Backoff | None
    max_work_duration: float | timedelta | None
    uniqkey: str | None
    coalesce: str | None
    expires_at: datetime | None
    expires_in: float | timedelta | None
    keep_for: float | timedelta | None
    concurrency_key: str | Callable[..., str] | None
    concurrency_limit: int | None
    rate_limit: str | None
    rate_limit_key: str | Callable[..., str] | None
    fairness_key: str | Callable[..., str] | None
    schema: dict[str, Any] | None
    redact_args: bool
    #: Jobs (results or ids) that must finish first (docs/workflows.md).
    depends_on: Sequence[Any] | None
    #: Run once every dependency finished, whatever their outcome.
    run_on_failure: bool
    #: Run the function in the transaction that records its success (docs/atomic.md).
    #: Declared with the function: ``using()`` refuses to change it.
    atomic: bool


class EnqueueOptions(JobOptions, total=False):
    """The options of ``django_jobs.enqueue()``: ``Task.using()``'s and django_jobs' own."""

    priority: int | None
    queue_name: str | None
    run_after: datetime | None


#: Names of the options a JobTask adds to Django's Task (JobOptions' keys).
JOB_OPTIONS = tuple(JobOptions.__annotations__)

#: One job to enqueue: a task or its dotted path, alone or as ``(task_or_path, args)``
#: or ``(task_or_path, args, kwargs)``.
JobCall: TypeAlias = Union[
    str,
    "Task[..., Any]",
    "tuple[str | Task[..., Any]]",
    "tuple[str | Task[..., Any], Sequence[Any]]",
    "tuple[str | Task[..., Any], Sequence[Any], Mapping[str, Any] | None]",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class JobTask(GenericTask[P, R], Generic[P, R]):
    """
    The Task class of DatabaseBackend: what ``@task`` and ``@django_jobs.job``
    make when the backend is django_jobs'. Django's Task plus the options in
    ``JOB_OPTIONS``; ``None`` leaves an option to the backend's ``OPTIONS``.

    Typed like Django's ``Task[P, R]``: ``P`` the function's parameters (which
    ``enqueue()`` takes), ``R`` its return type (``result.return_value``).
    """

    #: Attempts before the job is failed for good (None: the backend's MAX_ATTEMPTS).
    max_attempts: int | None = None
    #: ``backoff(exception, task_result) -> seconds | None`` (None: stop retrying).
    backoff: Backoff | None = None
    #: Longest one attempt may hold its lease (seconds or timedelta).
    max_work_duration: float | timedelta | None = None
    #: At most one live job per function and uniqkey.
    uniqkey: str | None = None
    #: Jobs of one function with one coalesce value can be claimed together.
    coalesce: str | None = None
    #: A job not started by then never runs; it ends as expired.
    expires_at: datetime | None = None
    #: The same, relative to the enqueue (seconds or timedelta), by the database clock.
    expires_in: float | timedelta | None = None
    #: How long the finished job, its exit status, runs and logs are kept.
    keep_for: float | timedelta | None = None
    #: At most ``concurrency_limit`` jobs with this key run at once, across all
    #: workers: a string, or a callable of the job's arguments returning one.
    concurrency_key: str | Callable[..., str] | None = None
    concurrency_limit: int | None = None
    #: At most N jobs claimed in any second, minute or hour (``"N/s"``, ``"N/m"``, ``"N/h"``), across all
    #: workers, counted per ``rate_limit_key`` (a string, or a callable of the job's arguments
    #: returning one; None: the task's path).
    rate_limit: str | None = None
    rate_limit_key: str | Callable[..., str] | None = None
    #: Waiting jobs of different keys (a string, or a callable of the arguments returning one: a
    #: tenant) are claimed in turn within a queue and priority.
    fairness_key: str | Callable[..., str] | None = None
    #: A JSON Schema the arguments must satisfy at enqueue, as an object of
    #: parameter name -> value (needs the ``jsonschema`` package).
    schema: dict[str, Any] | None = None
    #: Keep the arguments (and return value) out of displays: the admin and the jobs command.
    redact_args: bool = False
    #: Jobs this one waits for: TaskResults or job ids. It runs once they all succeeded.
    depends_on: tuple | None = None
    #: With ``depends_on``: run once they all finished, whatever their outcome (a "finally" job).
    run_on_failure: bool = False
    #: Run the function inside the transaction that records its success: if it raises, or its
    #: worker dies, its writes to the jobs database roll back with the attempt (docs/atomic.md).
    atomic: bool = False

    def using(
        self,
        *,
        priority: int | None = None,
        queue_name: str | None = None,
        run_after: datetime | None = None,
        backend: str | None = None,
        **options: Unpack[JobOptions],
    ) -> JobTask[P, R]:
        """Like ``Task.using()``, also taking the options in ``JOB_OPTIONS``."""
        unknown = set(options) - set(JOB_OPTIONS)
        if "atomic" in options and options["atomic"] != self.atomic:
            # Workers run the function as registered: an atomic job run otherwise would lose what it promised.
            raise InvalidJobType(
                f"atomic is declared with the function (@django_jobs.job(atomic=True)), not changed per enqueue: "
                f"workers run {self.module_path} as declared, atomic={self.atomic}."
            )
        if unknown:
            raise TypeError(
                f"using() got unknown option(s) {sorted(unknown)}; django_jobs options are {list(JOB_OPTIONS)}."
            )
        # Task.using() copies the dataclass: a JobTask (django-stubs says Task).
        new = cast(
            "JobTask[P, R]",
            Task.using(self, priority=priority, queue_name=queue_name, run_after=run_after, backend=backend),
        )
        changes: dict[str, Any] = dict(options)
        if isinstance(changes.get("depends_on"), list):
            changes["depends_on"] = tuple(changes["depends_on"])  # a frozen dataclass stays hashable
        return replace(new, **changes) if changes else new

    if TYPE_CHECKING:
        # Our backend's results are JobResults (a TaskResult with ``created``).
        def enqueue(self, *args: P.args, **kwargs: P.kwargs) -> JobResult[P, R]: ...
        async def aenqueue(self, *args: P.args, **kwargs: P.kwargs) -> JobResult[P, R]: ...
        def get_result(self, result_id: str) -> JobResult[P, R]: ...
        async def aget_result(self, result_id: str) -> JobResult[P, R]: ...


# django-stubs declares TaskContext (like TaskResult) a plain dataclass; Django's is frozen.
@dataclass(frozen=True, slots=True, kw_only=True)
class JobContext(GenericTaskContext[Any, Any]):  # type: ignore[misc]
    """
    The context a ``takes_context=True`` job receives: Django's TaskContext
    (``task_result``, ``attempt``) plus the job's controls.
    """

    #: The job's id (``task_result.id`` as an int).
    job_id: int
    #: The worker running this attempt (``host:pid:random``).
    worker_id: str
    cancel_event: threading.Event = field(default_factory=threading.Event, repr=False)
    #: Set by the runner: claims coalesced siblings, ``(limit) -> [ClaimedJob]``.
    claim_siblings: Callable[[int], list[ClaimedJob]] | None = field(default=None, repr=False)
    #: Jobs built by replace_with(), inserted when this attempt succeeds.
    replacements: list[Job] = field(default_factory=list, repr=False)
    #: Siblings claimed through coalesced(); they share this attempt's outcome.
    siblings: list[ClaimedJob] = field(default_factory=list, repr=False)
    #: The return values of the jobs this one depends on, in the order of its ``depends_on``
    #: (None for one that did not succeed, when it runs on failure).
    dependency_results: list[Any] = field(default_factory=list)
    #: What the job says of itself while it runs, a JSON object: change it, then call
    #: ``save_metadata()``. Starts as the job last saved it (empty on its first attempt).
    metadata: dict[str, Any] = field(default_factory=dict)
    #: Set by the runner: stores the metadata, ``(metadata) -> stored``.
    metadata_saver: Callable[[dict[str, Any]], bool] | None = field(default=None, repr=False)

    @property
    def cancelled(self) -> bool:
        """True once someone asked this job to stop (``django_jobs.cancel``)."""
        return self.cancel_event.is_set()

    def raise_if_cancelled(self) -> None:
        """Raise JobCancelled if this job was cancelled: a convenient check inside loops."""
        if self.cancelled:
            from .exceptions import JobCancelled

            raise JobCancelled(f"Job {self.job_id} was cancelled.")

    def save_metadata(self) -> bool:
        """
        Store ``metadata`` now: ``result.metadata`` (after ``refresh()``), ``manage.py
        jobs show`` and the admin show it while the job runs, and it is kept after the
        job ends. One UPDATE of the job's row, cheap enough to call every second. With
        ``progress`` and ``total`` (numbers) the admin draws a progress bar.

        Raises TypeError, storing nothing, when ``metadata`` is not a JSON object.
        Returns False when this attempt no longer holds its job (cancelled or taken
        back): nothing is stored then.
        """
        from .arguments import as_json

        if not isinstance(self.metadata, dict):
            raise TypeError(f"context.metadata must be a dict (a JSON object), not {type(self.metadata).__name__}.")
        value = as_json(self.metadata, "context.metadata", error=TypeError)
        return self.metadata_saver(value) if self.metadata_saver is not None else False

    async def asave_metadata(self) -> bool:
        """``save_metadata()`` for an async job."""
        from asgiref.sync import sync_to_async

        return await sync_to_async(self.save_metadata)()

    def coalesced(self, limit: int = 100) -> list[ClaimedJob]:
        """
        Claim up to ``limit`` more waiting jobs of this function with this job's
        coalesce value, to handle them together in this one attempt (one
        e-mail for many notifications, one API call for many rows).
        Returns them (``.id``, ``.args``, ``.kwargs``); they end as this
        attempt ends: succeeded with its return value, or failed with its error.
        """
        if self.claim_siblings is None:
            return []
        claimed = self.claim_siblings(limit)
        self.siblings.extend(claimed)
        return claimed

    def replace_with(self, *calls: JobCall) -> None:
        """
        Finish this job by replacing it with new jobs: ``(task_or_path, args,
        kwargs)`` triples. They are checked now (a bad one raises here) and
        inserted in the same transaction that marks this job succeeded, when
        the function returns: all of them exist and this job is done, or
        nothing changed.
        """
        own = cast("DatabaseBackend", self.task_result.task.get_backend())
        for call in calls:
            task, args, kwargs = (*call, (), {})[:3] if isinstance(call, (tuple, list)) else (call, (), {})
            if isinstance(task, str):
                task = resolve_task(task)
            # The job is built (and checked) by the backend of the task it runs; JobContexts are ours.
            backend = cast("DatabaseBackend", task.get_backend())
            database = own.locate(self.task_result.id)[0]  # the database this job lives in
            if database not in getattr(backend, "databases", ()):
                raise InvalidJobType(
                    f"replace_with: {task.module_path} runs on backend {task.backend!r}, whose jobs live in another "
                    "database; replacements are inserted in the transaction that completes this job."
                )
            self.replacements.append(backend.build_job(task, args, kwargs or {}, using=database))


@overload
def job(
    function: Callable[Concatenate[JobContext, P], R],
    *,
    backend: str = DEFAULT_TASK_BACKEND_ALIAS,
    priority: int | None = None,
    queue_name: str | None = None,
    takes_context: Literal[True],
    **options: Unpack[JobOptions],
) -> JobTask[P, R]: ...
@overload
def job(
    function: Callable[P, R],
    *,
    backend: str = DEFAULT_TASK_BACKEND_ALIAS,
    priority: int | None = None,
    queue_name: str | None = None,
    takes_context: Literal[False] = False,
    **options: Unpack[JobOptions],
) -> JobTask[P, R]: ...
@overload
def job(
    *,
    backend: str = DEFAULT_TASK_BACKEND_ALIAS,
    priority: int | None = None,
    queue_name: str | None = None,
    takes_context: Literal[True],
    **options: Unpack[JobOptions],
) -> Callable[[Callable[Concatenate[JobContext, P], R]], JobTask[P, R]]: ...
@overload
def job(
    *,
    backend: str = DEFAULT_TASK_BACKEND_ALIAS,
    priority: int | None = None,
    queue_name: str | None = None,
    takes_context: Literal[False] = False,
    **options: Unpack[JobOptions],
) -> Callable[[Callable[P, R]], JobTask[P, R]]: ...
def job(
    function: Callable[..., Any] | None = None, *, backend: str = DEFAULT_TASK_BACKEND_ALIAS, **options: Any
) -> JobTask[Any, Any] | Callable[[Callable[..., Any]], JobTask[Any, Any]]:
    """
    ``@job`` / ``@job(max_attempts=5, backoff=..., queue_name=...)``: Django's
    ``@task``, also taking django_jobs' options (``JOB_OPTIONS``) besides
    Django's (priority, queue_name, takes_context, backend). Raises
    InvalidJobType when given django_jobs options while ``backend`` is not a
    DatabaseBackend.

    Typed like Django's ``@task`` (django-stubs): the JobTask keeps the
    function's parameters and return type; with ``takes_context=True`` the
    function's first parameter, the JobContext, is not one of them.
    """
    from .compat import task_backends

    ours = {f.name for f in fields(JobTask)} - {f.name for f in fields(Task)}
    if set(options) & ours and not issubclass(task_backends[backend].task_class, JobTask):
        raise InvalidJobType(
            f"Task backend {backend!r} is not a django_jobs DatabaseBackend; "
            f"it does not take options {sorted(set(options) & ours)}."
        )
    # The implementation passes everything on: the overloads above are what callers see.
    made: Any = task(function, backend=backend, **options)  # type: ignore[arg-type]
    return made


@lru_cache(maxsize=1024)
def resolve_task(path: str) -> Task[..., Any]:
    """
    The Task registered at ``path``. Only objects made by ``@task``/``@job``
    qualify: a stored path naming any other callable (``os.system``) is refused.
    """
    try:
        obj = import_string(path)
    except ImportError as e:
        raise InvalidJobType(f"Job function {path!r} cannot be imported: {e}") from e
    if not isinstance(obj, Task):
        raise InvalidJobType(f"{path!r} is not a task: decorate it with @task or @django_jobs.job.")
    return obj
