"""Checking that what we store is JSON, and saying where it is not."""

import json
import math

from .compat import normalize_json
from .exceptions import InvalidJobArguments

#: Deeper nesting than this is refused (it would exhaust the stack while encoding).
MAX_DEPTH = 100


def as_json(value, what, *, max_bytes=None):
    """
    ``value`` normalized to JSON types (tuples become lists, as Django's Tasks
    do). Raises InvalidJobArguments naming the first offending element, or if
    its encoding is longer than ``max_bytes``.
    """
    problem = _find_problem(value, what, 0)
    if problem:
        raise InvalidJobArguments(problem)
    try:
        normalized = normalize_json(value)
        encoded = json.dumps(normalized, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise InvalidJobArguments(f"{what} is not JSON-serializable: {e}") from e
    if max_bytes is not None and len(encoded.encode()) > max_bytes:
        raise InvalidJobArguments(
            f"{what} take {len(encoded.encode())} bytes as JSON, "
            f"more than the limit of {max_bytes} (MAX_ARGUMENTS_BYTES)."
        )
    return normalized


def _find_problem(value, where, depth):
    if depth > MAX_DEPTH:
        return f"{where} is nested more than {MAX_DEPTH} levels deep."
    if isinstance(value, str):
        if "\x00" in value:
            return f"{where} contains a NUL character, which PostgreSQL cannot store in JSON."
        return None
    if value is None or isinstance(value, (bool, int)):
        return None
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return f"{where} is {value!r}, which JSON cannot represent."
        return None
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            if problem := _find_problem(item, f"{where}[{i}]", depth + 1):
                return problem
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or "\x00" in key:
                return f"{where} has a key {key!r} that is not a string without NUL characters."
            if problem := _find_problem(item, f"{where}[{key!r}]", depth + 1):
                return problem
        return None
    return f"{where} is a {type(value).__module__}.{type(value).__qualname__}, which is not JSON-serializable."
