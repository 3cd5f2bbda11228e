"""
Turning a Task call into an unsaved Job: the task's options checked, the
arguments bound, validated and made JSON, the backend's defaults applied.
Nothing is written here; the queue service inserts what this builds.
"""

from django.db import router
from django.db.models.base import ModelState
from django.db.models.functions import Now

from .. import limits, tracing
from ..arguments import as_json
from ..compat import TaskResult
from ..exceptions import InvalidJobArguments, InvalidJobType
from ..models import Job
from ..queue import func_id
from ..task import JobTask, resolve_task
from ..validation import bind_arguments, check_schema


def database_for(options):
    """The alias jobs of a backend live in: OPTIONS['DATABASE'], else the routers' choice."""
    return options.DATABASE or router.db_for_write(Job)


def check_registered(task):
    """The task must be reachable at its module path, so a worker can find it again."""
    registered = resolve_task(task.module_path)
    if registered.func is not task.func:
        raise InvalidJobType(
            f"{task.module_path!r} does not resolve to this task; "
            "tasks must be defined at module level under the name they are imported by."
        )


def job_ids(depends_on, databases=None):
    """
    The job ids of ``depends_on``: TaskResults (ours: ``result.id``) and job ids
    (int or str of digits), and the set of databases they name: with several
    ``databases`` (a backend's Databases), result ids are ``"alias:id"``.
    Anything else raises InvalidJobArguments.
    """
    if isinstance(depends_on, (str, bytes)) or not hasattr(depends_on, "__iter__"):
        raise InvalidJobArguments(f"depends_on must be a list of results or job ids, not {depends_on!r}.")
    ids, aliases = [], set()
    for item in depends_on:
        value = item.id if isinstance(item, TaskResult) else item
        if databases is not None and databases.several:
            if not isinstance(value, str) or ":" not in value:
                raise InvalidJobArguments(
                    f"depends_on takes results and 'database:id' ids on a backend with several databases, not "
                    f"{item!r}: a job id alone does not say which database holds it."
                )
            alias, value = databases.locate(value)
            aliases.add(alias)
        if isinstance(value, str) and value.isascii() and value.isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidJobArguments(f"depends_on takes results and job ids, not {item!r}.")
        ids.append(value)
    return ids, aliases


def key_of(task, option, args, kwargs):
    """The key ``task``'s ``option`` gives this call: the string itself, or its callable's result, checked."""
    given = getattr(task, option)
    key = given(*args, **kwargs) if callable(given) else given
    if not isinstance(key, str) or not key or len(key) > 255:
        raise InvalidJobArguments(
            f"{option} of {task.module_path} must give a non-empty string of at most 255 characters, not {key!r}."
        )
    return key


def build_job(backend, task, args, kwargs, *, func_ids=None, task_checked=False, using=None):
    """
    An unsaved Job for ``task`` called with ``args``/``kwargs`` on ``backend``,
    checked (registered function, valid task options, JSON arguments) but not
    written. ``task_checked``: the caller has validated the task and checked
    that it is registered (enqueue_many does so once per distinct task).
    ``using``: the database it will be written to, whose FuncMap id it takes;
    None leaves ``func_id`` unset until ``set_function`` (the database is not chosen yet).
    ``func_ids``: a dict to share FuncMap look-ups between the jobs of a batch.
    """
    if not task_checked:
        backend.validate_task(task)
        check_registered(task)
    arguments = bind_arguments(task, args, kwargs)
    options = backend.job_options
    job = Job(
        backend=backend.alias,
        queue_name=task.queue_name,
        args=as_json(list(args), "args", max_bytes=options.MAX_ARGUMENTS_BYTES),
        kwargs=as_json(dict(kwargs), "kwargs", max_bytes=options.MAX_ARGUMENTS_BYTES),
        priority=task.priority,
        trace_context=tracing.current_context(),  # the enqueue's span, or the attempt enqueuing it
    )
    max_attempts = options.MAX_ATTEMPTS
    max_work = options.MAX_WORK_DURATION
    keep_for = options.KEEP_FINISHED_FOR
    if isinstance(task, JobTask):
        max_attempts = task.max_attempts or max_attempts
        max_work = task.max_work_duration if task.max_work_duration is not None else max_work
        keep_for = task.keep_for if task.keep_for is not None else keep_for
        job.uniqkey, job.coalesce = task.uniqkey, task.coalesce
        if task.expires_at is not None:
            job.expires_at = limits.moment(task.expires_at, "expires_at")
        if task.expires_in is not None:
            job.expires_at = Now() + limits.duration(task.expires_in, "expires_in")
        if task.schema is not None:
            check_schema(task, task.schema, as_json(arguments, "arguments"))
        if task.concurrency_key is not None:
            job.concurrency_key = key_of(task, "concurrency_key", args, kwargs)
            job.concurrency_limit = task.concurrency_limit or 1
        if task.rate_limit is not None:
            job.rate_limit, job.rate_period = limits.rate(task.rate_limit)
            job.rate_key = (
                task.module_path if task.rate_limit_key is None else key_of(task, "rate_limit_key", args, kwargs)
            )
        if task.fairness_key is not None:
            job.fairness_key = key_of(task, "fairness_key", args, kwargs)
        if task.depends_on is not None:
            ids, aliases = job_ids(task.depends_on, getattr(backend, "placement", None))
            job.depends_on = ids  # type: ignore[attr-defined]  # read by queue.dependencies
            job.depends_on_databases = aliases  # type: ignore[attr-defined]  # read by DatabaseBackend's placing
        if not isinstance(task.run_on_failure, bool):
            raise InvalidJobArguments(f"run_on_failure must be True or False, not {task.run_on_failure!r}.")
        job.run_on_failure = task.run_on_failure
    job.max_attempts = job.attempts_left = limits.attempts(max_attempts)
    job.max_work_duration = limits.duration(max_work, "max_work_duration")
    job.keep_for = limits.duration(keep_for, "keep_for")
    if task.run_after is not None:
        job.run_after = limits.moment(task.run_after, "run_after")
    if using is not None:
        set_function(job, task.module_path, using, func_ids)
    return job


def build_jobs(backend, calls):
    """
    Unsaved, checked Jobs for ``(task, args, kwargs)`` calls of tasks already
    validated (``enqueue_many``). A task whose jobs differ only in their
    arguments (``alike_calls``) is built once; its other calls copy that Job
    and bind, check and convert their own arguments, without building a model
    instance field by field: most of a bulk enqueue's Python time went there.
    """
    max_bytes = backend.job_options.MAX_ARGUMENTS_BYTES
    first: dict = {}  # id(task) -> (the Job of its first call, its JSON attributes), when its calls are alike
    built = []
    for task, args, kwargs in calls:
        if (alike := first.get(id(task))) is None:
            job = build_job(backend, task, args, kwargs, task_checked=True)
            if alike_calls(task):
                first[id(task)] = (
                    job,
                    [name for name, value in job.__dict__.items() if isinstance(value, (dict, list))],
                )
        else:
            model, json_names = alike
            job = _alike(model, json_names, task, args, kwargs, max_bytes)
        built.append(job)
    return built


def alike_calls(task):
    """
    Whether the jobs of ``task``'s calls differ only in their arguments: no
    key computed from them (callable concurrency, rate or fairness keys), no
    uniqkey, no dependencies, no expiry computed at the write.
    """
    if not isinstance(task, JobTask):
        return True
    return (
        task.uniqkey is None
        and task.depends_on is None
        and task.expires_in is None
        and not any(callable(getattr(task, name)) for name in ("concurrency_key", "rate_limit_key", "fairness_key"))
    )


def _alike(model, json_names, task, args, kwargs, max_bytes):
    """
    A copy of ``model`` (unsaved) for ``task(*args, **kwargs)``: what build_job
    checks of arguments, checked. ``json_names``: its dict and list attributes, copied, not shared.
    """
    arguments = bind_arguments(task, args, kwargs)
    if isinstance(task, JobTask) and task.schema is not None:
        check_schema(task, task.schema, as_json(arguments, "arguments"))
    job = Job.__new__(Job)
    job.__dict__.update(model.__dict__)
    for name in json_names:
        job.__dict__[name] = model.__dict__[name].copy()
    job._state = ModelState()
    job.alike_of = model  # type: ignore[attr-defined]  # read by queue.rows: the model's column values, reused
    job.args = as_json(list(args), "args", max_bytes=max_bytes)
    job.kwargs = as_json(dict(kwargs), "kwargs", max_bytes=max_bytes)
    return job


def set_function(job, path, using, func_ids=None):
    """Give ``job`` the FuncMap id of ``path`` in database ``using`` (``func_ids``: shared over a batch)."""
    if func_ids is None:
        job.func_id = func_id(path, using)
    else:
        if (using, path) not in func_ids:
            func_ids[using, path] = func_id(path, using)
        job.func_id = func_ids[using, path]
