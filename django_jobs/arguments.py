"""Checking that what we store is JSON, and saying where it is not."""

import json
import math
import re
from collections.abc import Mapping, Sequence

from .compat import normalize_json
from .exceptions import ArgumentsNotJSON, InvalidJobArguments

#: Deeper nesting than this is refused (it would exhaust the stack while encoding).
MAX_DEPTH = 100


#: A JSON string literal, escapes included: what ``loads`` skips when counting brackets.
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def loads(text, what):
    """
    Parse JSON ``text``, refusing nesting deeper than MAX_DEPTH before the
    parser sees it (``json.loads`` recurses once per level: ten thousand
    ``[`` raise RecursionError). Raises InvalidJobArguments naming ``what``.
    """
    depth = 0
    for bracket in re.findall(r"[\[\]{}]", _STRING.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        if depth > MAX_DEPTH:
            raise InvalidJobArguments(f"{what} is nested more than {MAX_DEPTH} levels deep.")
    try:
        return json.loads(text)
    except ValueError as e:
        raise InvalidJobArguments(f"{what} is not valid JSON: {e}") from None


def as_json(value, what, *, max_bytes=None, error=ArgumentsNotJSON):
    """
    ``value`` normalized to JSON types (tuples and other sequences become
    lists, as Django's Tasks do). Raises ``error`` (ArgumentsNotJSON, a
    TypeError) naming the first offending element, or InvalidJobArguments if
    its encoding is longer than ``max_bytes``. The runner passes
    ``error=TypeError`` for a return value: the attempt then fails with the
    TypeError Django's Tasks record.
    """
    problem = _find_problem(value, what, 0)
    if problem:
        raise error(problem)
    try:
        normalized = normalize_json(value)
        encoded = json.dumps(normalized, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise error(f"{what} is not JSON serializable: {e}") from e
    if max_bytes is not None and len(encoded.encode()) > max_bytes:
        raise InvalidJobArguments(
            f"{what} take {len(encoded.encode())} bytes as JSON, "
            f"more than the limit of {max_bytes} (MAX_ARGUMENTS_BYTES)."
        )
    return normalized


def _find_problem(value, where, depth):
    if depth > MAX_DEPTH:
        return f"{where} is nested more than {MAX_DEPTH} levels deep."
    if isinstance(value, bytes):  # stored as text, as Django's Tasks do
        try:
            value = value.decode()
        except UnicodeDecodeError:
            return f"{where} is bytes that are not UTF-8 text, which JSON cannot hold."
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
    if isinstance(value, Sequence):
        for i, item in enumerate(value):
            if problem := _find_problem(item, f"{where}[{i}]", depth + 1):
                return problem
        return None
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str) or "\x00" in key:
                return f"{where} has a key {key!r} that is not a string without NUL characters."
            if problem := _find_problem(item, f"{where}[{key!r}]", depth + 1):
                return problem
        return None
    return f"{where} is a {type(value).__module__}.{type(value).__qualname__}, which is not JSON serializable."
