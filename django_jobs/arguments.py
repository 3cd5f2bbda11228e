"""Checking that what we store is JSON, and saying where it is not."""

import json
import math

from django.utils.json import normalize_json

from .exceptions import InvalidJobArguments


def as_json(value, what):
    """
    ``value`` normalized to JSON types (tuples become lists, as Django's Tasks
    do). Raises InvalidJobArguments naming the first offending element.
    """
    problem = _find_problem(value, what)
    if problem:
        raise InvalidJobArguments(problem)
    try:
        normalized = normalize_json(value)
        json.dumps(normalized, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise InvalidJobArguments(f"{what} is not JSON-serializable: {e}") from e
    return normalized


def _find_problem(value, where):
    if value is None or isinstance(value, (bool, int, str)):
        return None
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return f"{where} is {value!r}, which JSON cannot represent."
        return None
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            if problem := _find_problem(item, f"{where}[{i}]"):
                return problem
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{where} has a non-string key {key!r}; JSON object keys are strings."
            if problem := _find_problem(item, f"{where}[{key!r}]"):
                return problem
        return None
    return f"{where} is a {type(value).__module__}.{type(value).__qualname__}, which is not JSON-serializable."
