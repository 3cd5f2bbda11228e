"""Checking a job's arguments at enqueue: against the function's signature, and an optional JSON Schema."""

import inspect
from functools import lru_cache

from django.core.exceptions import ImproperlyConfigured

from .exceptions import InvalidJobArguments


@lru_cache(maxsize=1024)
def _signature(func):
    return inspect.signature(func)


def bind_arguments(task, args, kwargs):
    """
    The arguments as {parameter: value}, or InvalidJobArguments if a call
    with them would fail (wrong count, unknown keyword).
    """
    call_args = (None, *args) if task.takes_context else tuple(args)
    try:
        bound = _signature(task.func).bind(*call_args, **kwargs)
    except TypeError as e:
        raise InvalidJobArguments(f"Arguments do not fit {task.module_path}{_signature(task.func)}: {e}.") from None
    arguments = dict(bound.arguments)
    if task.takes_context:
        arguments.pop(next(iter(arguments)), None)
    return arguments


def check_schema(task, schema, arguments):
    """Validate ``arguments`` against ``schema``; the error names the offending field."""
    try:
        import jsonschema
    except ImportError:
        raise ImproperlyConfigured(
            f"{task.module_path} declares a schema: install jsonschema (pip install 'django-jobs-db[schema]')."
        ) from None
    validator_class = jsonschema.validators.validator_for(schema)
    error = jsonschema.exceptions.best_match(validator_class(schema).iter_errors(arguments))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(the arguments)"
        raise InvalidJobArguments(f"Arguments of {task.module_path} fail its schema at {where}: {error.message}")


def check_schema_is_valid(task):
    """Called when the task is declared: a broken schema is a programming error."""
    if task.schema is None:
        return
    try:
        import jsonschema
    except ImportError:
        return  # reported at enqueue
    try:
        jsonschema.validators.validator_for(task.schema).check_schema(task.schema)
    except jsonschema.exceptions.SchemaError as e:
        raise ImproperlyConfigured(f"The schema of {task.module_path} is invalid: {e.message}") from None
