"""
Capturing what a job logs during an attempt, to store as JobLog lines.

One handler on the root logger serves every thread; it keeps a record only
when the current thread is running an attempt (a thread-local buffer is set).
"""

import logging
import threading
from contextlib import contextmanager
from datetime import UTC, datetime

_local = threading.local()

#: A captured line: (when, level, logger name or "stdout"/"stderr", message).
LogLine = tuple[datetime, int, str, str]


class AttemptLogHandler(logging.Handler):
    def emit(self, record):
        buffer = getattr(_local, "buffer", None)
        if buffer is None or record.name.startswith("django_jobs."):
            return
        try:
            message = record.getMessage()
            if record.exc_info:
                message += "\n" + logging.Formatter().formatException(record.exc_info)
        except Exception as e:  # a record whose message cannot be formatted
            message = f"<unformattable log record {record.msg!r}: {e!r}>"
        buffer.append((datetime.fromtimestamp(record.created, UTC), record.levelno, record.name, message))


_handler = AttemptLogHandler(level=logging.DEBUG)
_install_lock = threading.Lock()


def install(level=logging.INFO):
    """
    Put the capturing handler on the root logger, and make sure records at
    ``level`` are created. If that means lowering the root logger's level,
    the handlers already there keep the old level, so what they print does
    not change.
    """
    with _install_lock:
        root = logging.getLogger()
        if _handler not in root.handlers:
            root.addHandler(_handler)
        if root.level > level:
            for handler in root.handlers:
                if handler is not _handler and handler.level == logging.NOTSET:
                    handler.setLevel(root.level)
            root.setLevel(level)


@contextmanager
def capture():
    """Within the block, this thread's log records go to the yielded list."""
    lines: list[LogLine] = []
    _local.buffer = lines
    _local.pending = {}
    try:
        yield lines
    finally:
        for name, rest in _local.pending.items():  # a last line printed without a newline
            lines.append((datetime.now(UTC), logging.INFO if name == "stdout" else logging.WARNING, name, rest))
        _local.buffer = None
        _local.pending = {}


class _ThreadStream:
    """
    Stands in for sys.stdout/sys.stderr: on a thread running an attempt, what
    is printed becomes log lines of that attempt; elsewhere it passes through.
    """

    def __init__(self, stream, level, name):
        self._stream, self._level, self._name = stream, level, name

    def write(self, text):
        buffer = getattr(_local, "buffer", None)
        if buffer is None:
            return self._stream.write(text)
        pending = getattr(_local, "pending", {})
        _local.pending = pending
        text = pending.pop(self._name, "") + text
        *lines, rest = text.split("\n")
        now = datetime.now(UTC)
        buffer.extend((now, self._level, self._name, line) for line in lines)
        if rest:
            pending[self._name] = rest
        return len(text)

    def flush(self):
        if getattr(_local, "buffer", None) is None:
            self._stream.flush()

    def __getattr__(self, name):
        return getattr(self._stream, name)


def capture_print():
    """Route what running jobs print into their log lines (idempotent)."""
    import sys

    with _install_lock:
        if not isinstance(sys.stdout, _ThreadStream):
            sys.stdout = _ThreadStream(sys.stdout, logging.INFO, "stdout")
        if not isinstance(sys.stderr, _ThreadStream):
            sys.stderr = _ThreadStream(sys.stderr, logging.WARNING, "stderr")
