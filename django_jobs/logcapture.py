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
    _local.buffer = lines = []
    try:
        yield lines
    finally:
        _local.buffer = None
